"""Reading one posting file: normalisation, repair, sanitising, and every bad input."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from conftest import UTC_ZONE, posting_text

from syndicate.model import Address, ApplicantLocation, Company, Remote, Salary, Status
from syndicate.postings.reader import ERROR, WARNING, read_posting


def read(text: str | bytes, source: str = "jobs/backend-engineer.md"):
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return read_posting(raw, source, UTC_ZONE)


def slug_error(value: str) -> str:
    return f"must be a URL-safe slug (lowercase letters, digits, '-'; starting with a letter or digit), got {value!r}"


def only_errors(result) -> list[tuple[str, str]]:
    assert result.posting is None, "a file with errors must be left out"
    return [(p.field, p.message) for p in result.problems if p.level == ERROR]


# --- the seed posting ---------------------------------------------------------------


def test_seed_posting_loads_as_handed_over(seed_bytes: bytes) -> None:
    result = read(seed_bytes, "rustfoundation-senior-rust-developer.md")
    posting = result.posting
    assert posting is not None
    assert posting.id == "rustfoundation-senior-rust-developer"
    assert posting.title == "Senior Rust Developer"  # from `role`
    assert posting.company == Company(name="RustFoundation")
    assert "Rust\u2019s performance and safety" in posting.description_html
    assert "â€" not in posting.description_html
    assert [(p.level, p.field, p.file) for p in result.problems] == [
        (WARNING, "description", "rustfoundation-senior-rust-developer.md")
    ]
    assert "mojibake repaired" in result.problems[0].message


def test_seed_repair_changes_nothing_but_the_damage(seed_bytes: bytes) -> None:
    from syndicate.postings.text import repair_mojibake

    text = seed_bytes.decode("utf-8")
    assert repair_mojibake(text) == text.replace("Rust\u00e2\u20ac\u2122s", "Rust\u2019s")


@pytest.mark.parametrize(
    "kept",
    [
        "\u201cquoted\u201d and it\u2019s",  # curly quotes stay curly
        "\uff26\uff55\uff4c\uff4c width",  # full-width stays full-width
        "\ufb01nance",  # ligature stays
        "caf\u00e9 na\u00efve r\u00e9sum\u00e9 Z\u00fcrich",
        "&amp; stays an entity",
        "Se\u00f1or \u00c3 alone",
    ],
)
def test_repair_leaves_intended_text_alone(kept: str) -> None:
    result = read(posting_text(title=f'"{kept}"'))
    assert result.posting is not None
    assert result.posting.title == kept
    assert not result.problems


def test_mojibake_in_front_matter_is_repaired_and_named() -> None:
    result = read(posting_text(title='"Caf\u00c3\u00a9 Manager"', department='"R\u00c3\u00a9ception"'))
    assert result.posting is not None
    assert result.posting.title == "Caf\u00e9 Manager"
    assert result.posting.department == "R\u00e9ception"
    # posting_text() repeats the title in the body, so the description is repaired too
    assert {p.field for p in result.problems if "mojibake" in p.message} == {"title", "department", "description"}


# --- every field, with aliases and spellings ----------------------------------------------


FULL = """\
---
id: data-engineer-2026
title: Data Engineer
company:
  name: Verdant Grid
  url: https://verdant.example
  logo: https://verdant.example/logo.png
location:
  - {street: 1 Main St, city: Berlin, state: BE, zip: 10115, country: de}
  - Remote within Europe
