"""``syndicate new`` and ``syndicate preview``: writing a posting, and seeing it before it is published.

Neither writes to the database: ``new`` writes one file, ``preview`` reads one and renders it with the
web's own functions (``syndicate.outputs.preview``); only for a broken file of the served folder does
``preview`` read the parse cache, as lint does, to say whether its last good version is still served.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from syndicate.cli import context

if TYPE_CHECKING:
    from syndicate.model import Posting
    from syndicate.outputs.preview import Note
    from syndicate.outputs.rendered import Rendered
    from syndicate.postings.reader import ReadResult
    from syndicate.settings import Settings

T = TypeVar("T")
MAX_ID = 200
VALID_DAYS = 30  # valid_through when none is given: Google for Jobs wants one, and a month is usual
LOCAL_BASE = "http://127.0.0.1:5000"  # the README's address of a local run, when no base URL is set
REMOTE_CHOICES = ("no", "allowed", "only")
_SALARY = re.compile(
    r"\s*(?P<low>\d[\d,_]*(?:\.\d+)?)\s*(?:[-–]\s*(?P<high>\d[\d,_]*(?:\.\d+)?))?\s*"
    r"(?P<currency>[A-Za-z]{3})\s*(?:/|\bper\b)\s*(?P<per>[A-Za-z]+)\s*\Z"
)
SALARY_HELP = "MIN-MAX CURRENCY/PER or VALUE CURRENCY/PER, e.g. '70000-90000 EUR/YEAR' or '42 USD/HOUR'"
BODY = """\
## About the role

What the job is and why it matters, in a few sentences.

## What you will do

- The first responsibility.

## What we are looking for

- The first requirement.

## How to apply

Where to apply and what to send.
"""
# keys the author may add, written commented so that the file shows every field the outputs use
OPTIONAL_LINES = {
    "applicant_locations": "# applicant_locations: [DE, AT]   # where a remote worker may live",
    "location": "# location: {city: Berlin, region: BE, country: DE}",
    "salary": "# salary: {min: 70000, max: 90000, currency: EUR, per: YEAR}   # or {value: 42, ..., per: HOUR}",
    "apply_url": "# apply_url: https://example.com/jobs/apply   # where to apply (absolute URL)",
    "direct_apply": "# direct_apply: false   # true: applicants apply at apply_url without signing up elsewhere",
    "tags": "# tags: [python, data]",
    "department": "# department: Engineering",
    "experience": "# experience: 3+ years building web services",
    "education": "# education: a degree in computer science, or equivalent experience",
}


def slug(text: str) -> str:
    """``text`` as a posting id: ASCII letters and digits in lower case, joined by ``-``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(words) > MAX_ID:
        words = words[: MAX_ID + 1].rsplit("-", 1)[0]
    return words


def _number(text: str) -> int | float:
    """'70,000' as 70000 (exactly: a whole amount never goes through a float), '19.5' as 19.5."""
    digits = text.replace(",", "").replace("_", "")
    if "." not in digits:
        return int(digits)
    value = float(digits)
    return int(value) if value.is_integer() else value


def parse_salary(text: str) -> dict[str, Any] | None:
    """``'70000-90000 EUR/YEAR'`` as a salary mapping; blank: none."""
    if not text.strip():
        return None
    found = _SALARY.match(text)
    if found is None:
        raise click.BadParameter(f"{text!r} is not {SALARY_HELP}", param_hint="--salary")
    amounts = {"value": _number(found["low"])}
    if found["high"]:
        amounts = {"min": _number(found["low"]), "max": _number(found["high"])}
    return {**amounts, "currency": found["currency"].upper(), "per": found["per"].upper()}


def parse_location(text: str) -> dict[str, str]:
    """``'Berlin, BE, DE'`` (city, region, country) or ``'Berlin, DE'`` as an address."""
    parts = [p.strip() for p in text.split(",")]
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise click.BadParameter(
            f"{text!r}: give 'City, Country' or 'City, Region, Country' (e.g. 'Berlin, BE, DE'), "
            "so that Google for Jobs gets a structured address",
            param_hint="--location",
        )
    city, *region, country = parts
    return {"city": city, **({"region": region[0]} if region else {}), "country": country}


