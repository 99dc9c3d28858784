"""``syndicate new`` and ``syndicate preview``: writing a posting, and seeing it before it is published."""

from __future__ import annotations

import click


@click.command("new")
def new_command() -> None:
    """Write a new posting file (not built yet)."""
    raise click.ClickException("not built yet")


@click.command("preview")
def preview_command() -> None:
    """Show a posting as it will appear (not built yet)."""
    raise click.ClickException("not built yet")
