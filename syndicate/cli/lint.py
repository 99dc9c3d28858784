"""``syndicate lint``: what is wrong with each posting file, for its author."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from syndicate.cli import context
from syndicate.clock import system_clock
from syndicate.postings.files import read_folder
from syndicate.postings.lint import counts, lint


@click.command("lint")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
def lint_command(folder: Path | None, fmt: str, strict: bool) -> None:
    """Check every posting file in FOLDER (default: the postings folder).

    Errors keep a posting out of every output; warnings name what job
    aggregators will complain about. Exits 1 on errors (and on warnings with
    --strict).
    """
    settings = context.settings()  # lint reads FOLDER and nothing else: no database, no served folder
    root = folder or settings.postings_dir
    if not root.is_dir():
        raise click.BadParameter(f"{root} is not a folder", param_hint="FOLDER")
    try:
        os.scandir(root).close()  # a folder lint cannot read must not pass as an empty one
    except OSError as exc:
        raise click.BadParameter(f"{root} cannot be read: {exc.strerror}", param_hint="FOLDER") from None
    results = read_folder(root, settings.tzinfo, settings.max_posting_bytes, settings.limits)
    problems = lint(results, system_clock())
    errors, warnings = counts(problems)
    if fmt == "json":
        click.echo(json.dumps([p.as_dict() for p in problems], indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            click.echo(str(problem))
        left_out = len({p.file for p in problems if p.level == "error"})
        click.echo(
            f"{len(results)} file(s), {left_out} left out, {errors} error(s), {warnings} warning(s)",
            err=True,
        )
    if errors or (strict and warnings):
        sys.exit(1)
