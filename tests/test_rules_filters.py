"""Filter parsing and its canonical spelling, rule by rule: ``parse_filter``, ``parse_page``, ``Filter.query``.

Query strings are split the way the web layer sees them (key -> every value given, blanks kept).
The canonical spelling is what ``rel=self`` and the render cache use: ``Links.feed`` over
``Filter.query``.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from syndicate.outputs.filters import MAX_PAGE, MAX_VALUE_CHARS, MAX_VALUES, NO_FILTER, Filter, FilterError
from syndicate.outputs.filters import parse_filter as _parse_filter
from syndicate.outputs.filters import parse_page as _parse_page
from syndicate.outputs.urls import Links


def args(query: str) -> dict[str, list[str]]:
    return parse_qs(query, keep_blank_values=True)


def parse_filter(query: str, **options: object) -> Filter:
    return _parse_filter(args(query), **options)  # type: ignore[arg-type]


def parse_page(query: str) -> int:
    return _parse_page(args(query))


def test_the_limits_the_rows_rely_on() -> None:
    assert (MAX_VALUE_CHARS, MAX_VALUES, MAX_PAGE) == (200, 20, 100_000)


# --- what is accepted ------------------------------------------------------------------------------

ACCEPTED = [
    pytest.param("", NO_FILTER, id="no parameters: no filter"),
    pytest.param("tag=rust", Filter(tags=("rust",)), id="tag"),
    pytest.param("tag=Rust", Filter(tags=("rust",)), id="tag is case folded"),
    pytest.param("tag=STRASSE&tag=Straße", Filter(tags=("strasse",)), id="tag is folded beyond case (ß is ss)"),
    pytest.param("tag=ＲＵＳＴ", Filter(tags=("rust",)), id="tag is width folded (NFKC)"),
    pytest.param("tag=+sql+", Filter(tags=("sql",)), id="blanks around a value are dropped"),
    pytest.param("tag=sql&tag=rust&tag=data", Filter(tags=("data", "rust", "sql")), id="several tags, sorted"),
    pytest.param("tag=rust&tag=RUST&tag=rust", Filter(tags=("rust",)), id="a tag given twice counts once"),
    pytest.param("company=Kestrel+Robotics", Filter(company="kestrel robotics"), id="company is folded"),
    pytest.param("location=US-CA", Filter(location="us-ca"), id="location is folded"),
    pytest.param("remote=1", Filter(remote="1"), id="remote=1: remote possible"),
    pytest.param("remote=only", Filter(remote="only"), id="remote=only: fully remote"),
    pytest.param("remote=0", Filter(remote="0"), id="remote=0: on site"),
    pytest.param("remote=true", Filter(remote="1"), id="remote=true is 1"),
    pytest.param("remote=yes", Filter(remote="1"), id="remote=yes is 1"),
    pytest.param("remote=false", Filter(remote="0"), id="remote=false is 0"),
    pytest.param("remote=no", Filter(remote="0"), id="remote=no is 0"),
    pytest.param("remote=ONLY", Filter(remote="only"), id="remote is case folded"),
    pytest.param("type=FULL_TIME", Filter(types=("FULL_TIME",)), id="type by its schema.org name"),
    pytest.param("type=full-time", Filter(types=("FULL_TIME",)), id="type with a dash, in lower case"),
    pytest.param("type=Full+Time", Filter(types=("FULL_TIME",)), id="type with a space"),
    pytest.param("type=fulltime", Filter(types=("FULL_TIME",)), id="type run together"),
    pytest.param("type=contract&type=freelance", Filter(types=("CONTRACTOR",)), id="type aliases for CONTRACTOR"),
    pytest.param("type=temp", Filter(types=("TEMPORARY",)), id="type alias temp"),
    pytest.param("type=internship", Filter(types=("INTERN",)), id="type alias internship"),
    pytest.param("type=per+diem", Filter(types=("PER_DIEM",)), id="type alias per diem"),
    pytest.param("type=part-time&type=contract", Filter(types=("CONTRACTOR", "PART_TIME")), id="several types, sorted"),
    pytest.param("q=Heat+++Pumps+", Filter(q="heat pumps"), id="q is folded, its blanks collapsed"),
    pytest.param("tag=&company=&location=&remote=&type=&q=", NO_FILTER, id="empty values are ignored (HTML forms)"),
    pytest.param("tag=+&q=++", NO_FILTER, id="blank values are ignored"),
    pytest.param("tag=&tag=rust", Filter(tags=("rust",)), id="an empty value beside a real one is dropped"),
    pytest.param("remote=&remote=1", Filter(remote="1"), id="an empty value does not count as a second one"),
    pytest.param(
        "&".join([f"tag=t{n:02d}" for n in range(20)]),
        Filter(tags=tuple(f"t{n:02d}" for n in range(20))),
        id="twenty values of one key are accepted",
    ),
    pytest.param("q=" + "x" * 200, Filter(q="x" * 200), id="a value of 200 characters is accepted"),
    pytest.param(
        "q=rust&type=intern&remote=1&location=berlin&company=acme&tag=go",
        Filter(("go",), "acme", "berlin", "1", ("INTERN",), "rust"),
        id="all six filters at once",
    ),
]


@pytest.mark.parametrize("query,expected", ACCEPTED)
def test_parse_filter_accepts(query: str, expected: Filter) -> None:
    assert parse_filter(query) == expected


OPTIONS = [
    pytest.param("tag=rust&page=2", {"allowed": ("page",)}, Filter(tags=("rust",)), id="an allowed extra is no filter"),
    pytest.param(
        "utm_source=mail&tag=rust", {"strict": False}, Filter(tags=("rust",)), id="not strict: unknowns ignored"
    ),
    pytest.param("Tag=rust", {"strict": False}, NO_FILTER, id="parameter names are not case folded"),
]


@pytest.mark.parametrize("query,options,expected", OPTIONS)
def test_parse_filter_options(query: str, options: dict[str, object], expected: Filter) -> None:
    assert parse_filter(query, **options) == expected


# --- what is refused: the message names the parameter ----------------------------------------------

REFUSED = [
    pytest.param(
        "tags=rust",
        {},
        "unknown parameter 'tags'; the filters are tag, company, location, remote, type, q",
        id="an unknown parameter is an error",
    ),
    pytest.param(
        "zeta=1&alpha=1", {}, "unknown parameter 'alpha'", id="of several unknowns the first by name is named"
    ),
    pytest.param("Tag=rust", {}, "unknown parameter 'Tag'", id="a parameter in the wrong case is unknown"),
    pytest.param("page=2", {}, "unknown parameter 'page'", id="page is unknown unless the caller allows it"),
    pytest.param(
        "utm_source=x", {"allowed": ("page",)}, "unknown parameter 'utm_source'", id="allowing page allows nothing else"
    ),
    pytest.param(
        "remote=maybe",
        {},
        "'remote' must be 1 (remote possible), only (fully remote) or 0 (on site), got 'maybe'",
        id="a remote value that is none of them",
    ),
    pytest.param("remote=1&remote=0", {}, "'remote' may be given once, got 2 values", id="remote twice"),
    pytest.param("company=a&company=b", {}, "'company' may be given once, got 2 values", id="company twice"),
    pytest.param("location=a&location=b", {}, "'location' may be given once, got 2 values", id="location twice"),
    pytest.param("q=a&q=b", {}, "'q' may be given once, got 2 values", id="q twice"),
    pytest.param(
        "type=gig",
        {},
        "'type' must be one of FULL_TIME, PART_TIME, CONTRACTOR, TEMPORARY, INTERN, VOLUNTEER, PER_DIEM, OTHER "
        "(or e.g. full-time), got 'gig'",
        id="an unknown employment type",
    ),
    pytest.param("type=part-time&type=gig", {}, "got 'gig'", id="one bad type among good ones"),
    pytest.param("q=" + "x" * 201, {}, "'q' is longer than 200 characters", id="q over 200 characters"),
    pytest.param("tag=" + "x" * 201, {}, "'tag' is longer than 200 characters", id="tag over 200 characters"),
    pytest.param("company=a%01b", {}, "'company' contains a control character", id="a control character in company"),
    pytest.param("location=a%0Ab", {}, "'location' contains a control character", id="a newline in location"),
    pytest.param("q=a%7Fb", {}, "'q' contains a control character", id="DEL in q"),
    pytest.param(
        "tag=%09rust", {}, "'tag' contains a control character", id="a tab is a control character, not a blank"
    ),
    pytest.param(
        "&".join([f"tag=t{n:02d}" for n in range(21)]),
        {},
        "'tag' may be given at most 20 times",
        id="21 values of one key",
    ),
    pytest.param(
        "&".join(["type=intern"] * 21), {}, "'type' may be given at most 20 times", id="21 types, even the same one"
    ),
]


@pytest.mark.parametrize("query,options,message", REFUSED)
def test_parse_filter_refuses(query: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(query, **options)
    assert message in str(caught.value)


# --- page --------------------------------------------------------------------------------------------

PAGES = [
    pytest.param("", 1, id="no page is page 1"),
    pytest.param("page=", 1, id="an empty page is page 1"),
    pytest.param("page=+", 1, id="a blank page is page 1"),
    pytest.param("page=1", 1, id="page 1"),
    pytest.param("page=2", 2, id="page 2"),
    pytest.param("page=+3+", 3, id="blanks around the number are dropped"),
    pytest.param("page=007", 7, id="leading zeros are allowed"),
    pytest.param("page=100000", 100_000, id="the last page allowed"),
    pytest.param("page=&page=4", 4, id="an empty page beside a number"),
    pytest.param("tag=rust&page=5", 5, id="page beside filters"),
]


@pytest.mark.parametrize("query,expected", PAGES)
def test_parse_page_accepts(query: str, expected: int) -> None:
    assert parse_page(query) == expected


BAD_PAGES = [
    pytest.param("page=0", "'page' must be a whole number from 1 to 100000, got '0'", id="page 0"),
    pytest.param("page=-1", "got '-1'", id="a negative page"),
    pytest.param("page=%2B1", "got '+1'", id="a page with a sign"),
    pytest.param("page=two", "got 'two'", id="a page in words"),
    pytest.param("page=1.5", "got '1.5'", id="a fractional page"),
    pytest.param("page=1e3", "got '1e3'", id="a page in exponent form"),
    pytest.param("page=%D9%A3", "got '٣'", id="a page in non-ASCII digits"),
    pytest.param("page=100001", "got '100001'", id="one past the last page"),
    pytest.param("page=" + "9" * 30, "'page' must be a whole number from 1 to 100000", id="a huge page"),
    pytest.param(
        "page=" + "9" * 5000,
        "'page' must be a whole number from 1 to 100000",
        id="a page of more digits than int() converts is refused like any other",
    ),
    pytest.param("page=1&page=2", "'page' may be given once, got 2 values", id="page twice"),
]


@pytest.mark.parametrize("query,message", BAD_PAGES)
def test_parse_page_refuses(query: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_page(query)
    assert message in str(caught.value)


# --- the canonical spelling: what rel=self and the cache key use -------------------------------------

LINKS = Links.from_base("https://jobs.example/")

CANONICAL = [
    pytest.param("", 1, "https://jobs.example/feed.atom", id="no filter on page 1: no query at all"),
    pytest.param("tag=rust", 1, "https://jobs.example/feed.atom?tag=rust", id="one filter"),
    pytest.param("tag=rust", 2, "https://jobs.example/feed.atom?tag=rust&page=2", id="page comes last"),
    pytest.param("", 3, "https://jobs.example/feed.atom?page=3", id="a page without a filter"),
    pytest.param(
        "q=heat&type=part-time&remote=only&location=Bristol&company=Acme&tag=sql",
        1,
        "https://jobs.example/feed.atom?tag=sql&company=acme&location=bristol&remote=only&type=PART_TIME&q=heat",
        id="keys in the order tag, company, location, remote, type, q",
    ),
    pytest.param(
        "tag=sql&tag=data&tag=SQL", 1, "https://jobs.example/feed.atom?tag=data&tag=sql", id="tags sorted, once each"
    ),
    pytest.param(
        "type=temp&type=CONTRACTOR",
        1,
        "https://jobs.example/feed.atom?type=CONTRACTOR&type=TEMPORARY",
        id="types in their canonical names, sorted",
    ),
    pytest.param("remote=yes", 1, "https://jobs.example/feed.atom?remote=1", id="remote in its canonical value"),
    pytest.param("q=Heat++Pumps", 1, "https://jobs.example/feed.atom?q=heat+pumps", id="a blank in a value is +"),
    pytest.param(
        "company=AT%26T", 1, "https://jobs.example/feed.atom?company=at%26t", id="reserved characters escaped"
    ),
    pytest.param("q=Café", 1, "https://jobs.example/feed.atom?q=caf%C3%A9", id="non-ASCII as percent-encoded UTF-8"),
    pytest.param("tag=&q=", 1, "https://jobs.example/feed.atom", id="empty values leave no trace"),
]


@pytest.mark.parametrize("query,page,expected", CANONICAL)
def test_the_self_url_is_canonical(query: str, page: int, expected: str) -> None:
    assert LINKS.feed("atom", parse_filter(query), page) == expected


SAME_FILTER = [
    pytest.param("tag=SQL&remote=only", "remote=ONLY&tag=sql&tag=sql", id="order, case and repeats"),
    pytest.param("tag=+sql&remote=true", "remote=1&tag=sql", id="blanks and remote synonyms"),
    pytest.param("type=full-time&type=Part+Time", "type=PART_TIME&type=FULL_TIME", id="type spellings"),
    pytest.param("q=Heat+Pumps", "q=++heat+++PUMPS", id="q blanks and case"),
]


@pytest.mark.parametrize("one,other", SAME_FILTER)
def test_two_spellings_of_one_filter_have_one_query(one: str, other: str) -> None:
    assert parse_filter(one).query() == parse_filter(other).query()


@pytest.mark.parametrize("query", [pytest.param(p.values[0], id=p.id) for p in ACCEPTED])
def test_the_canonical_query_reads_back_as_the_same_filter(query: str) -> None:
    flt = parse_filter(query)
    assert parse_filter(flt.query()) == flt
