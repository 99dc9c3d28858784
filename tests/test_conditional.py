"""Conditional GET and gzip negotiation, one row per rule: the pure decisions, then a real route."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from werkzeug.http import parse_accept_header

from syndicate.web.conditional import NOT_MODIFIED, PRECONDITION_FAILED, accepts_gzip, evaluate

ETAG = '"abc"'
LAST_MODIFIED = datetime(2026, 11, 28, 9, 0, 0, 500000, tzinfo=UTC)  # sub-second: HTTP dates are whole seconds
SAME = "Sat, 28 Nov 2026 09:00:00 GMT"
LATER = "Sat, 28 Nov 2026 09:00:01 GMT"
EARLIER = "Sat, 28 Nov 2026 08:59:59 GMT"
SEND = None  # send the representation


def row(rule: str, expected: int | None, **headers: str) -> Any:
    return pytest.param(headers, expected, id=rule)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        row("no validators: send it", SEND),
        # If-None-Match
        row("the tag sent: 304", NOT_MODIFIED, if_none_match=ETAG),
        row("another tag: send it", SEND, if_none_match='"xyz"'),
        row("a list holding the tag: 304", NOT_MODIFIED, if_none_match='"x", "abc", "y"'),
        row("a list without spaces holding the tag: 304", NOT_MODIFIED, if_none_match='"x","abc"'),
        row("a list without the tag: send it", SEND, if_none_match='"x", "y"'),
        row("a weak tag matches the strong one (weak comparison)", NOT_MODIFIED, if_none_match='W/"abc"'),
        row("a weak tag in a list matches", NOT_MODIFIED, if_none_match='"x", W/"abc"'),
        row("star matches any current representation", NOT_MODIFIED, if_none_match="*"),
        row("the gzip variant's tag is another representation's", SEND, if_none_match='"abc-gz"'),
        row("a tag that only starts like it: send it", SEND, if_none_match='"ab"'),
        row("an empty If-None-Match matches nothing", SEND, if_none_match=""),
        row("an unreadable If-None-Match matches nothing", SEND, if_none_match='garbage"'),
        # If-Modified-Since
        row("a date equal to Last-Modified: 304", NOT_MODIFIED, if_modified_since=SAME),
        row("a date after Last-Modified: 304", NOT_MODIFIED, if_modified_since=LATER),
        row("a date before Last-Modified: send it", SEND, if_modified_since=EARLIER),
        row("a date long before: send it", SEND, if_modified_since="Sat, 01 Jan 2000 00:00:00 GMT"),
        row("the same moment in another zone: 304", NOT_MODIFIED, if_modified_since="Sat, 28 Nov 2026 10:00:00 +0100"),
        row("an earlier moment in another zone: send it", SEND, if_modified_since=SAME.replace("GMT", "+0100")),
        row("the RFC 850 date form is read", NOT_MODIFIED, if_modified_since="Saturday, 28-Nov-26 09:00:00 GMT"),
        row("the asctime date form is read as GMT", NOT_MODIFIED, if_modified_since="Sat Nov 28 09:00:00 2026"),
        row("a date that does not parse is ignored", SEND, if_modified_since="yesterday"),
        row("an impossible date is ignored", SEND, if_modified_since="Sat, 32 Nov 2026 09:00:00 GMT"),
        row("an empty date is ignored", SEND, if_modified_since=""),
        # precedence (RFC 9110, 13.2.2)
        row("a failing If-None-Match wins over a passing date", SEND, if_none_match='"xyz"', if_modified_since=LATER),
        row(
            "a matching If-None-Match wins over a failing date",
            NOT_MODIFIED,
            if_none_match=ETAG,
            if_modified_since=EARLIER,
        ),
        row("star wins over a failing date", NOT_MODIFIED, if_none_match="*", if_modified_since=EARLIER),
        row("an empty If-None-Match still silences the date", SEND, if_none_match="", if_modified_since=LATER),
        # If-Match (only the routes outside the render cache pass it: werkzeug's make_conditional rules)
        row("If-Match the tag: send it", SEND, if_match=ETAG),
        row("If-Match another tag: 412", PRECONDITION_FAILED, if_match='"xyz"'),
        row("If-Match a weak tag: 412 (strong comparison)", PRECONDITION_FAILED, if_match='W/"abc"'),
        row("If-Match decides over If-None-Match", PRECONDITION_FAILED, if_match='"xyz"', if_none_match=ETAG),
    ],
)
def test_the_conditional_decision(headers: dict[str, str], expected: int | None) -> None:
    assert evaluate(ETAG, LAST_MODIFIED, **headers) == expected


@pytest.mark.parametrize(
    ("etag", "last_modified", "headers", "expected"),
    [
        pytest.param(None, LAST_MODIFIED, {"if_modified_since": SAME}, NOT_MODIFIED, id="no ETag: the date decides"),
        pytest.param(None, LAST_MODIFIED, {"if_none_match": ETAG}, SEND, id="no ETag: an If-None-Match never matches"),
        pytest.param(ETAG, None, {"if_modified_since": LATER}, SEND, id="no Last-Modified: a date never matches"),
        pytest.param(ETAG, SAME, {"if_modified_since": SAME}, NOT_MODIFIED, id="Last-Modified as a header value"),
    ],
)
def test_the_decision_without_one_validator(
    etag: str | None, last_modified: datetime | str | None, headers: dict[str, str], expected: int | None
) -> None:
    assert evaluate(etag, last_modified, **headers) == expected


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        pytest.param(None, False, id="no header: identity"),
        pytest.param("", False, id="an empty header: identity"),
        pytest.param("gzip", True, id="gzip"),
        pytest.param("GZIP", True, id="coding names in any case"),
        pytest.param("Gzip;Q=0", False, id="parameter names in any case"),
        pytest.param("gzip;q=0", False, id="q=0 refuses gzip"),
        pytest.param("gzip; q=0.000", False, id="q=0 written long refuses gzip"),
        pytest.param("gzip;q=0.001", True, id="the smallest q above 0 accepts gzip"),
        pytest.param("gzip;q=1.0", True, id="q=1 accepts gzip"),
        pytest.param("br, gzip;q=0.8", True, id="gzip among others with a lower q"),
        pytest.param("deflate, gzip", True, id="gzip listed second"),
        pytest.param("deflate, br", False, id="only codings we do not make"),
        pytest.param("identity", False, id="identity alone"),
        pytest.param("identity, gzip;q=0.5", True, id="identity preferred, gzip acceptable: gzip"),
        pytest.param("*", True, id="star accepts gzip"),
        pytest.param("*;q=0", False, id="star with q=0 refuses everything"),
        pytest.param("br, *;q=0.1", True, id="star with a low q accepts gzip"),
        pytest.param("*;q=0.5, gzip;q=0", False, id="an explicit gzip q=0 wins over star"),
        pytest.param("gzip;q=0, *", False, id="an explicit gzip q=0 wins over a star after it"),
        pytest.param("gzip, *;q=0", True, id="an explicit gzip wins over star q=0"),
        pytest.param("identity;q=0, *;q=0", False, id="nothing acceptable: no gzip"),
        pytest.param("x-gzip", True, id="x-gzip is gzip"),
        pytest.param("x-gzip;q=0", False, id="x-gzip with q=0 refuses gzip"),
        pytest.param("x-gzip;q=0, *", False, id="an explicit x-gzip q=0 wins over star"),
        pytest.param("gzip;q=0, x-gzip", False, id="with both names, gzip's own decides"),
        pytest.param("gzip;q=2", False, id="a q above 1 is no preference"),
    ],
)
def test_gzip_negotiation(accept_encoding: str | None, expected: bool) -> None:
    assert accepts_gzip(parse_accept_header(accept_encoding)) is expected


# --- the same rules through a real route -------------------------------------------------------------


def served(client: Any, path: str) -> dict[str, str]:
    """The validators a client holding each copy of ``path`` would send back."""
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    return {
        "etag": plain.headers["ETag"],
        "gzip_etag": zipped.headers["ETag"],
        "date": plain.headers.get("Last-Modified"),
    }


@pytest.mark.parametrize(
    ("path", "headers", "status", "selected"),
    [
        pytest.param("/feed.atom", {}, 200, None, id="no validators: the feed"),
        pytest.param("/feed.atom", {"If-None-Match": "{etag}"}, 304, None, id="its tag: 304"),
        pytest.param("/feed.atom", {"If-None-Match": "W/{etag}"}, 304, None, id="its tag, weak: 304"),
        pytest.param("/feed.atom", {"If-None-Match": '"a", {etag}, "b"'}, 304, None, id="a list holding its tag: 304"),
        pytest.param("/feed.atom", {"If-None-Match": "*"}, 304, None, id="star: 304"),
        pytest.param("/feed.atom", {"If-None-Match": '"other"'}, 200, None, id="another tag: the feed"),
        pytest.param(
            "/feed.atom",
            {"If-None-Match": "{gzip_etag}", "Accept-Encoding": "gzip"},
            304,
            "gzip",
            id="the gzip copy's tag, asking for gzip: 304",
        ),
        pytest.param(
            "/feed.atom",
            {"If-None-Match": "{etag}", "Accept-Encoding": "gzip"},
            200,
            "gzip",
            id="the identity copy's tag, asking for gzip: the gzip copy",
        ),
        pytest.param(
            "/feed.atom", {"If-None-Match": "{gzip_etag}"}, 200, None, id="the gzip copy's tag, not asking: identity"
        ),
        pytest.param("/feed.atom", {"If-Modified-Since": "{date}"}, 304, None, id="its date: 304"),
        pytest.param("/feed.atom", {"If-Modified-Since": "not a date"}, 200, None, id="a bad date is ignored"),
        pytest.param(
            "/feed.atom",
            {"If-None-Match": '"other"', "If-Modified-Since": "{date}"},
            200,
            None,
            id="If-None-Match wins over its date",
        ),
        pytest.param("/feed.atom", {"If-Match": '"other"'}, 200, None, id="If-Match is ignored on cached outputs"),
        pytest.param("/feed.atom", {"Accept-Encoding": "gzip;q=0"}, 200, None, id="gzip;q=0: identity"),
        pytest.param("/feed.atom", {"Accept-Encoding": "*;q=0"}, 200, None, id="star q=0: identity"),
        pytest.param("/feed.atom", {"Accept-Encoding": "*"}, 200, "gzip", id="star: gzip"),
        pytest.param("/feed.atom", {"Accept-Encoding": "GZIP"}, 200, "gzip", id="GZIP: gzip"),
        pytest.param("/robots.txt", {"Accept-Encoding": "gzip"}, 200, None, id="a small body is never gzipped"),
        pytest.param("/healthz", {"If-None-Match": "{etag}"}, 304, None, id="outside the cache: its tag, 304"),
        pytest.param("/healthz", {"If-None-Match": "W/{etag}"}, 304, None, id="outside the cache: weak tag, 304"),
        pytest.param("/healthz", {"If-Match": '"other"'}, 412, None, id="outside the cache: If-Match fails, 412"),
    ],
)
def test_conditional_get_through_a_route(
    make_app: Callable[..., Any], path: str, headers: dict[str, str], status: int, selected: str | None
) -> None:
    """``selected``: the copy answered (or confirmed by the 304): ``gzip``, or None for identity."""
    app = make_app()
    client = app.test_client()
    validators = served(client, path)
    sent = {name: value.format(**validators) for name, value in headers.items()}
    answer = client.get(path, headers=sent)
    assert answer.status_code == status
    assert answer.headers["ETag"] == validators["gzip_etag" if selected else "etag"]
    if status == 304:
        assert answer.data == b"" and "Content-Encoding" not in answer.headers
        return
    assert answer.headers.get("Content-Encoding") == selected
    if path == "/feed.atom":
        assert b"<feed" in (gzip.decompress(answer.data) if selected else answer.data)
        assert answer.headers["Vary"] == "Accept-Encoding"
