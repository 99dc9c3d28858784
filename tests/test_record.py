"""The parse-cache record is derived from the model, and the parser version from the schema and code."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC

import pydantic
from conftest import REPO_ROOT

from syndicate.model import Posting
from syndicate.postings.reader import read_posting
from syndicate.postings.record import (
    HTML_SLOT,
    RECORD_SOURCE,
    compile_record,
    current_parser_version,
    parser_version,
    posting_from_record,
    posting_to_record,
)
from syndicate.postings.schema import FrontMatter

EVERY_FIELD = b"""---
id: every-field
title: Staff Engineer
company: {name: Example Co, url: "https://example.com/", logo: "https://example.com/logo.svg"}
location:
  - {street: 1 Main St, city: Berlin, region: BE, postal_code: "10115", country: DE}
  - Remote within Europe
remote: true
applicant_locations: [DE, US-CA]
employment_type: [FULL_TIME, CONTRACTOR]
salary: {min: 70000.5, max: 90000, currency: EUR, per: YEAR}
date_posted: 2031-01-02T03:04:05+01:00
valid_through: 2031-03-31
status: open
tags: [rust, backend]
apply_url: https://example.com/apply
direct_apply: true
department: Platform
experience: 5 years
education: none required
x-custom: {nested: [1, 2]}
---
Build **things**.
"""


def every_field_posting() -> Posting:
    result = read_posting(EVERY_FIELD, "every-field.md", UTC)
    assert result.posting is not None, result.problems
    return result.posting


def test_a_posting_with_every_field_survives_its_record_through_json() -> None:
    posting = every_field_posting()
    blank = [f.name for f in dataclasses.fields(Posting) if getattr(posting, f.name) in (None, (), "")]
    assert blank == ["updated"], "the sample fills every field the reader fills"
    record = json.loads(json.dumps(posting_to_record(posting)))
    assert posting_from_record(record) == posting
    assert record[HTML_SLOT] == posting.description_html


def test_the_record_has_one_slot_per_model_field_in_declaration_order() -> None:
    posting = every_field_posting()
    record = posting_to_record(posting)
    assert len(record) == len(dataclasses.fields(Posting))
    assert record[[f.name for f in dataclasses.fields(Posting)].index("title")] == "Staff Engineer"


def test_a_field_added_to_the_model_is_in_the_record_without_touching_the_codec() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Wider(Posting):
        team_size: int | None = None
        languages: tuple[str, ...] = ()

    encode, decode, html_slot, source = compile_record(Wider)
    base = every_field_posting()
    wide = Wider(**{f.name: getattr(base, f.name) for f in dataclasses.fields(Posting)}, team_size=7, languages=("de",))
    back = decode(json.loads(json.dumps(encode(wide))))
    assert back == wide and back.team_size == 7 and back.languages == ("de",)
    assert html_slot == HTML_SLOT and "team_size" in source


def test_the_parser_version_follows_the_schema() -> None:
    class Changed(FrontMatter):
        team_size: int | None = pydantic.Field(default=None)

    assert parser_version() == current_parser_version()
    assert parser_version(Changed) != current_parser_version(), "a new front-matter field invalidates cached records"
    assert parser_version(record_source=RECORD_SOURCE + "#") != current_parser_version(), "so does a new record layout"


def test_the_parser_version_is_the_same_in_every_process() -> None:
    """Two processes (the web and the worker) must share their cache: nothing random goes into it."""
    printed = subprocess.run(
        [sys.executable, "-c", "from syndicate.postings import record; print(record.current_parser_version())"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout.strip()
    assert printed == current_parser_version()
