"""The JSON API's objects: a posting with its fields named as in the posting files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from syndicate.model import Address, Posting, Remote
from syndicate.outputs.present import iso_text, json_number
from syndicate.outputs.urls import Links

REMOTE_VALUES = {Remote.NO: False, Remote.ALLOWED: True, Remote.ONLY: "only"}


def _address(a: Address) -> dict[str, str] | str:
    if a.text is not None:
        return a.text
    fields = (
        ("street", a.street),
        ("city", a.city),
        ("region", a.region),
        ("postal_code", a.postal_code),
        ("country", a.country),
    )
    return {key: value for key, value in fields if value}


def posting_object(p: Posting, links: Links) -> dict[str, Any]:
    """Every field a posting file can give, plus its URLs and the store's dates."""
    logo = links.asset(p.company.logo) if p.company.logo else None
    company = {"name": p.company.name, "url": p.company.url, "logo": logo}
    salary = None
    if p.salary:
        s = p.salary
        amounts = (("min", s.min), ("max", s.max), ("value", s.value))
        salary = {k: json_number(v) for k, v in amounts if v is not None}
        salary |= {"currency": s.currency, "per": s.unit}
    return {
        "id": p.id,
        "url": links.job(p.id),
        "title": p.title,
        "company": {k: v for k, v in company.items() if v},
        "location": [_address(a) for a in p.locations],
        "remote": REMOTE_VALUES[p.remote],
        "applicant_locations": [a.name for a in p.applicant_locations],
        "employment_type": list(p.employment_types),
        "salary": salary,
        "date_posted": iso_text(p.date_posted) or None,
        "valid_through": iso_text(p.valid_through) or None,
        "updated": iso_text(p.updated) or None,
        "apply_url": p.apply_url,
        "direct_apply": p.direct_apply,
        "status": p.status.value,
        "tags": list(p.tags),
        "department": p.department,
        "experience": p.experience,
        "education": p.education,
        "description_html": p.description_html,
        "jsonld_url": links.job_jsonld(p.id),
    }


def render_list(postings: Sequence[Posting], links: Links, *, total: int, next_url: str | None) -> bytes:
    body = {"postings": [posting_object(p, links) for p in postings], "total": total, "next": next_url}
    return json_bytes(body)


def render_one(p: Posting, links: Links) -> bytes:
    return json_bytes(posting_object(p, links))


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
