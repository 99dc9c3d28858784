"""One posting as it will appear, before it is published: its page (the web's own rendering) and what
each destination will make of it (the page and its JSON-LD, the feeds, the Indeed feed, the boards).

Pure: a read result, a moment, links and the site in; a ``Rendered`` page and notes out. Nothing here
reads the store: a file without ``date_posted`` is shown dated ``now``, which is what the loader gives
it when it is first seen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from syndicate.model import Posting, Status
from syndicate.outputs import indeed
from syndicate.outputs import render as outputs
from syndicate.outputs.rendered import Rendered
from syndicate.outputs.urls import FEED_PATHS, Links
from syndicate.postings.lint import posting_warnings
from syndicate.postings.reader import ReadResult

if TYPE_CHECKING:
    from syndicate.push.boards import Board

# what the Indeed feed's spec asks of every <job> that a posting may leave out
INDEED_ELEMENTS = ("city", "state", "country", "salary", "jobtype", "expirationdate", "applyurl")
NOT_PUBLISHED = "not in any feed, sitemap, board or ping until status: open"


@dataclass(frozen=True, slots=True)
class Note:
    """What one destination will make of the posting."""

    destination: str
    message: str

    def __str__(self) -> str:
        return f"{self.destination}: {self.message}" if self.destination else self.message


def dated(posting: Posting, now: datetime) -> Posting:
    """The posting with the dates the loader would give it if it were first seen ``now``."""
    return replace(posting, date_posted=posting.date_posted or now, updated=posting.updated or now)


def page(posting: Posting, now: datetime, links: Links, site: outputs.Site) -> Rendered:
    """The page ``/jobs/<id>`` will answer with once the posting is served: the job page with its
    JSON-LD for a draft or an open posting, the 410 page for a closed or expired one."""
    shown = dated(posting, now)
    if shown.status is Status.CLOSED or shown.is_expired_at(now):
        return outputs.gone_page(shown, links, site)
    return outputs.job_page(shown, links, site)


def _missing_in_indeed(posting: Posting, url: str) -> list[str]:
    xml = indeed.job_xml(posting, url)
    return [name for name in INDEED_ELEMENTS if not re.search(f"<{name}>", xml)]


def notes(
    result: ReadResult,
    now: datetime,
    links: Links,
    boards: Sequence[Board] | None,
    stale: Posting | None = None,
) -> list[Note]:
    """Per destination, what lint says about this file and where it will (not) appear.

    ``boards`` is ``None`` when the boards file cannot be read (the note says so elsewhere); ``stale`` is
    the last good version the server still serves of a broken file (``served.stale_versions``).
    """
    posting = result.posting
    found = [Note("", str(p)) for p in result.problems]  # lint's own words: file, field, level, reason
    if posting is None and stale is not None:
        return [
            *found,
            Note(
                "everywhere",
                f"stale: the server still serves the last good version ({stale.title!r}, /jobs/{stale.id}) "
                "everywhere until the file is fixed, deleted or closed: fix the error(s) above",
            ),
        ]
    if posting is None:
        return [*found, Note("everywhere", "left out of every output: fix the error(s) above")]
    url = links.job(posting.id)
    # a missing date_posted is lint's own warning above: said once
    expired = posting.is_expired_at(now)
    if posting.status is Status.DRAFT:
        found.append(Note("status", f"draft: {NOT_PUBLISHED}; /jobs/{posting.id} answers 404 meanwhile"))
    elif posting.status is Status.CLOSED:
        found.append(Note("status", f"closed: /jobs/{posting.id} answers 410 without JSON-LD; in no feed or sitemap"))
    elif expired:
        found.append(Note("status", f"expired: /jobs/{posting.id} answers 410 without JSON-LD; in no feed or sitemap"))
    # Google's advice as it will apply once the posting is open (a draft is linted as if it were)
    advice = posting_warnings(replace(posting, status=Status.OPEN), now)
    page_name = f"page /jobs/{posting.id} (JSON-LD for Google for Jobs)"
    if posting.status is Status.CLOSED or expired:
        found.append(Note(page_name, "no JSON-LD on a 410 page"))
    else:
        found += [Note(page_name, f"{p.field}: {p.level}: {p.message}") for p in advice]
        if not advice:
            found.append(Note(page_name, "no warnings"))
    listed = posting.is_open_at(now)
    why = "draft" if posting.status is Status.DRAFT else "closed" if posting.status is Status.CLOSED else "expired"
    feeds = ", ".join(FEED_PATHS[f] for f in ("rss", "atom", "json"))
    found.append(Note(f"feeds ({feeds}, /sitemap.xml, /api/postings)", "listed" if listed else f"not listed ({why})"))
    if listed:
        missing = _missing_in_indeed(posting, url)
        indeed_note = f"listed; its <job> has no {', '.join(f'<{m}>' for m in missing)}" if missing else "listed"
    else:
        indeed_note = f"not listed ({why})"
    found.append(Note(f"Indeed feed ({FEED_PATHS['indeed']})", indeed_note))
    found += _board_notes(posting, listed, why, boards)
    return found


def _board_notes(posting: Posting, listed: bool, why: str, boards: Sequence[Board] | None) -> list[Note]:
    if boards is None:
        return []
    if not boards:
        return [Note("boards", "none configured")]
    if posting.status is Status.DRAFT:
        return [Note("boards", f"none is sent anything ({why})")]
    found = []
    for board in boards:
        name = f"board {board.name}"
        if not board.matches(posting.tags):
            found.append(Note(name, f"not sent: it takes only tags {', '.join(sorted(board.tags))}"))
        elif listed:
            wanted = [e for e in ("posting.created", "posting.updated") if board.wants(e)]
            found.append(Note(name, f"{' or '.join(wanted) or 'nothing'} on the next scan"))
        else:
            closing = "posting.closed" if board.wants("posting.closed") else "nothing"
            found.append(Note(name, f"{closing} if it was sent the posting before, else nothing ({why})"))
    return found
