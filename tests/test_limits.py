"""What a posting may contain: every limit, the reason a file over it is left out, and linear time.

Each limit is checked before the step whose cost it bounds; a file over it is
left out with its field, its count and the setting, and a file at it is read.
"""

from __future__ import annotations

import time

import pytest
from conftest import UTC_ZONE

from bench.hostile import GENERATORS
from syndicate.postings.limits import DEFAULT_LIMITS, Limits
from syndicate.postings.reader import ERROR, WARNING, read_posting
from syndicate.settings import load_settings


def read(text: str, limits: Limits = DEFAULT_LIMITS):
    return read_posting(text.encode("utf-8"), "jobs/a.md", UTC_ZONE, limits)


def errors(result) -> list[tuple[str, str]]:
    assert result.posting is None, "a file over a limit is left out"
    return [(p.field, p.message) for p in result.problems if p.level == ERROR]


def front(lines: str, body: str = "Body.\n") -> str:
    return f"---\ntitle: T\ncompany: C\n{lines}\n---\n{body}"


def tags(n: int) -> str:
    return "tags: [" + ", ".join(f"t{i}" for i in range(n)) + "]"


def locations(key: str, n: int) -> str:
    return f"{key}: [" + ", ".join(f"C{i}" for i in range(n)) + "]"


def unknown_keys(n: int) -> str:
    return "\n".join(f"k{i}: 1" for i in range(n))


def quotes(depth: int) -> str:
    return ">" * depth + " deep\n"


def emphasis(depth: int) -> str:
    return "*a " * depth + "b" + " a*" * depth + "\n"


def table(columns: int, rows: int) -> str:
    return "|" + "a|" * columns + "\n|" + "-|" * columns + "\n" + ("|" + "1|" * columns + "\n") * rows


LIMITS = [
    # (what, the text at the limit, the text over it, field, message)
    pytest.param(
        front("x: " + "a" * (8192 - len("x: ") - 22)),
        front("x: " + "a" * (8192 - len("x: ") - 21)),
        "front matter",
        "8,193 bytes, over the limit of 8,192 (SYNDICATE_MAX_FRONT_MATTER_BYTES); the description goes below "
        "the closing '---'",
        id="front-matter-bytes",
    ),
    pytest.param(
        front(unknown_keys(98)),
        front(unknown_keys(99)),
        "front matter",
        "101 keys, over the limit of 100 (SYNDICATE_MAX_KEYS)",
        id="keys",
    ),
    pytest.param(
        front("x: {" + ", ".join(f"k{i}: 1" for i in range(97)) + "}"),
        front("x: {" + ", ".join(f"k{i}: 1" for i in range(98)) + "}"),
        "front matter",
        "101 keys, over the limit of 100 (SYNDICATE_MAX_KEYS)",
        id="nested-keys",
    ),
    pytest.param(
        front(tags(50)), front(tags(51)), "tags", "51 tags, over the limit of 50 (SYNDICATE_MAX_TAGS)", id="tags"
    ),
    pytest.param(
        front("tags: " + ",".join(f"t{i}" for i in range(50))),
        front("tags: " + ",".join(f"t{i}" for i in range(51))),
        "tags",
        "51 tags, over the limit of 50 (SYNDICATE_MAX_TAGS)",
        id="tags-as-text",
    ),
    pytest.param(
        front(locations("location", 50)),
        front(locations("location", 51)),
        "location",
        "51 locations, over the limit of 50 (SYNDICATE_MAX_LOCATIONS)",
        id="locations",
    ),
    pytest.param(
        front("remote: only\n" + locations("applicant_locations", 50)),
        front("remote: only\n" + locations("applicant_locations", 51)),
        "applicant_locations",
        "51 locations, over the limit of 50 (SYNDICATE_MAX_LOCATIONS)",
        id="applicant-locations",
    ),
    pytest.param(
        front("", quotes(31)),  # 31 quotes and the paragraph inside: 32 elements deep
        front("", quotes(32)),
        "description",
        "elements nested more than 32 deep (SYNDICATE_MAX_NESTING)",
        id="quote-nesting",
    ),
    pytest.param(
        front("", quotes(31)),
        front("", quotes(33)),  # found on the line, before cmark builds it
        "description",
        "quotes or lists nested more than 32 deep (SYNDICATE_MAX_NESTING)",
        id="quote-nesting-on-one-line",
    ),
    pytest.param(
        front("", "- " * 15 + "a\n"),  # ul > li, fifteen times, then the text
        front("", "- " * 33 + "a\n"),
        "description",
        "quotes or lists nested more than 32 deep (SYNDICATE_MAX_NESTING)",
        id="list-nesting",
    ),
    pytest.param(
        front("", "".join("  " * i + "- a\n" for i in range(16))),  # nested by indentation: ul > li per level
        front("", "".join("  " * i + "- a\n" for i in range(17))),
        "description",
        "elements nested more than 32 deep (SYNDICATE_MAX_NESTING)",
        id="list-nesting-by-indentation",
    ),
    pytest.param(
        front("", emphasis(31)),
        front("", emphasis(40)),
        "description",
        "elements nested more than 32 deep (SYNDICATE_MAX_NESTING)",
        id="emphasis-nesting",
    ),
    pytest.param(
        front("", table(10, 499)),  # 10 columns x (the header and 499 rows)
        front("", table(10, 500)),
        "description",
        "5,010 table cells, over the limit of 5,000 (SYNDICATE_MAX_TABLE_CELLS)",
        id="table-cells",
    ),
    pytest.param(
        front("", "|a" * 100 + "|\n" + "|-" * 100 + "|\n" + "|\n" * 49),  # short rows are padded to 100 cells
        front("", "|a" * 100 + "|\n" + "|-" * 100 + "|\n" + "|\n" * 50),
        "description",
        "5,100 table cells, over the limit of 5,000 (SYNDICATE_MAX_TABLE_CELLS)",
        id="table-padding",
    ),
    pytest.param(  # a narrow table, then a wide one after a heading: no blank line between them
        front("", "|a|\n|-|\n# h\n" + table(10, 453)),  # 1 x (1 + 456) lines + 10 x (1 + 453) = 4,997
        front("", "|a|\n|-|\n# h\n" + table(10, 454)),
        "description",
        "5,008 table cells, over the limit of 5,000 (SYNDICATE_MAX_TABLE_CELLS)",
        id="table-after-a-narrow-one",
    ),
    pytest.param(
        front("", "*word* " * 9_999 + "\n"),  # the line after the closing '---' counts too: 20,000
        front("", "*word* " * 10_000 + "\n"),
        "description",
        "20,002 lines and markup characters, over the limit of 20,000 (SYNDICATE_MAX_MARKUP)",
        id="markup",
    ),
]