remote: true
applicant_locations: [DE, {region: Bavaria}, US-CA]
employment_type: [Full time, part-time, contract]
salary: {min: 70000, max: 90000, currency: eur, per: yearly}
date_posted: 2026-11-02T09:30:00+01:00
valid_through: 2027-03-31
apply_url: https://verdant.example/apply
direct_apply: true
status: Open
tags: [Python, data, python]
department: Platform
experience: 3+ years
education: Bachelor's degree
---
Body
"""


def test_every_field_is_normalised() -> None:
    result = read(FULL)
    p = result.posting
    assert p is not None, result.problems
    assert p.id == "data-engineer-2026"
    assert p.company == Company("Verdant Grid", "https://verdant.example", "https://verdant.example/logo.png")
    assert p.locations == (
        Address(street="1 Main St", city="Berlin", region="BE", postal_code="10115", country="DE"),
        Address(text="Remote within Europe"),
    )
    assert p.remote is Remote.ALLOWED
    assert p.applicant_locations == (
        ApplicantLocation("Country", "DE"),
        ApplicantLocation("AdministrativeArea", "Bavaria"),
        ApplicantLocation("AdministrativeArea", "US-CA"),
    )
    assert p.employment_types == ("FULL_TIME", "PART_TIME", "CONTRACTOR")
    assert p.salary == Salary(currency="EUR", unit="YEAR", min=70000, max=90000)
    assert p.date_posted == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert p.date_posted.tzinfo is UTC  # every date is kept in UTC
    assert p.valid_through == datetime(2027, 3, 31, 23, 59, 59, tzinfo=UTC)
    assert p.apply_url == "https://verdant.example/apply"
    assert p.direct_apply is True
    assert p.status is Status.OPEN
    assert p.tags == ("python", "data")
    assert (p.department, p.experience, p.education) == ("Platform", "3+ years", "Bachelor's degree")
    assert p.description_html == "<p>Body</p>\n"
    assert not result.problems


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("remote: only", Remote.ONLY),
        ("remote: true", Remote.ALLOWED),
        ("remote: hybrid", Remote.ALLOWED),
        ("remote: false", Remote.NO),
    ],
)
def test_remote_spellings(line: str, expected: Remote) -> None:
    key, value = line.split(": ")
    assert read(posting_text(**{key: value})).posting.remote is expected


def test_salary_single_value_per_hour() -> None:
    p = read(posting_text(salary="{value: 42.5, currency: USD, per: HOUR}")).posting
    assert p.salary == Salary(currency="USD", unit="HOUR", value=42.5)


def test_dates_without_offset_take_the_configured_zone() -> None:
    berlin = timezone(timedelta(hours=1))
    raw = posting_text(date_posted="2026-11-02", valid_through="2026-12-01T17:00:00").encode()
    p = read_posting(raw, "a.md", berlin).posting
    assert p.date_posted == datetime(2026, 11, 2, tzinfo=berlin)
    assert p.valid_through == datetime(2026, 12, 1, 17, tzinfo=berlin)


def test_is_open_until_valid_through_passes() -> None:
    p = read(posting_text(valid_through="2026-12-01T17:00:00Z")).posting
    deadline = datetime(2026, 12, 1, 17, tzinfo=UTC)
    assert p.is_open_at(deadline - timedelta(seconds=1))
    assert p.is_open_at(deadline)
    assert not p.is_open_at(deadline + timedelta(microseconds=1))


@pytest.mark.parametrize("status", ["closed", "draft"])
def test_closed_and_draft_are_never_open(status: str) -> None:
    p = read(posting_text(status=status)).posting
    assert not p.is_open_at(datetime(2026, 1, 1, tzinfo=UTC))


def test_id_defaults_to_the_file_stem() -> None:
    assert read(posting_text(), "team/backend-engineer.markdown").posting.id == "backend-engineer"


def test_content_hash_follows_content_not_formatting() -> None:
    base = read(posting_text(tags="[a, b]")).posting.content_hash
    assert read(posting_text(tags="[a, b]").replace("\n", "\r\n")).posting.content_hash == base
    assert read(posting_text(tags="[a, c]")).posting.content_hash != base


def test_unknown_keys_are_kept_and_warned() -> None:
    result = read(posting_text(team_size="12", perks="[coffee]"))
    assert result.posting.extra == (("perks", ["coffee"]), ("team_size", 12))
    assert [(p.level, p.field) for p in result.problems] == [(WARNING, "team_size"), (WARNING, "perks")]


def test_title_and_role_both_given_warns_and_uses_title() -> None:
    result = read(posting_text(role="Something Else"))
    assert result.posting.title == "Backend Engineer"
    assert [(p.level, p.field) for p in result.problems] == [(WARNING, "role")]


def test_bom_and_crlf_are_accepted() -> None:
    raw = b"\xef\xbb\xbf" + posting_text("crlf-job").replace("\n", "\r\n").encode()
    result = read(raw)
    assert result.posting.id == "crlf-job"
    assert "\r" not in result.posting.description_html
    assert not result.problems


# --- sanitising ----------------------------------------------------------------------------

XSS_BODY = """\
Hello <script>alert(1)</script> world.

