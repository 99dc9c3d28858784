"""JobPosting JSON-LD as Google's crawler sees it: extracted by extruct from the real page."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import extruct
import pytest
from conftest import posting_text, write

from syndicate.outputs.jsonld import google_description, script_json

BASE = "https://jobs.example"


@pytest.fixture
def shipped(make_app: Callable[..., Any]) -> Any:
    return make_app(base_url=BASE).test_client()


def job_ld(client: Any, posting_id: str) -> dict[str, Any]:
    """The one JSON-LD object on the posting's page, as extruct extracts it."""
    response = client.get(f"/jobs/{posting_id}")
    assert response.status_code == 200
    found = extruct.extract(response.text, base_url=f"{BASE}/jobs/{posting_id}", syntaxes=["json-ld"])["json-ld"]
    assert len(found) == 1
    standalone = json.loads(client.get(f"/jobs/{posting_id}.jsonld").data)
    assert standalone == found[0], "the page and /jobs/<id>.jsonld carry the same object"
    return found[0]


def test_fully_remote_posting_is_telecommute_with_applicant_countries(shipped: Any) -> None:
    ld = job_ld(shipped, "verdant-grid-data-engineer")
    assert ld["@context"] == "https://schema.org/" and ld["@type"] == "JobPosting"
    assert ld["title"] == "Data Engineer, Grid Forecasting"
    assert ld["jobLocationType"] == "TELECOMMUTE"
    assert ld["applicantLocationRequirements"] == [
        {"@type": "Country", "name": "DE"},
        {"@type": "Country", "name": "AT"},
        {"@type": "Country", "name": "CH"},
    ]
    assert "jobLocation" not in ld, "the file names no office, so none is invented"
    assert ld["baseSalary"] == {
        "@type": "MonetaryAmount",
        "currency": "EUR",
        "value": {"@type": "QuantitativeValue", "minValue": 70000, "maxValue": 90000, "unitText": "YEAR"},
    }
    assert ld["datePosted"] == "2026-11-02T08:30:00Z"
    assert ld["validThrough"] == "2027-03-31T23:59:59Z"
    assert ld["employmentType"] == "FULL_TIME"
    assert ld["identifier"] == {"@type": "PropertyValue", "name": "Verdant Grid", "value": "verdant-grid-data-engineer"}
    assert ld["hiringOrganization"]["name"] == "Verdant Grid"
    assert ld["hiringOrganization"]["sameAs"] == "https://verdant-grid.example/"
    assert ld["hiringOrganization"]["logo"] == f"{BASE}/static/logos/verdant-grid.svg"  # a shipped logo
    assert ld["url"] == f"{BASE}/jobs/verdant-grid-data-engineer"


def test_hybrid_posting_has_postal_addresses_and_no_telecommute(shipped: Any) -> None:
    ld = job_ld(shipped, "harbourside-clinical-systems-analyst")
    assert "jobLocationType" not in ld, "TELECOMMUTE only for fully remote jobs"
    first = ld["jobLocation"][0]["address"]
    assert first == {
        "@type": "PostalAddress",
        "streetAddress": "14 Quayside Road",
        "addressLocality": "Bristol",
        "addressRegion": "England",
        "postalCode": "BS1 6QA",
        "addressCountry": "GB",
    }
    assert len(ld["jobLocation"]) == 2
    assert ld["baseSalary"]["value"] == {"@type": "QuantitativeValue", "value": 48500, "unitText": "YEAR"}
    assert ld["employmentType"] == ["FULL_TIME", "PART_TIME"]


def test_hourly_on_site_posting(shipped: Any) -> None:
    ld = job_ld(shipped, "kestrel-robotics-field-service-engineer")
    assert ld["baseSalary"]["value"]["unitText"] == "HOUR"
    assert (ld["baseSalary"]["value"]["minValue"], ld["baseSalary"]["value"]["maxValue"]) == (38, 52)
    assert ld["directApply"] is True
    assert ld["jobLocation"][0]["address"]["postalCode"] == "94607", "a ZIP code keeps its leading digits as text"
    assert "applicantLocationRequirements" not in ld


def test_nothing_is_invented_for_what_the_seed_posting_does_not_say(shipped: Any) -> None:
    ld = job_ld(shipped, "rustfoundation-senior-rust-developer")
    for absent in ("baseSalary", "jobLocation", "jobLocationType", "employmentType", "validThrough", "directApply"):
        assert absent not in ld, absent
    assert ld["hiringOrganization"] == {"@type": "Organization", "name": "RustFoundation"}
    assert "Rust’s" in ld["description"], "the mojibake of the handed-over file is repaired"
    assert "â€" not in ld["description"]


def test_the_description_keeps_only_paragraphs_lists_and_breaks(shipped: Any) -> None:
    ld = job_ld(shipped, "verdant-grid-data-engineer")
    tags = {t.split()[0].strip("/<>") for t in __import__("re").findall(r"</?[a-zA-Z][^>]*>", ld["description"])}
    assert tags <= {"p", "ul", "li", "br"}
    assert "About Verdant Grid" in ld["description"], "a heading's words stay, as a paragraph"


def test_google_description_turns_blocks_into_paragraphs_and_keeps_text() -> None:
    html = '<h2>Role</h2><ol><li>One <strong>bold</strong></li></ol><p><a href="https://x.example">link</a></p>'
    assert google_description(html) == "<p>Role</p><ul><li>One bold</li></ul><p>link</p>"


def test_script_json_cannot_end_the_script_element() -> None:
    text = script_json({"title": "</script><script>alert(1)</script><!-- & -->"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"title": "</script><script>alert(1)</script><!-- & -->"}


def test_a_free_text_location_stays_text(make_app: Callable[..., Any], postings_dir: Path) -> None:
    write(postings_dir, "a.md", posting_text("a", location="Portland, OR – Alberta Street bakery"))
    client = make_app(postings_dir, base_url=BASE).test_client()
    assert job_ld(client, "a")["jobLocation"] == [{"@type": "Place", "address": "Portland, OR – Alberta Street bakery"}]


def test_everything_in_the_json_ld_is_visible_on_the_page(shipped: Any) -> None:
    page = shipped.get("/jobs/harbourside-clinical-systems-analyst").text
    for visible in (
        "Clinical Systems Analyst",
        "Harbourside General Hospital",
        "14 Quayside Road",
        "BS10 5NB",
        "£48,500 a year",
        "Full-time",
        "Part-time",
        "9 November 2026",
        "15 December 2026",
        "harbourside-clinical-systems-analyst",
        "Digital Health",
    ):
        assert visible in page, visible
