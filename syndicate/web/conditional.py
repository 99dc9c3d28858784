"""Conditional GET and gzip negotiation, decided once for every route, on werkzeug's own parsing.

Pure functions of header values, so the rules can be read (and tested) apart from any request:

* ``evaluate`` -- RFC 9110, 13.2.2: If-None-Match, when present, decides alone (weak comparison, so
  ``W/"x"`` matches ``"x"``; ``*`` matches the current representation; a list matches if any of its
  tags does); else If-Modified-Since (a date that does not parse is ignored). Where the route asks for
  it, If-Match too, with werkzeug's ``make_conditional`` semantics (which those routes always had).
* ``accepts_gzip`` -- Accept-Encoding with q-values: an explicit ``gzip`` (or, alone, ``x-gzip``)
  decides over ``*``; ``q=0`` refuses; no header, ``identity`` or codings we do not make mean no gzip.

The validators passed in are those of the representation being selected: a gzip answer has its own
strong ETag (``"<digest>-gz"``, RFC 9110, 8.8.3), so a client holding the gzip copy revalidates with
that tag and one holding the identity copy with the other.
"""

from __future__ import annotations

from datetime import datetime

from werkzeug.datastructures import Accept
from werkzeug.http import is_resource_modified, parse_etags

NOT_MODIFIED = 304
PRECONDITION_FAILED = 412


def evaluate(
    etag: str | None,
    last_modified: datetime | str | None,
    *,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    if_match: str | None = None,
) -> int | None:
    """The status that answers a GET or HEAD instead of the representation (304, or 412 for a failed
    If-Match), or None to send it. ``etag`` (quoted) and ``last_modified`` are the selected
    representation's validators; ``if_*`` the request's header values (None: not sent)."""
    if if_none_match is not None:
        if_modified_since = None  # present at all, If-None-Match decides (even an empty or unreadable one)
    headers = {
        "HTTP_IF_NONE_MATCH": if_none_match,
        "HTTP_IF_MODIFIED_SINCE": if_modified_since,
        "HTTP_IF_MATCH": if_match,
    }
    environ = {name: value for name, value in headers.items() if value is not None}
    if is_resource_modified(environ, etag, last_modified=last_modified):
        return None
    return PRECONDITION_FAILED if parse_etags(if_match) else NOT_MODIFIED


def accepts_gzip(accept_encodings: Accept) -> bool:
    """Whether a client with these Accept-Encoding preferences (``request.accept_encodings``) takes gzip."""
    listed = {value.lower() for value, _ in accept_encodings}
    coding = "x-gzip" if "x-gzip" in listed and "gzip" not in listed else "gzip"  # x-gzip: gzip's old name
    return accept_encodings.quality(coding) > 0
