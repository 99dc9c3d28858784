"""The operator's commands: ``syndicate ...`` (the console script) or ``flask --app app syndicate ...``.

The group names its commands and imports a command's module only when that command runs (or when
``--help`` lists them all), so that ``syndicate lint`` starts without the database, push or web
layers. Each command builds only what it uses (``syndicate.cli.context``).
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of each command, in the order ``--help`` lists them
COMMANDS = {
    "lint": "syndicate.cli.lint:lint_command",
    "new": "syndicate.cli.author:new_command",
    "preview": "syndicate.cli.author:preview_command",
    "migrate": "syndicate.cli.ops:migrate_command",
    "worker": "syndicate.cli.ops:worker_command",
    "push": "syndicate.cli.ops:push_command",
    "deliveries": "syndicate.cli.ops:deliveries_command",
    "redeliver": "syndicate.cli.ops:redeliver_command",
    "boards": "syndicate.cli.boards:boards_group",
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name, when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *sorted(set(super().list_commands(ctx)) - set(COMMANDS))]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), target
        return command


@click.group("syndicate", cls=LazyGroup)
def cli() -> None:
    """syndicate: job postings served as feeds, pages and webhooks."""


def main() -> None:
    """The console script ``syndicate``."""
    from syndicate.logs import configure_logging

    configure_logging()
    cli(prog_name="syndicate")