<img src=x onerror="alert(2)"> <a href="javascript:alert(3)" onclick="alert(4)">click</a>

[md link](javascript:alert(5)) [data](data:text/html;base64,PHNjcmlwdD4=) <iframe src="https://evil.example"></iframe>

<p style="x" onmouseover="alert(6)">styled</p> <svg onload=alert(7)></svg>

[ok](https://ok.example) <b>raw</b>

<https://auto.example> <javascript:alert(8)>
"""


class Elements(HTMLParser):
    """Every tag and attribute of a document, as a browser's tokenizer sees them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]


def test_body_html_is_sanitised() -> None:
    html = read(posting_text() + XSS_BODY).posting.description_html
    found = Elements(html)
    assert not {"script", "iframe", "svg", "img", "style"} & set(found.tags), html
    assert not [name for name, _ in found.attributes if name.startswith("on") or name == "style"], html
    urls = [value.strip().lower() for name, value in found.attributes if name in ("href", "src")]
    assert not [u for u in urls if u.startswith(("javascript:", "data:", "vbscript:"))], html
    assert '<a href="https://ok.example" rel="nofollow noopener noreferrer">ok</a>' in html
    assert '<a href="https://auto.example" rel="nofollow noopener noreferrer">' in html
    assert "click" in html and "Hello" in html  # text survives, only the danger goes
    assert "<b>" not in html and "style" not in html  # raw HTML is left out: Markdown says it all


def test_gfm_tables_and_lists_render() -> None:
    html = read(posting_text() + "\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n").posting.description_html
    assert "<table>" in html and "<td>2</td>" in html and "<li>two</li>" in html


# --- bad input: each is left out with the exact reason ---------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(b"", [("file", "the file is empty")], id="empty"),
        pytest.param(b"  \n\n", [("file", "the file is empty")], id="blank"),
        pytest.param(
            b"Just text\n", [("front matter", "no front matter: the file must start with a '---' line")], id="no-fm"
        ),
        pytest.param(
            b"---\ntitle: x\n", [("front matter", "front matter is not closed by a '---' line")], id="unclosed"
        ),
        pytest.param(
            b"---\ntitle: [unclosed\ncompany: y\n---\nbody\n",
            [
                (
                    "front matter",
                    "invalid YAML at line 2, column 8: the '[' opened here is never closed"
                    " (noticed at line 3, column 8: did not find expected ',' or ']')",
                )
            ],
            id="invalid-yaml",
        ),
        pytest.param(
            b"---\ntitle: x\ncompany: 'Acme\nemployment_type: FULL_TIME\n---\nbody\n",
            [
                (
                    "front matter",
                    "invalid YAML at line 3, column 10: the quote opened here is never closed"
                    " (noticed at line 5, column 1: found unexpected end of stream)",
                )
            ],
            id="unclosed-quote",
        ),
        pytest.param(
            b"---\ntitle: x\n  company: y\n---\n",
            [("front matter", "invalid YAML at line 3, column 10: mapping values are not allowed in this context")],
            id="bad-indent-stays-where-noticed",
        ),
        pytest.param(
            b"---\n- a\n- b\n---\n", [("front matter", "must be a mapping of keys, got list")], id="yaml-list"
        ),
        pytest.param(
            b"---\ntitle: caf\xe9\n---\n", [("file", "not valid UTF-8: byte 0xe9 at offset 14")], id="latin-1"
        ),
        pytest.param(posting_text(title='""').encode(), [("title", "must not be empty")], id="empty-title"),
        pytest.param(b"---\ncompany: Acme\n---\nx\n", [("title", "is required")], id="no-title"),
        pytest.param(b"---\ntitle: X\n---\nx\n", [("company", "is required")], id="no-company"),
        pytest.param(
            posting_text(salary="[50000, 60000]").encode(),
            [("salary", "must be a mapping, got [50000, 60000]")],
            id="salary-list",
        ),
        pytest.param(posting_text(tags="5").encode(), [("tags", "must be a list, got 5")], id="tags-number"),
        pytest.param(
            posting_text(tags="[rust, 5]").encode(), [("tags[1]", "must be a string, got 5")], id="tag-number"
        ),
        pytest.param(
            posting_text(employment_type="wizard").encode(),
            [
                (
                    "employment_type",
                    "unknown employment type 'wizard'; use one of FULL_TIME, PART_TIME, CONTRACTOR, "
                    "TEMPORARY, INTERN, VOLUNTEER, PER_DIEM, OTHER",
                )
            ],
            id="employment-type",
        ),
        pytest.param(
            posting_text(date_posted="2026-13-01").encode(),
            [("date_posted", "must be an ISO 8601 date or datetime, got '2026-13-01'")],
            id="bad-date",
        ),
        pytest.param(
            posting_text(valid_through="next week").encode(),
            [("valid_through", "must be an ISO 8601 date or datetime, got 'next week'")],
            id="words-date",
        ),
        pytest.param(
            posting_text(date_posted="2026-12-01", valid_through="2026-11-01").encode(),
            [
                (
                    "valid_through",
                    "valid_through (2026-11-01T23:59:59+00:00) is before date_posted (2026-12-01T00:00:00+00:00)",
                )
            ],
            id="expires-before-posted",
        ),
        pytest.param(
            posting_text("Senior Dev").encode(),
            [("id", slug_error("Senior Dev"))],
            id="id-not-slug",
        ),
        pytest.param(
            posting_text("../etc").encode(),
            [("id", slug_error("../etc"))],
            id="id-path",
        ),
        pytest.param(
            posting_text(salary="{min: 90, max: 70, currency: USD, per: HOUR}").encode(),
            [("salary", "min (90) is greater than max (70)")],
            id="salary-min-max",
        ),
        pytest.param(
            posting_text(salary="{min: 90, currency: dollars, per: fortnight}").encode(),
            [
                ("salary.currency", "must be an ISO 4217 code such as USD or EUR, got 'dollars'"),
                ("salary.per", "must be one of HOUR, DAY, WEEK, MONTH, YEAR, got 'fortnight'"),
            ],
            id="salary-fields",
        ),
        pytest.param(
            posting_text(apply_url="javascript:alert(1)").encode(),
            [("apply_url", "must be an absolute http(s) URL, got 'javascript:alert(1)'")],
            id="apply-url",
        ),
        pytest.param(
            posting_text(status="archived").encode(),
            [("status", "must be one of 'open', 'closed' or 'draft', got 'archived'")],
            id="status",
        ),
        pytest.param(
            posting_text(remote="sometimes").encode(),
            [("remote", "must be true, false or only, got 'sometimes'")],
            id="remote",
        ),
        pytest.param(
            posting_text(direct_apply='"yes please"').encode(),
            [("direct_apply", "must be true or false, got 'yes please'")],
            id="direct-apply",
        ),
    ],
)
def test_bad_input_is_left_out_with_a_clear_error(raw: bytes, expected: list[tuple[str, str]]) -> None:
    result = read(raw, "jobs/backend-engineer.md")
    assert only_errors(result) == expected
    assert all(p.file == "jobs/backend-engineer.md" for p in result.problems)


