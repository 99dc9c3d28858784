"""``syndicate lint``: what is wrong with each posting file, for its author.

It reads the files and folders it is given and nothing else: no database, unless a broken file of
the served folder may still be served as its last good version (then the parse cache is asked, read
only). It imports only the reading side: no SQLAlchemy, Flask, feeds or push code for a clean folder.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from syndicate.cli import context

if TYPE_CHECKING:
    from syndicate.postings.reader import Problem, ReadResult
    from syndicate.settings import Settings

STALE = "stale"
_ORDER = {"error": 0, STALE: 1}  # then the warnings


def _checked(paths: tuple[Path, ...]) -> None:
    for path in paths:
        if path.is_dir():
            try:
                os.scandir(path).close()  # a folder lint cannot read must not pass as an empty one
            except OSError as exc:
                raise click.BadParameter(f"{path} cannot be read: {exc.strerror}", param_hint="PATH") from None
        elif not path.exists():
            raise click.BadParameter(f"{path} is not a file or a folder", param_hint="PATH")


def _stale(settings: Settings, found: Mapping[str, tuple[Path, ReadResult]]) -> list[Problem]:
    """A mark on each broken file of the served folder whose last good version the server still serves."""
    try:
        served = settings.postings_dir.resolve()
    except OSError:
        return []
    below: dict[str, str] = {}  # the name in the served folder -> the name lint shows
    for name, (path, result) in found.items():
        if result.posting is None and result.errors:
            try:
                below[path.resolve().relative_to(served).as_posix()] = name
            except (OSError, ValueError):
                continue  # not in the served folder: nothing is served from it
    if not below:
        return []
    from syndicate.postings.reader import Problem
    from syndicate.postings.served import stale_versions  # only now: it may read the database

    kept = stale_versions(settings, settings.postings_dir, {source: found[name][1] for source, name in below.items()})
    return [
        Problem(
            below[source],
            posting.id,
            STALE,
            "file",
            f"the server still serves this posting's last good version ({posting.title!r}) everywhere "
            "until the file is fixed, deleted or closed",
        )
        for source, posting in sorted(kept.items())
    ]


@click.command("lint", short_help="Check posting files and folders.")
@click.argument("paths", nargs=-1, metavar="[PATH]...", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
def lint_command(paths: tuple[Path, ...], fmt: str, strict: bool) -> None:
    """Check each posting file given, and every posting file in each folder given (default: the
    postings folder).

    Errors keep a posting out of every output; warnings name what job aggregators will complain about.
    A broken file whose last good version the server still serves is marked stale. Exits 1 on errors
    (and on warnings with --strict).
    """
    from syndicate.clock import system_clock
    from syndicate.postings.files import read_paths
    from syndicate.postings.lint import counts, lint

    settings = context.settings()
    paths = paths or (settings.postings_dir,)
    _checked(paths)
    found = read_paths(paths, settings.tzinfo, settings.max_posting_bytes, settings.limits)
    problems = lint({name: result for name, (_path, result) in found.items()}, system_clock())
    errors, warnings = counts(problems)
    stale = _stale(settings, found) if errors else []
    problems = sorted([*problems, *stale], key=lambda p: (p.file, _ORDER.get(p.level, 2)))
    if fmt == "json":
        click.echo(json.dumps([p.as_dict() for p in problems], indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            click.echo(str(problem))
        left_out = len({p.file for p in problems if p.level == "error"})
        served = f" ({len(stale)} still served as their last good version)" if stale else ""
        click.echo(
            f"{len(found)} file(s), {left_out} left out{served}, {errors} error(s), {warnings} warning(s)",
            err=True,
        )
    if errors or (strict and warnings):
        sys.exit(1)
