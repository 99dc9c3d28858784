"""schema.org ``JobPosting`` JSON-LD from a ``Posting``: one pure function, used by every output.

Follows Google's JobPosting guide: required title, description, datePosted,
hiringOrganization, jobLocation (or TELECOMMUTE with applicant locations);
recommended properties when the posting gives them. Nothing is invented: a
field the posting lacks is left out, and lint says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

import nh3

from syndicate.model import Address, Posting, Remote, Salary
from syndicate.outputs.present import iso_text, json_number
from syndicate.outputs.urls import site_url

CONTEXT = "https://schema.org/"

# Google keeps only these in a JobPosting description; block elements that carry
# text become paragraphs and ordered lists become lists, so no words run together.
_DESCRIPTION_TAGS = {"p", "ul", "li", "br"}
_TO_PARAGRAPH = re.compile(r"<(/?)(?:h[1-6]|blockquote|pre|table|tr|dd|dt|hr)\b[^>]*>")
_TO_LIST = re.compile(r"<(/?)ol\b[^>]*>")
_DESCRIPTION_CLEANER = nh3.Cleaner(tags=_DESCRIPTION_TAGS, attributes={}, link_rel=None, strip_comments=True)
_EMPTY_PARAGRAPH = re.compile(r"<p>\s*</p>")


def google_description(html: str) -> str:
    """The description reduced to ``p``, ``ul``, ``li`` and ``br``; the text is kept."""
    html = _TO_PARAGRAPH.sub(r"<\1p>", html)
    html = _TO_LIST.sub(r"<\1ul>", html)
    return _EMPTY_PARAGRAPH.sub("", _DESCRIPTION_CLEANER.clean(html)).strip()


def _postal_address(a: Address) -> dict[str, Any] | str:
    if a.text is not None:
        return a.text
    out: dict[str, Any] = {"@type": "PostalAddress"}
    for key, value in (
        ("streetAddress", a.street),
        ("addressLocality", a.city),
        ("addressRegion", a.region),
        ("postalCode", a.postal_code),
        ("addressCountry", a.country),
    ):
        if value:
            out[key] = value
    return out


def _salary(s: Salary) -> dict[str, Any]:
    amount: dict[str, Any] = {"@type": "QuantitativeValue"}
    if s.value is not None:
        amount["value"] = json_number(s.value)
    if s.min is not None:
        amount["minValue"] = json_number(s.min)
    if s.max is not None:
        amount["maxValue"] = json_number(s.max)
    amount["unitText"] = s.unit
    return {"@type": "MonetaryAmount", "currency": s.currency, "value": amount}


def _organization(p: Posting, url: str) -> dict[str, Any]:
    org: dict[str, Any] = {"@type": "Organization", "name": p.company.name}
    if p.company.url:
        org["sameAs"] = p.company.url
    if p.company.logo:
        org["logo"] = site_url(p.company.logo, url)  # a shipped logo's site path, absolute as Google wants
    return org


def job_posting(p: Posting, url: str, *, description: bool = True) -> dict[str, Any]:
    """The JobPosting object for ``p``, whose page is at ``url`` (``description=False``: without
    the description, for outputs that carry it themselves)."""
    data: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "JobPosting",
        "title": p.title,
        "identifier": {"@type": "PropertyValue", "name": p.company.name, "value": p.id},
        "hiringOrganization": _organization(p, url),
        "url": url,
    }
    text = google_description(p.description_html) if description else ""
    if text:  # an empty body is left out (lint warns), not sent as ""
        data["description"] = text
    if p.date_posted:
        data["datePosted"] = iso_text(p.date_posted)
    if p.valid_through:
        data["validThrough"] = iso_text(p.valid_through)
    if p.employment_types:
        types = list(p.employment_types)
        data["employmentType"] = types[0] if len(types) == 1 else types
    if p.locations:
        data["jobLocation"] = [{"@type": "Place", "address": _postal_address(a)} for a in p.locations]
    if p.remote is Remote.ONLY:
        data["jobLocationType"] = "TELECOMMUTE"
    if p.applicant_locations and p.remote is not Remote.NO:
        data["applicantLocationRequirements"] = [{"@type": a.kind, "name": a.name} for a in p.applicant_locations]
    if p.salary:
        data["baseSalary"] = _salary(p.salary)
    if p.direct_apply is not None:
        data["directApply"] = p.direct_apply
    if p.experience:
        data["experienceRequirements"] = p.experience
    if p.education:
        data["educationRequirements"] = p.education
    if p.department:
        data["hiringOrganization"]["department"] = {"@type": "Organization", "name": p.department}
    return data


_SCRIPT_UNSAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def script_json(data: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``</script>``, ``<!--`` or ``&`` can appear.

    The escapes are JSON string escapes, so every JSON parser reads the same values.
    """
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False).translate(_SCRIPT_UNSAFE)