def test_id_from_a_file_name_that_is_not_a_slug_is_an_error() -> None:
    result = read(posting_text(), "Senior Dev.md")
    assert only_errors(result) == [("id", slug_error("Senior Dev"))]


# --- hostile YAML: plain data only, values as written -------------------------------------------


@pytest.mark.parametrize(
    ("front", "message"),
    [
        pytest.param(
            "title: &a [*a]\ncompany: X",
            "invalid YAML at line 2, column 12: aliases (*a) are not allowed",
            id="self-alias",
        ),
        pytest.param(
            "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ntitle: T\ncompany: C",
            "invalid YAML at line 3, column 8: aliases (*a) are not allowed",
            id="alias-bomb",
        ),
        pytest.param(
            "title: T\ncompany: C\ntags: !!set {a, b}",
            "invalid YAML at line 4, column 7: the tag 'tag:yaml.org,2002:set' is not allowed in front matter",
            id="set",
        ),
        pytest.param(
            "title: T\ncompany: C\nlogo: !!binary aGk=",
            "invalid YAML at line 4, column 7: the tag 'tag:yaml.org,2002:binary' is not allowed in front matter",
            id="binary",
        ),
        pytest.param(
            "title: T\ncompany: C\nx: !!python/object:os.system {}",
            "invalid YAML at line 4, column 4: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
            id="python-object",
        ),
    ],
)
def test_hostile_yaml_is_refused_with_the_line(front: str, message: str) -> None:
    assert only_errors(read(f"---\n{front}\n---\nbody\n")) == [("front matter", message)]


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    result = read("---\ntitle: T\ncompany: C\nx: " + "[" * 3000 + "]" * 3000 + "\n---\n")
    assert result.posting is None
    assert [p.field for p in result.errors] == ["front matter"]