@pytest.mark.parametrize(("at", "over", "field", "message"), LIMITS)
def test_a_file_over_a_limit_is_left_out_naming_it(at: str, over: str, field: str, message: str) -> None:
    assert read(at).posting is not None, [str(p) for p in read(at).problems]
    found = errors(read(over))
    assert len(found) == 1 and found[0][0] == field and found[0][1].startswith(message), found


def test_every_limit_is_a_setting() -> None:
    settings = load_settings(
        environ={
            "SYNDICATE_MAX_FRONT_MATTER_BYTES": "100",
            "SYNDICATE_MAX_KEYS": "3",
            "SYNDICATE_MAX_TAGS": "1",
            "SYNDICATE_MAX_LOCATIONS": "2",
            "SYNDICATE_MAX_MARKUP": "10",
            "SYNDICATE_MAX_NESTING": "4",
            "SYNDICATE_MAX_TABLE_CELLS": "6",
        }
    )
    assert settings.limits == Limits(100, 3, 1, 2, 10, 4, 6)
    assert errors(read(front(tags(2)), settings.limits)) == [
        ("tags", "2 tags, over the limit of 1 (SYNDICATE_MAX_TAGS)")
    ]
    assert errors(read(front("", quotes(4)), settings.limits))[0][0] == "description"


def test_the_limits_are_part_of_the_cache_key() -> None:
    """A result read under other limits is not taken from the parse cache for these."""
    from syndicate.postings.loader import cache_key

    raw = b"---\ntitle: T\ncompany: C\n---\n"
    assert cache_key("a.md", raw, UTC_ZONE, DEFAULT_LIMITS) != cache_key("a.md", raw, UTC_ZONE, Limits(tags=1))


def test_repeated_tags_fold_in_order() -> None:
    posting = read(front("tags: [B, a, b, A, c, a]")).posting
    assert posting.tags == ("b", "a", "c")


# --- control characters ---------------------------------------------------------------------


