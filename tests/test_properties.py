"""Property tests: whatever the bytes, the reader returns a posting or clear errors, never raises."""

from __future__ import annotations

import yaml
from conftest import UTC_ZONE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.postings.reader import ERROR, ReadResult, read_posting
from syndicate.postings.spellings import KNOWN_KEYS

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.dates().map(str),
    st.sampled_from(["only", "FULL_TIME", "part-time", "USD", "YEAR", "open", "draft", "2026-11-01", "x-y"]),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(sorted(KNOWN_KEYS | {"role", "salary.min", "unknown"})) | st.text(max_size=12)
front_matter = st.dictionaries(keys, values, max_size=10)


def check(result: ReadResult) -> None:
    assert isinstance(result, ReadResult)
    assert not [p for p in result.problems if "a bug; see the log" in p.message], result.problems
    if result.posting is None:
        errors = [p for p in result.problems if p.level == ERROR]
        assert errors, "a file left out must say why"
        assert all(p.field and p.message and p.file == "gen/p.md" for p in errors)
    else:
        assert not [p for p in result.problems if p.level == ERROR]
        assert result.posting.title and result.posting.company.name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(front_matter, st.text(max_size=200))
def test_any_front_matter_gives_a_posting_or_clear_errors(data: dict, body: str) -> None:
    try:
        dumped = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return
    check(read_posting(f"---\n{dumped}---\n{body}".encode("utf-8", "surrogatepass"), "gen/p.md", UTC_ZONE))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_a_posting_or_clear_errors(raw: bytes) -> None:
    check(read_posting(raw, "gen/p.md", UTC_ZONE))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_after_a_valid_opening_give_a_result(tail: bytes) -> None:
    check(read_posting(b"---\ntitle: T\ncompany: C\n" + tail, "gen/p.md", UTC_ZONE))


near_valid = st.fixed_dictionaries(
    {"title": st.text(min_size=1, max_size=20), "company": st.text(min_size=1, max_size=20)},
    optional={key: values for key in sorted(KNOWN_KEYS - {"title", "company"})},
)


@settings(max_examples=300, deadline=None)
@given(near_valid, st.text(max_size=200))
def test_near_valid_front_matter_gives_a_posting_or_clear_errors(data: dict, body: str) -> None:
    dumped = yaml.safe_dump(data, allow_unicode=True)
    check(read_posting(f"---\n{dumped}---\n{body}".encode("utf-8", "surrogatepass"), "gen/p.md", UTC_ZONE))


# Raw YAML text, not a dump of tidy objects: anchors, aliases, tags, flow and block
# nesting, YAML 1.1 look-alikes. Whatever the author types, a result comes back.
fragments = st.sampled_from(
    [
        "title: T\n", "company: C\n", "tags: ", "salary: ", "location: ", "id: ", "x: ", "- ", "? ", ": ",
        "&a ", "*a", "&b ", "*b", "!!set ", "!!binary ", "!!str ", "!!python/name:os.system ", "!!omap ",
        "[", "]", "{", "}", ", ", "\n", "  ", "|\n  ", ">\n  ", "'", '"', "#", "%YAML 1.1\n", "---\n", "...\n",
        "007", "0x1F", "1:30", ".nan", "-.inf", "NO", "yes", "~", "2026-13-01", "2026-11-01T25:00", "1e999",
        "\u00c3\u00a9", "\ufeff", "\t", "\\u0000",
    ]
)  # fmt: skip
raw_yaml = st.lists(fragments, max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(raw_yaml, st.text(max_size=50))
def test_any_yaml_text_gives_a_posting_or_clear_errors(front: str, body: str) -> None:
    check(read_posting(f"---\ntitle: T\ncompany: C\n{front}\n---\n{body}".encode(), "gen/p.md", UTC_ZONE))
    check(read_posting(f"---\n{front}\n---\n{body}".encode(), "gen/p.md", UTC_ZONE))