def _countries(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _employment_type(text: str) -> str:
    from syndicate.model import EMPLOYMENT_TYPES

    canonical = re.sub(r"[\s-]+", "_", text.strip()).upper()
    return canonical if canonical in EMPLOYMENT_TYPES else text.strip()


def front_matter_text(data: dict[str, Any], commented: list[str]) -> str:
    """The front matter block: ``data`` through YAML's own emitter (so any text is quoted as it must
    be), then the commented lines."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # the reader refuses aliases
            return True

    dumped = yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100_000)
    return "---\n" + dumped + "".join(f"{line}\n" for line in commented) + "---\n"


def _ask(value: str | None, prompt: str, convert: Callable[[str], T], **kwargs: Any) -> T:
    """The option's value, else the answer to ``prompt``, through ``convert`` (asked again until it
    reads)."""
    if value is not None:
        return convert(value)
    return click.prompt(prompt, value_proc=convert, **kwargs)


def _text(value: str) -> str:
    return value


@click.command("new", short_help="Write a new posting file.")
@click.option("--title", help="The job title.")
@click.option("--company", help="The hiring organization.")
@click.option("--location", help="'City, Region, Country' or 'City, Country', e.g. 'Berlin, BE, DE'.")
@click.option("--remote", type=click.Choice(REMOTE_CHOICES), help="Remote work: no (default), allowed or only.")
@click.option("--applicant-locations", help="For a fully remote job: countries or regions, e.g. 'DE, AT, US-CA'.")
@click.option("--type", "employment_type", help="FULL_TIME, PART_TIME, CONTRACTOR, TEMPORARY, INTERN, ...")
@click.option("--salary", help=f"{SALARY_HELP}; '' for none.")
@click.option(
    "--valid-through",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help=f"The last day the job is open (default: {VALID_DAYS} days from today).",
)
@click.option("--status", type=click.Choice(["draft", "open"]), default="draft", show_default=True)
@click.option("--id", "posting_id", help="The posting id and file name (default: from company and title).")
@click.option(
    "--folder",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Where to write the file (default: the postings folder).",
)
def new_command(
    title: str | None,
    company: str | None,
    location: str | None,
    remote: str | None,
    applicant_locations: str | None,
    employment_type: str | None,
    salary: str | None,
    valid_through: Any,
    status: str,
    posting_id: str | None,
    folder: Path | None,
) -> None:
    """Write a new posting file into the postings folder (or --folder), asking for each of title,
    company, location or remote, employment type and salary that no option gives.

    The file is named after the company and title, has date_posted today and
    valid_through in 30 days (unless given), and lists every other field as a
    commented line. It is a draft unless --status open: preview it with
    'syndicate preview FILE'. An existing file is never overwritten.
    """
    from syndicate.clock import system_clock

    settings = context.settings()
    folder = folder or settings.postings_dir
    if not folder.is_dir():
        raise click.BadParameter(f"{folder} is not a folder", param_hint="--folder")
    title = _ask(title, "Title", _text)
    company = _ask(company, "Company", _text)
    if remote is None and location is not None:
        remote = "no"
    elif remote is None:
        remote = click.prompt("Remote work", type=click.Choice(REMOTE_CHOICES), default="no")
    address = None
    if remote != "only" or location is not None:
        address = _ask(location, "Location (City, Region, Country)", parse_location)
    countries = _countries(applicant_locations or "")
    if remote == "only" and not countries:
        countries = _ask(None, "Applicants may live in (countries or regions, e.g. DE, AT)", _countries)
    kind = _ask(employment_type, "Employment type", _employment_type, default="FULL_TIME")
    pay = _ask(salary, f"Salary ({SALARY_HELP}; blank for none)", parse_salary, default="", show_default=False)

    today = system_clock().astimezone(settings.tzinfo).date()
    closing: date = valid_through.date() if valid_through else today + timedelta(days=VALID_DAYS)
    posting_id = posting_id or slug(f"{company} {title}")
    if not posting_id:
        raise click.UsageError("company and title make no usable file name: give --id")

    data: dict[str, Any] = {"id": posting_id, "title": title, "company": company}
    if address:
        data["location"] = address
    if remote != "no":
        data["remote"] = remote if remote == "only" else True
    if countries:
        data["applicant_locations"] = countries
    data["employment_type"] = kind
    if pay:
        data["salary"] = pay
    data |= {"date_posted": today, "valid_through": closing, "status": status}
    commented = [line for key, line in OPTIONAL_LINES.items() if key not in data]
    text = front_matter_text(data, commented) + "\n" + BODY

    result = _read(text.encode(), f"{posting_id}.md", settings)
    _echo_problems(result.problems)
    if result.posting is None:
        raise click.ClickException("not written: the posting would not be valid (see above)")
    path = folder / f"{posting_id}.md"
    if not path.exists():  # an existing file of that name is refused below, in its own words
        _refuse_used_id(folder, posting_id, settings)
    try:
        with path.open("x", encoding="utf-8", newline="\n") as f:
            f.write(text)
    except FileExistsError:
        raise click.ClickException(f"{path} already exists; not overwritten (give another --id)") from None
    from dataclasses import replace

    from syndicate.model import Status
    from syndicate.postings.lint import posting_warnings

    # what Google for Jobs will say once it is open (lint says nothing of a draft's advice)
    _echo_problems(posting_warnings(replace(result.posting, status=Status.OPEN), system_clock()))
    if not valid_through:
        click.echo(
            f"valid_through: {closing} ({VALID_DAYS} days from today); change it in the file if need be", err=True
        )
    click.echo(f"wrote {path} (status: {status}); see it with: syndicate preview {path}", err=True)
    click.echo(str(path))


def _refuse_used_id(folder: Path, posting_id: str, settings: Settings) -> None:
    """Refuse an id another file of ``folder`` already gives: of two files with one id, the service serves
    one and leaves the other out, so the new draft (or the live file) would vanish."""
    from syndicate.postings.files import read_folder

    found = read_folder(folder, settings.tzinfo, settings.max_posting_bytes, settings.limits)
    users = sorted(source for source, result in found.items() if result.posting and result.posting.id == posting_id)
    if users:
        raise click.ClickException(
            f"id {posting_id!r} is already used by {folder / users[0]}; not written (give another --id)"
        )


def _read(raw: bytes, source: str, settings: Settings) -> ReadResult:
    from syndicate.postings.reader import read_posting

    return read_posting(raw, source, settings.tzinfo, settings.limits)


def _echo_problems(problems: Any) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


# --- preview ------------------------------------------------------------------------------------


def _read_file(path: Path, settings: Settings) -> ReadResult:
    from syndicate.postings.files import read_bytes
    from syndicate.postings.reader import rejected_file

    raw = read_bytes(Path.cwd(), str(path), settings.max_posting_bytes)
    if raw is None:
        return rejected_file(str(path), "file", "the file is gone")
    return raw if not isinstance(raw, bytes) else _read(raw, str(path), settings)


def _stale(path: Path, result: ReadResult, settings: Settings) -> Posting | None:
    """The last good version the server still serves of a broken file in the served folder, as lint's
    *stale* mark says; ``None`` for a good file, or a file elsewhere."""
    if result.posting is not None or not result.errors:
        return None
    try:
        source = path.resolve().relative_to(settings.postings_dir.resolve()).as_posix()
    except (OSError, ValueError):
        return None  # not in the served folder: nothing is served from it
    from syndicate.postings.served import stale_versions  # only now: it may read the database

    return stale_versions(settings, settings.postings_dir, {source: result}).get(source)


def preview_of(path: Path, settings: Settings, base: str) -> tuple[Rendered | None, list[Note], str | None]:
    """(the page, or None for a file that cannot be served; the notes per destination; the id)."""
    from syndicate.clock import system_clock
    from syndicate.outputs import preview
    from syndicate.outputs.render import Site
    from syndicate.outputs.urls import Links
    from syndicate.push.boards import BoardsError, load_boards

    result = _read_file(path, settings)
    now = system_clock()
    links = Links.from_base(base)
    notes: list[Note] = []
    try:
        boards = load_boards(settings.boards_path)
    except BoardsError as exc:
        boards = None
        notes.append(preview.Note("boards", f"not known: {exc}"))
    notes = preview.notes(result, now, links, boards, _stale(path, result, settings)) + notes
    if result.posting is None:
        return None, notes, None
    return preview.page(result.posting, now, links, Site.from_settings(settings)), notes, result.posting.id


@click.command("preview", short_help="Show a posting as it will be published.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the page here.")
@click.option("--serve", is_flag=True, help="Serve the page on 127.0.0.1, read again on every request.")
@click.option("--port", type=click.IntRange(0, 65535), default=5001, show_default=True, help="With --serve.")
def preview_command(file: Path, output: Path | None, serve: bool, port: int) -> None:
    """Render FILE's job page with its JSON-LD exactly as the web will (a draft too) to standard
    output or --output, and say on standard error what the page (Google for Jobs), the feeds, the
    Indeed feed and the boards will make of it.

    Links use SYNDICATE_BASE_URL (else http://127.0.0.1:5000); with --serve,
    the address served. Nothing is stored (a broken file of the postings folder
    is looked up, read only, in the database: its last good version may still be
    served). Exits 1 when the file cannot be served.
    """
    settings = context.settings()
    if serve:
        from syndicate.cli.previewserver import serve_preview

        # the address served, even with SYNDICATE_BASE_URL set: the page's CSS and logos come from this
        # preview (the production site may not have the edited logo yet), its links stay on it
        serve_preview(file, port, lambda base: preview_of(file, settings, base))
        return
    rendered, notes, _ = preview_of(file, settings, settings.base_url or LOCAL_BASE)
    for note in notes:
        click.echo(str(note), err=True)
    if rendered is None:
        sys.exit(1)
    if output is not None:
        output.write_bytes(rendered.body)
        click.echo(f"wrote {output}", err=True)
    else:
        click.get_binary_stream("stdout").write(rendered.body)
