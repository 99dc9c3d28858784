"""The Indeed-style XML job feed: every open posting, text in CDATA, ``referencenumber`` = the id.

Written directly rather than through an XML library because CDATA sections need
care a library will not take: a ``]]>`` inside the text is split across two
sections, and characters XML forbids are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from syndicate.model import Posting, Remote
from syndicate.outputs import present
from syndicate.outputs.feeds import xml_text

JOB_TYPES = {
    "FULL_TIME": "fulltime",
    "PART_TIME": "parttime",
    "CONTRACTOR": "contract",
    "TEMPORARY": "temporary",
    "INTERN": "internship",
    "VOLUNTEER": "volunteer",
    "PER_DIEM": "perdiem",
    "OTHER": "other",
}
REMOTE_TYPES = {Remote.ONLY: "Fully remote", Remote.ALLOWED: "Hybrid remote"}


def cdata(text: str) -> str:
    return "<![CDATA[" + xml_text(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, text: str | None) -> str:
    return f"<{name}>{cdata(text)}</{name}>" if text else ""


def http_date(value: datetime) -> str:
    return format_datetime(value, usegmt=True)


def job_xml(p: Posting, url: str) -> str:
    first = p.locations[0] if p.locations else None
    parts = [
        _element("title", p.title),
        _element("date", http_date(p.date_posted)) if p.date_posted else "",
        _element("referencenumber", p.id),
        _element("url", url),
        _element("company", p.company.name),
        _element("sourcename", p.company.name),
    ]
    if first is not None and first.is_structured:
        parts += [
            _element("streetaddress", first.street),
            _element("city", first.city),
            _element("state", first.region),
            _element("country", first.country),
            _element("postalcode", first.postal_code),
        ]
    elif first is not None:
        parts.append(_element("city", first.text))
    parts += [
        _element("description", p.description_html),
        _element("salary", present.salary_text(p.salary)),
        _element("education", p.education),
        _element("jobtype", ", ".join(JOB_TYPES[t] for t in p.employment_types)),
        _element("category", ", ".join(p.tags)),
        _element("experience", p.experience),
        _element("remotetype", REMOTE_TYPES.get(p.remote)),
        _element("expirationdate", http_date(p.valid_through)) if p.valid_through else "",
        _element("applyurl", p.apply_url),
    ]
    return "<job>\n" + "\n".join(part for part in parts if part) + "\n</job>\n"


def render_indeed(
    jobs: Iterable[tuple[Posting, str]], *, publisher: str, publisher_url: str, updated: datetime
) -> bytes:
    """``jobs`` are (posting, page URL) pairs, newest first."""
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<source>\n'
        f"<publisher>{escape(xml_text(publisher))}</publisher>\n"
        f"<publisherurl>{escape(publisher_url)}</publisherurl>\n"
        f"<lastBuildDate>{http_date(updated)}</lastBuildDate>\n"
    )
    body = "".join(job_xml(p, url) for p, url in jobs)
    return (head + body + "</source>\n").encode()
