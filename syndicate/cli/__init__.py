"""The operator's commands: ``syndicate ...`` (the console script) or ``flask --app app syndicate ...``.

The group names its commands and imports a command's module only when that command runs (or when
``--help`` lists them all), so that ``syndicate lint`` starts without the database, push or web
layers. Each command builds only what it uses (``syndicate.cli.context``).
"""

from __future__ import annotations

import importlib

import click

# name -> ("module:attribute", the one line ``syndicate --help`` shows), in the order it lists them.
# The line is kept here so that listing the commands imports none of them (a test checks that each
# is the command's own short help).
COMMANDS = {
    "lint": ("syndicate.cli.lint:lint_command", "Check posting files and folders."),
    "new": ("syndicate.cli.author:new_command", "Write a new posting file."),
    "preview": ("syndicate.cli.author:preview_command", "Show a posting as it will be published."),
    "migrate": ("syndicate.cli.ops:migrate_command", "Bring the database schema to this version."),
    "worker": ("syndicate.cli.ops:worker_command", "Run the worker (until SIGTERM)."),
    "push": ("syndicate.cli.ops:push_command", "One scan and delivery cycle."),
    "deliveries": ("syndicate.cli.ops:deliveries_command", "The delivery log, newest first."),
    "redeliver": ("syndicate.cli.ops:redeliver_command", "Queue a delivery again."),
    "boards": ("syndicate.cli.boards:boards_group", "The boards and their health; enable, ping."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name, when one runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *sorted(set(super().list_commands(ctx)) - set(COMMANDS))]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), cmd_name
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from ``COMMANDS``: ``--help`` imports no command."""
        rows = [(name, line) for name, (_target, line) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group("syndicate", cls=LazyGroup)
def cli() -> None:
    """syndicate: job postings served as feeds, pages and webhooks."""


def main() -> None:
    """The console script ``syndicate``."""
    from syndicate.logs import configure_logging

    configure_logging()
    cli(prog_name="syndicate")
