"""``flask --app app syndicate ...``: the operator's commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app

from .files import read_folder
from .lint import counts, lint
from .loader import utcnow


@click.group("syndicate")
def cli() -> None:
    """syndicate: job postings served as feeds, pages and webhooks."""


@cli.command("lint")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
def lint_command(folder: Path | None, fmt: str, strict: bool) -> None:
    """Check every posting file in FOLDER (default: the postings folder).

    Errors keep a posting out of every output; warnings name what job
    aggregators will complain about. Exits 1 on errors (and on warnings with
    --strict).
    """
    settings = current_app.extensions["syndicate"].settings
    root = folder or settings.postings_dir
    if not root.is_dir():
        raise click.BadParameter(f"{root} is not a folder", param_hint="FOLDER")
    results = read_folder(root, settings.tzinfo, settings.max_posting_bytes)
    problems = lint(results, utcnow())
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