def test_yaml_1_1_surprises_keep_the_text_as_written() -> None:
    p = read(
        posting_text(
            "007",
            location="{city: Oslo, country: NO, postal_code: 0150}",
            applicant_locations="[NO, SE]",
            department="1:30",
            remote="yes",
        )
    ).posting
    assert p.id == "007"
    assert p.locations[0].country == "NO" and p.locations[0].postal_code == "0150"
    assert [a.name for a in p.applicant_locations] == ["NO", "SE"]
    assert p.department == "1:30"
    assert p.remote is Remote.ALLOWED


def test_numbers_must_be_plain_and_finite() -> None:
    for salary, message in [
        ("{min: .nan, max: 10, currency: USD, per: HOUR}", "must be a finite number, got nan"),
        ("{value: .inf, currency: USD, per: HOUR}", "must be a finite number, got inf"),
        ("{value: 0x1F, currency: USD, per: HOUR}", "must be a number, got '0x1F'"),
    ]:
        errors = only_errors(read(posting_text(salary=salary)))
        assert [m for _, m in errors] == [message], salary


def test_an_id_longer_than_the_store_allows_is_an_error() -> None:
    assert only_errors(read(posting_text("a" * 201))) == [("id", "must be at most 200 characters, got 201")]


def test_direct_apply_yes_is_not_a_boolean() -> None:
    assert only_errors(read(posting_text(direct_apply="yes"))) == [("direct_apply", "must be true or false, got 'yes'")]


def test_rendering_frees_what_the_c_renderer_allocates(seed_bytes: bytes) -> None:
    """cmarkgfm's own helpers leak ~35 KB a call; ours must not (3,000 renders would leak ~100 MB)."""
    from syndicate.postings.text import render_markdown

    def resident_mib() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    body = seed_bytes.decode("utf-8")
    render_markdown(body)
    before = resident_mib()
    for _ in range(3000):
        render_markdown(body)
    assert resident_mib() - before < 20


@pytest.mark.parametrize(
    "text",
    [
        FULL,
        posting_text(team_size="12", perks="[coffee]", odd=".nan"),
        posting_text(direct_apply="false", date_posted="2026-11-01", remote="only", status="draft"),
    ],
    ids=["every-field", "extra", "false-and-given"],
)
def test_the_cache_form_rebuilds_the_same_posting(text: str) -> None:
    from syndicate.postings.reader import result_from_json, result_to_json

    result = read(text)
    cached, html = result_to_json(result)
    rebuilt = result_from_json(result.source, cached, html)
    assert rebuilt == result
    assert rebuilt.posting.salary == result.posting.salary and rebuilt.posting.locations == result.posting.locations
