"""Human-readable text for a posting's fields: one wording for the HTML pages and the Indeed feed.

Pure functions; every one returns '' (or an empty list) for a field the posting
does not give, so templates never print "None" and nothing is made up.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from syndicate.model import Address, Posting, Remote, Salary

EMPLOYMENT_WORDS = {
    "FULL_TIME": "Full-time",
    "PART_TIME": "Part-time",
    "CONTRACTOR": "Contract",
    "TEMPORARY": "Temporary",
    "INTERN": "Internship",
    "VOLUNTEER": "Volunteer",
    "PER_DIEM": "Per diem",
    "OTHER": "Other",
}
UNIT_WORDS = {"HOUR": "hour", "DAY": "day", "WEEK": "week", "MONTH": "month", "YEAR": "year"}
REMOTE_WORDS = {Remote.NO: "On site", Remote.ALLOWED: "Remote possible", Remote.ONLY: "Fully remote"}


def address_text(a: Address) -> str:
    if a.text is not None:
        return a.text
    return ", ".join(x for x in (a.street, a.city, a.region, a.postal_code, a.country) if x)


def place_text(a: Address) -> str:
    """A short place name for lists: city, region, country."""
    if a.text is not None:
        return a.text
    return ", ".join(x for x in (a.city, a.region, a.country) if x) or address_text(a)


def locations_text(posting: Posting) -> str:
    """Each place once: two sites in one city read as that city."""
    return "; ".join(dict.fromkeys(place_text(a) for a in posting.locations))


def applicant_locations_text(posting: Posting) -> str:
    return ", ".join(a.name for a in posting.applicant_locations)


def remote_text(posting: Posting) -> str:
    """'Fully remote (DE, AT, CH)', 'Remote possible' or 'On site'."""
    words = REMOTE_WORDS[posting.remote]
    where = applicant_locations_text(posting)
    return f"{words} ({where})" if where and posting.remote is not Remote.NO else words


def where_text(posting: Posting) -> str:
    """One line for a list: places, then how remote."""
    places = locations_text(posting)
    if posting.remote is Remote.NO:
        return places
    return f"{places} · {remote_text(posting)}" if places else remote_text(posting)


def employment_text(posting: Posting) -> str:
    return ", ".join(EMPLOYMENT_WORDS[t] for t in posting.employment_types)


def amount_text(amount: float) -> str:
    """70,000 or 19.5: the amount as written, with thousands separated."""
    return f"{json_number(amount):,}"


def salary_text(salary: Salary | None) -> str:
    """'EUR 70,000–90,000 per year', 'GBP 48,500 per year', 'from USD 20 per hour'."""
    if salary is None:
        return ""
    per = f"per {UNIT_WORDS[salary.unit]}"
    if salary.value is not None:
        return f"{salary.currency} {amount_text(salary.value)} {per}"
    if salary.min is not None and salary.max is not None:
        return f"{salary.currency} {amount_text(salary.min)}–{amount_text(salary.max)} {per}"
    if salary.min is not None:
        return f"from {salary.currency} {amount_text(salary.min)} {per}"
    if salary.max is not None:
        return f"up to {salary.currency} {amount_text(salary.max)} {per}"
    return ""


def date_text(value: datetime | None, tz: tzinfo | None = None) -> str:
    """'27 November 2026' in ``tz`` (the zone the posting files are written in), or ''."""
    if value is None:
        return ""
    local = value.astimezone(tz) if tz else value
    return f"{local.day} {local:%B %Y}"


def iso_text(value: datetime | None) -> str:
    """ISO 8601 in UTC with a 'Z', to the second, as schema.org, sitemaps and JSON Feed want it."""
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z") if value else ""


def json_number(value: float) -> int | float:
    """70000.0 as 70000: amounts read as written."""
    return int(value) if value == int(value) else value


_HEADING = re.compile(r"<(/?)h([1-5])\b")


def page_description(html: str) -> str:
    """The description under the page's own ``h1``: every heading one level down (h6 stays)."""
    return _HEADING.sub(lambda m: f"<{m.group(1)}h{int(m.group(2)) + 1}", html)