def test_control_characters_are_stripped_from_every_value_with_a_warning() -> None:
    text = front(
        'title: "Bold\\e[1m Engineer\\0"\ndepartment: "Ops\\x07"\nperks: ["\\e]0;pwned\\a"]', "Body\x1b[2J here.\n"
    )
    result = read(text)
    posting = result.posting
    assert posting is not None
    assert posting.title == "Bold[1m Engineer"
    assert posting.department == "Ops"
    assert posting.extra == (("perks", ["]0;pwned"]),)
    assert "\x1b" not in posting.description_html and "Body[2J here." in posting.description_html
    warnings = {(p.field, p.message) for p in result.problems if p.level == WARNING}
    assert ("title", "control characters removed (U+001B, U+0000)") in warnings
    assert ("department", "control characters removed (U+0007)") in warnings
    assert ("perks[0]", "control characters removed (U+001B, U+0007)") in warnings
    assert ("description", "control characters removed (U+001B)") in warnings


def test_a_repair_never_brings_a_control_character_back() -> None:
    """ftfy reads the cp1252 view of C0 80 (Java's two-byte NUL) as a NUL: it is stripped after repair."""
    result = read(front("title: Engineer \u00c3\u00a9\u00c0\u20ac", "Body"))
    assert result.posting.title == "Engineer \u00e9"
    assert ("title", "control characters removed (U+0000)") in {(p.field, p.message) for p in result.problems}


def test_entities_never_put_a_control_character_in_the_html() -> None:
    html = read(front("", '# Title &#27;[31m\n\n[a](https://x.example "t&#x1b;t") &#7;&#x7f;&#8;\n')).posting
    assert not any(c in html.description_html for c in "\x1b\x07\x7f\x08")


def test_a_control_character_in_a_key_is_not_in_the_field_named() -> None:
    result = read(front('"k\\x1bey": "v\\x1b"'))
    assert {p.field for p in result.problems} == {"key"}


def test_too_much_mojibake_is_left_as_written_with_a_warning() -> None:
    body = "Caf\u00c3\u00a9 " * 2001
    result = read(front("", body))
    assert result.posting is not None and "Caf\u00c3\u00a9" in result.posting.description_html
    [warning] = [p for p in result.problems if p.field == "description"]
    assert warning.message == (
        "mojibake left as written: more than 2,000 sequences look like mojibake (SYNDICATE_MAX_MOJIBAKE)"
    )


def test_long_text_runs_render_as_written() -> None:
    """Cut with comments for the sanitiser, which drops them: the text comes out whole."""
    from syndicate.postings.text import render_markdown

    run = "\u00a9" * 9000 + " &amp; " + "x" * 9000
    assert render_markdown(run) == f"<p>{run}</p>\n"


def test_a_date_outside_what_utc_can_hold_is_an_error_of_its_field() -> None:
    assert errors(read(front("date_posted: '0001-01-01T00:00:00+01:00'"))) == [
        ("date_posted", "must be a date between the years 1 and 9999 in UTC, got '0001-01-01T00:00:00+01:00'")
    ]


def test_tabs_and_newlines_stay_where_they_are_text() -> None:
    result = read(front('title: "A\\tB"\neducation: "line one\\nline two"', "Col\tumn\n\nNext paragraph.\n"))
    assert result.posting.title == "A\tB"
    assert result.posting.education == "line one\nline two"
    assert not result.problems


# --- linear time ------------------------------------------------------------------------------


def _cpu_seconds(raw: bytes, runs: int = 5) -> float:
    """The least CPU time of ``runs`` reads: other load on the machine only ever adds to a run."""
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        read_posting(raw, "hostile.md", UTC_ZONE)
        best = min(best, time.process_time() - started)
    return best


def test_the_nested_blockquote_file_is_refused_before_the_sanitiser() -> None:
    """The reported file: 90 KB of '>' took 50 s in the sanitiser; it is now refused on its line."""
    result = read(front("", ">" * 90_000))
    assert errors(result) == [("description", "quotes or lists nested more than 32 deep (SYNDICATE_MAX_NESTING)")]


def test_doubling_the_worst_generators_input_no_more_than_triples_its_time() -> None:
    size = 128 * 1024
    worst = max(GENERATORS, key=lambda name: _cpu_seconds(GENERATORS[name](size), runs=3))
    small, large = GENERATORS[worst](size), GENERATORS[worst](2 * size)
    assert len(large) > 1.5 * len(small), "the generator grows with the size asked for"
    small_time, large_time = _cpu_seconds(small, runs=7), _cpu_seconds(large, runs=7)
    assert large_time <= 3 * small_time, f"{worst}: twice the input took {large_time / small_time:.2f} times as long"
