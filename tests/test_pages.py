"""The careers pages read like a careers site: places in words and salaries as people write them, in the
site's language; a logo falls back to the company's initials; a page per company with its feeds; the apply
button again after the description; the index newest first. Machines keep the codes.

The wording is tested as pure functions; what is about HTTP (status codes, validators, the language a
process is started with) against gunicorn serving the shipped postings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import extruct
import feedparser
import pytest
import requests
from conftest import REPO_ROOT, SHIPPED, migrate, posting_text, write
from lxml import etree, html
from processes import Web, service_env

from syndicate.model import Address, ApplicantLocation, Salary
from syndicate.outputs.present import initials, words
from syndicate.outputs.sitemap import SITEMAP_NS
from syndicate.outputs.urls import company_slug, site_url
from syndicate.postings.schema import validate_front_matter
from syndicate.settings import SettingsError, load_settings

NBSP = "\u00a0"
LOGOS = REPO_ROOT / "syndicate" / "outputs" / "static" / "logos"


def region(code: str) -> ApplicantLocation:
    return ApplicantLocation("AdministrativeArea", code)


def country(code: str) -> ApplicantLocation:
    return ApplicantLocation("Country", code)


PACIFIC = [region("US-CA"), region("US-OR"), region("US-WA"), region("CA-BC")]
DACH = [country("DE"), country("AT"), country("CH")]


# --- places in words -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "address", "expected"),
    [
        ("en", Address(city="Bristol", region="England", country="GB"), "Bristol, England, United Kingdom"),
        ("en", Address(city="Oakland", region="CA", country="US"), "Oakland, California, United States"),
        ("en", Address(city="Oakland", region="US-CA", country="US"), "Oakland, California, United States"),
        ("de", Address(city="Oakland", region="CA", country="US"), "Oakland, Kalifornien, Vereinigte Staaten"),
        ("de", Address(city="London", country="GB"), "London, Vereinigtes Königreich"),
        ("fr-CA", Address(city="Vancouver", region="BC", country="CA"), "Vancouver, Colombie-Britannique, Canada"),
        ("en", Address(city="Atlantis", region="Deep", country="Atlantic"), "Atlantis, Deep, Atlantic"),  # as written
        ("en", Address(city="Springfield", region="ZZ", country="US"), "Springfield, ZZ, United States"),
        ("en", Address(text="Portland, OR – Alberta Street bakery"), "Portland, OR – Alberta Street bakery"),
    ],
)
def test_a_place_is_named_in_the_site_language(language: str, address: Address, expected: str) -> None:
    assert words(language).place(address) == expected


def test_a_full_address_names_its_region_and_country() -> None:
    a = Address(street="14 Quayside Road", city="Bristol", region="England", postal_code="BS1 6QA", country="GB")
    assert words("en").address(a) == "14 Quayside Road, Bristol, England, BS1 6QA, United Kingdom"


@pytest.mark.parametrize(
    ("language", "places", "expected"),
    [
        ("en", PACIFIC, "California, Oregon, Washington, United States; British Columbia, Canada"),
        ("en", DACH, "Germany, Austria, Switzerland"),
        ("de", DACH, "Deutschland, Österreich, Schweiz"),
        ("de", PACIFIC[:1], "Kalifornien, Vereinigte Staaten"),
        ("en", [region("US-CA"), country("DE")], "California, United States; Germany"),
        ("en", [country("US"), region("US-CA")], "United States"),  # the whole country covers its regions
        ("en", [country("EU"), country("Worldwide")], "European Union, Worldwide"),
    ],
)
def test_applicant_locations_group_regions_under_their_country(
    language: str, places: list[ApplicantLocation], expected: str
) -> None:
    assert words(language).applicant_locations(places) == expected


def test_a_region_without_a_translation_is_named_in_english() -> None:
    # pycountry translates Californie for fr, and has no iso3166-2 catalogue for Zulu: CLDR still names the country
    zulu = words("zu")
    assert zulu.region("US-CA") == "California"
    assert zulu.country("US") != "United States" and zulu.country("US")
    assert words("fr").region("US-CA") == "Californie"


# --- salaries as people write them -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "salary", "expected"),
    [
        ("en", Salary("USD", "HOUR", min=19.5, max=22), "$19.50–22.00 an hour"),
        ("en", Salary("EUR", "YEAR", min=70000, max=90000), "€70,000–90,000 a year"),
        ("en", Salary("GBP", "YEAR", value=48500), "£48,500 a year"),
        ("en", Salary("USD", "HOUR", min=1200.5, max=1500), "$1,200.50–1,500.00 an hour"),
        ("en", Salary("JPY", "HOUR", min=1200.5, max=1500), "¥1,200–1,500 an hour"),  # the yen has no decimals
        ("en", Salary("EUR", "DAY", min=550, max=550), "€550 a day"),  # one value, no range
        ("en", Salary("USD", "HOUR", min=20.5), "from $20.50 an hour"),
        ("en", Salary("CAD", "MONTH", max=6000), "up to CA$6,000 a month"),
        ("de", Salary("EUR", "YEAR", min=70000, max=90000), f"70.000–90.000{NBSP}€ a year"),
        ("fr-CA", Salary("USD", "HOUR", min=19.5, max=22), f"19,50–22,00{NBSP}${NBSP}US an hour"),
    ],
)
def test_a_salary_is_written_in_the_currency_and_locale(language: str, salary: Salary, expected: str) -> None:
    assert words(language).salary(salary) == expected


@pytest.mark.parametrize(
    ("salary", "pattern"),
    [
        (Salary("USD", "YEAR", value=1e28), r"USD 9,999,999,999,999,999,583,119,736,832 a year"),
        (Salary("EUR", "YEAR", min=1e27, max=1e30), r"EUR 1,000[\d,]+–1,000,000[\d,]+ a year"),
        (Salary("JPY", "HOUR", max=1e300), r"up to JPY 1(,\d{3}){100} an hour"),
    ],
)
@pytest.mark.parametrize("language", ["en", "de"])
def test_a_salary_past_what_babel_can_format_is_written_plainly(language: str, salary: Salary, pattern: str) -> None:
    # a page must not answer 500 for one salary, whatever the store once held: the feeds' plain wording
    assert re.fullmatch(pattern, words(language).salary(salary))


def test_a_salary_of_a_trillion_or_more_is_refused_naming_the_field() -> None:
    def problems(amount: object) -> list[tuple[str, str]]:
        checked = validate_front_matter(
            {"id": "a", "title": "T", "company": "C", "salary": {"value": amount, "currency": "USD", "per": "YEAR"}},
            UTC,
        )
        return [(p.field, p.message) for p in checked] if isinstance(checked, list) else []

    assert problems(999_999_999_999) == [] and problems(999_999_999_999.5) == []
    for amount in (10**12, 1e28, 10**400):  # an int past any float too: refused, not an OverflowError
        [(field, message)] = problems(amount)
        assert field == "salary.value" and message.startswith("must be less than 1,000,000,000,000, got "), amount


@pytest.mark.parametrize(("field", "front_matter"), [("title", {"title": "{}"}), ("company.name", {"company": "{}"})])
@pytest.mark.parametrize("text", ["Dev\n---\nstatus: open", "Dev\r\nOps", "Dev\u2028Ops"])
def test_a_title_or_company_name_is_one_line(field: str, front_matter: dict[str, str], text: str) -> None:
    data = {"id": "a", "title": "Dev", "company": "Acme"} | {k: v.format(text) for k, v in front_matter.items()}
    problems = validate_front_matter(data, UTC)
    assert isinstance(problems, list) and [(p.field, p.message) for p in problems] == [
        (field, f"must be one line, got {text!r}")
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Verdant Grid", "VG"),
        ("Harbourside General Hospital", "HG"),
        ("Rise & Crumb Bakehouse", "RC"),
        ("RustFoundation", "RF"),
        ("Ledgerly", "L"),
        ("élan vital", "ÉV"),
    ],
)
def test_initials_stand_for_the_company(name: str, expected: str) -> None:
    assert initials(name) == expected


# --- the setting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "tag"), [("en", "en"), ("de", "de"), ("fr-CA", "fr-CA"), ("fr_CA", "fr-CA")])
def test_the_language_is_a_cldr_locale_kept_as_its_bcp47_tag(raw: str, tag: str) -> None:
    assert load_settings(environ={"SYNDICATE_LANGUAGE": raw}).language == tag


@pytest.mark.parametrize("raw", ["root", "und", "UND", "und-DE", "root_DE"])
def test_a_language_tag_that_names_no_language_is_refused(raw: str) -> None:
    # Babel reads 'root' as CLDR's root locale and 'und' as a guess (en-US): neither is the site's language
    with pytest.raises(SettingsError, match=f"SYNDICATE_LANGUAGE: '{raw}' names no language"):
        load_settings(environ={"SYNDICATE_LANGUAGE": raw})


def test_an_unknown_language_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="SYNDICATE_LANGUAGE: unknown language 'klingon'"):
        load_settings(environ={"SYNDICATE_LANGUAGE": "klingon"})


# --- logo paths ------------------------------------------------------------------------------------


def logo_problems(logo: str) -> list[str]:
    data = {"id": "t", "title": "T", "company": {"name": "C", "logo": logo}}
    result = validate_front_matter(data, UTC)
    return [p.field for p in result] if isinstance(result, list) else []


@pytest.mark.parametrize("logo", ["/static/logos/acme.svg", "https://cdn.example/acme.png"])
def test_a_logo_is_an_absolute_url_or_a_path_on_this_site(logo: str) -> None:
    assert logo_problems(logo) == []


@pytest.mark.parametrize(
    "logo", ["//evil.example/x.svg", "logos/acme.svg", "javascript:alert(1)", "/static/../secret", "/a b.svg"]
)
def test_other_logo_values_are_refused(logo: str) -> None:
    assert logo_problems(logo) == ["company.logo"]


@pytest.mark.parametrize(
    ("job_url", "expected"),
    [
        ("https://jobs.example/jobs/a", "https://jobs.example/static/logos/a.svg"),
        ("https://example.com/careers/jobs/a", "https://example.com/careers/static/logos/a.svg"),
    ],
)
def test_a_site_path_is_made_absolute_under_the_site_base(job_url: str, expected: str) -> None:
    assert site_url("/static/logos/a.svg", job_url) == expected
    assert site_url("https://cdn.example/a.png", job_url) == "https://cdn.example/a.png"


def test_every_company_of_the_shipped_postings_has_a_small_logo_of_its_own() -> None:
    import frontmatter

    for path in sorted(SHIPPED.glob("*.md")):
        company = frontmatter.load(path).metadata["company"]
        if isinstance(company, str):
            assert company == "RustFoundation", f"{path.name}: only the seed posting, as handed over, has none"
            continue
        logo = company["logo"]
        assert logo.startswith("/static/logos/"), path.name
        svg = LOGOS / logo.removeprefix("/static/logos/")
        assert svg.is_file(), logo
        assert svg.stat().st_size < 1024, f"{svg.name} is meant to be a few hundred bytes"
        root = etree.fromstring(svg.read_bytes())
        assert root.get("width") and root.get("height"), "an intrinsic size, so the image fills its box"
        assert not root.xpath("//*[local-name()='script']")


def test_every_shipped_posting_gives_its_date_posted() -> None:
    import frontmatter

    for path in sorted(SHIPPED.glob("*.md")):
        assert isinstance(frontmatter.load(path).metadata.get("date_posted"), date | datetime), path.name


# --- the index order -------------------------------------------------------------------------------


def test_the_index_lists_newest_first_and_ties_by_id(make_app: Callable[..., Any], postings_dir: Path) -> None:
    for pid, posted in (("b", "2026-11-01"), ("c", "2026-11-03"), ("a", "2026-11-01"), ("d", "2026-10-01")):
        write(postings_dir, f"{pid}.md", posting_text(pid, title=f"Role {pid}", date_posted=posted))
    page = html.fromstring(make_app(postings_dir).test_client().get("/").text)
    assert [a.text for a in page.xpath("//article/h2/a")] == ["Role c", "Role a", "Role b", "Role d"]


# --- over HTTP, from gunicorn serving the shipped postings ---------------------------------------


def serve(tmp_path: Path, **env: str) -> Iterator[Web]:
    postings = tmp_path / "postings"
    postings.mkdir()
    later = "2099-01-01"  # the server runs on the real clock: its copies must not expire under it
    for path in SHIPPED.iterdir():
        text = path.read_text(encoding="utf-8")
        (postings / path.name).write_text(re.sub(r"(?m)^valid_through:.*$", f"valid_through: {later}", text), "utf-8")
    database_url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    migrate(database_url)
    web = Web(service_env(tmp_path, postings, database_url, **env), tmp_path / "web.log")
    try:
        yield web
    finally:
        web.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    yield from serve(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def german_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    yield from serve(tmp_path_factory.mktemp("pages-de"), SYNDICATE_LANGUAGE="de")


def page_of(web: Web, path: str) -> tuple[requests.Response, Any]:
    response = requests.get(web.base + path, timeout=10)
    return response, html.fromstring(response.text)


def text_of(doc: Any, xpath: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in doc.xpath(xpath)]


def test_a_job_page_names_places_and_pay_in_words(site: Web) -> None:
    _, doc = page_of(site, "/jobs/harbourside-clinical-systems-analyst")
    assert doc.get("lang") == "en"
    facts = text_of(doc, "//dl[@class='facts']//dd")
    assert "14 Quayside Road, Bristol, England, BS1 6QA, United Kingdom" in facts
    assert "£48,500 a year" in facts
    _, doc = page_of(site, "/jobs/ledgerly-customer-support-specialist")
    assert "Fully remote (California, Oregon, Washington, United States; British Columbia, Canada)" in text_of(
        doc, "//dl[@class='facts']//dd"
    )
    _, index = page_of(site, "/")
    bakery = " ".join(text_of(index, "//article[.//a[contains(@href, 'rise-and-crumb')]]"))
    assert "Portland, Oregon, United States" in bakery and "$19.50–22.00 an hour" in bakery


def test_the_site_language_names_places_and_sets_html_lang(german_site: Web) -> None:
    _, doc = page_of(german_site, "/jobs/verdant-grid-data-engineer")
    assert doc.get("lang") == "de"
    facts = text_of(doc, "//dl[@class='facts']//dd")
    assert "Fully remote (Deutschland, Österreich, Schweiz)" in facts
    assert "70.000–90.000 € a year" in facts


def test_machines_keep_the_codes(german_site: Web) -> None:
    base = german_site.base
    response, _ = page_of(german_site, "/jobs/ledgerly-customer-support-specialist")
    [ld] = extruct.extract(response.text, syntaxes=["json-ld"])["json-ld"]
    assert [a["name"] for a in ld["applicantLocationRequirements"]] == ["US-CA", "US-OR", "US-WA", "CA-BC"]
    harbourside = json.loads(requests.get(f"{base}/jobs/harbourside-clinical-systems-analyst.jsonld", timeout=10).text)
    assert harbourside["jobLocation"][0]["address"]["addressCountry"] == "GB"
    api = requests.get(f"{base}/api/postings/ledgerly-customer-support-specialist", timeout=10).json()
    assert api["applicant_locations"] == ["US-CA", "US-OR", "US-WA", "CA-BC"]
    kestrel = requests.get(f"{base}/api/postings/kestrel-robotics-field-service-engineer", timeout=10).json()
    assert kestrel["location"][0]["region"] == "CA" and kestrel["location"][0]["country"] == "US"
    rss = feedparser.parse(requests.get(f"{base}/feed.rss?company=ledgerly", timeout=10).content)
    assert "(US-CA, US-OR, US-WA, CA-BC)" in rss.entries[0].summary
    indeed = etree.fromstring(requests.get(f"{base}/feeds/indeed.xml?company=kestrel+robotics", timeout=10).content)
    assert (indeed.findtext("job/state"), indeed.findtext("job/country")) == ("CA", "US")


def test_the_apply_button_is_also_after_the_description(site: Web) -> None:
    _, doc = page_of(site, "/jobs/kestrel-robotics-field-service-engineer")
    applies = doc.xpath("//main//a[@class='apply']")
    assert len(applies) == 2
    assert {a.get("href") for a in applies} == {"https://kestrel-robotics.example/careers/field-service-engineer/apply"}
    description = doc.xpath("//section[@class='description']")[0]
    after = description.xpath("following::a[@class='apply']")
    before = description.xpath("preceding::a[@class='apply']")
    assert len(after) == 1 and len(before) == 1


def test_a_logo_sits_over_the_initials_and_a_posting_without_one_shows_initials(site: Web) -> None:
    _, doc = page_of(site, "/jobs/verdant-grid-data-engineer")
    [logo] = doc.xpath("//header[@class='posting-header']/*[contains(@class, 'logo')]")
    assert text_of(logo, ".//*[contains(@class, 'initials')]") == ["VG"]
    [img] = logo.xpath(".//img")
    assert img.get("src") == f"{site.base}/static/logos/verdant-grid.svg"
    assert img.get("alt") == "" and img.get("width") is None and img.get("height") is None
    served = requests.get(img.get("src"), timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("image/svg+xml")
    _, seed = page_of(site, "/jobs/rustfoundation-senior-rust-developer")
    [logo] = seed.xpath("//header[@class='posting-header']/*[contains(@class, 'logo')]")
    assert text_of(logo, ".//*[contains(@class, 'initials')]") == ["RF"] and logo.xpath(".//img") == []


def test_the_jsonld_logo_is_an_absolute_url(site: Web) -> None:
    ld = requests.get(f"{site.base}/jobs/verdant-grid-data-engineer.jsonld", timeout=10).json()
    assert ld["hiringOrganization"]["logo"] == f"{site.base}/static/logos/verdant-grid.svg"


# --- a page per company ----------------------------------------------------------------------------


def test_a_job_page_links_to_its_company_page(site: Web) -> None:
    _, doc = page_of(site, "/jobs/rise-and-crumb-shift-lead")
    [link] = doc.xpath("//a[normalize-space()='Open positions at Rise & Crumb Bakehouse']")
    assert link.get("href") == f"{site.base}/companies/rise-crumb-bakehouse"
    assert company_slug("Rise & Crumb Bakehouse") == "rise-crumb-bakehouse"


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("C++ Shop", "c-plus-plus-shop"),
        ("C Shop", "c-shop"),
        ("C# Guild", "c-sharp-guild"),
        ("???", "company-" + hashlib.sha256(b"???").hexdigest()[:8]),
        ("¿¡!?", "company-" + hashlib.sha256("¿¡!?".encode()).hexdigest()[:8]),
        ("ＡＣＭＥ", "acme"),  # width-folded, as the filter compares
    ],
)
def test_every_company_name_has_a_slug_of_its_own(name: str, slug: str) -> None:
    assert company_slug(name) == slug


COMPANIES = {"q": "???", "cpp": "C++ Shop", "c": "C Shop", "tab": "Tab\tWorks", "long": "L" * 250}


def test_every_company_page_answers_and_its_feeds_list_exactly_its_postings(
    make_app: Callable[..., Any], postings_dir: Path
) -> None:
    for pid, name in COMPANIES.items():
        text = f"---\nid: {pid}\ntitle: Role {pid}\ncompany: {{name: {json.dumps(name)}}}\n---\n\nText.\n"
        write(postings_dir, f"{pid}.md", text)
    client = make_app(postings_dir, base_url="https://jobs.example").test_client()
    pages = set()
    for pid in COMPANIES:
        [href] = html.fromstring(client.get(f"/jobs/{pid}").text).xpath("//p[@class='company-jobs']/a/@href")
        path = href.removeprefix("https://jobs.example")
        assert path.startswith("/companies/") and path != "/companies/", href
        pages.add(path)
        company = client.get(path)
        assert company.status_code == 200, (pid, path)
        doc = html.fromstring(company.text)
        assert [a.get("href").rsplit("/", 1)[1] for a in doc.xpath("//article/h2/a")] == [pid]
        for feed in doc.xpath("//head/link[@rel='alternate']/@href"):  # a name the filter refuses advertises none
            body = client.get(feed.removeprefix("https://jobs.example")).data
            if "/feed.json" in feed:
                links = [item["url"] for item in json.loads(body)["items"]]
            else:
                links = [e.link for e in feedparser.parse(body).entries]
            assert [link.rsplit("/", 1)[1] for link in links] == [pid], feed
    assert len(pages) == len(COMPANIES)
    sitemap = etree.fromstring(client.get("/sitemap.xml").data)
    locs = {e.text.removeprefix("https://jobs.example") for e in sitemap.iter(f"{{{SITEMAP_NS}}}loc")}
    assert {loc for loc in locs if loc.startswith("/companies/")} == pages


def test_a_company_page_lists_its_open_jobs_and_advertises_its_feeds(site: Web) -> None:
    response, doc = page_of(site, "/companies/verdant-grid")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert text_of(doc, "//h1") == ["Jobs at Verdant Grid"]
    assert text_of(doc, "//article/h2/a") == ["Data Engineer, Grid Forecasting"]
    alternates = {e.get("type"): e.get("href") for e in doc.xpath("//head/link[@rel='alternate']")}
    assert alternates == {
        "application/rss+xml": f"{site.base}/feed.rss?company=verdant+grid",
        "application/atom+xml": f"{site.base}/feed.atom?company=verdant+grid",
        "application/feed+json": f"{site.base}/feed.json?company=verdant+grid",
    }
    # each is the very URL the feed names as itself, so a reader subscribes to one feed, not two spellings
    atom = feedparser.parse(requests.get(alternates["application/atom+xml"], timeout=10).content)
    assert [link.href for link in atom.feed.links if link.rel == "self"] == [alternates["application/atom+xml"]]
    assert [e.title for e in atom.entries] == ["Data Engineer, Grid Forecasting"]
    feed = requests.get(alternates["application/feed+json"], timeout=10).json()
    assert feed["feed_url"] == alternates["application/feed+json"]


def test_a_company_page_answers_conditional_requests(site: Web) -> None:
    first = requests.get(f"{site.base}/companies/ledgerly", timeout=10)
    assert first.status_code == 200 and first.headers["ETag"] and first.headers["Last-Modified"]
    again = requests.get(
        f"{site.base}/companies/ledgerly", headers={"If-None-Match": first.headers["ETag"]}, timeout=10
    )
    assert again.status_code == 304 and again.content == b""
    since = requests.get(
        f"{site.base}/companies/ledgerly", headers={"If-Modified-Since": first.headers["Last-Modified"]}, timeout=10
    )
    assert since.status_code == 304


@pytest.mark.parametrize("slug", ["foldline-studio", "no-such-company"])
def test_a_company_without_open_jobs_is_not_found(site: Web, slug: str) -> None:
    # Foldline Studio's only posting is closed
    response = requests.get(f"{site.base}/companies/{slug}", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_the_sitemap_lists_the_company_pages_of_open_jobs(site: Web) -> None:
    root = etree.fromstring(requests.get(f"{site.base}/sitemap.xml", timeout=10).content)
    locs = [e.text for e in root.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    companies = sorted(loc.removeprefix(f"{site.base}/companies/") for loc in locs if "/companies/" in loc)
    assert companies == [
        "harbourside-general-hospital",
        "kestrel-robotics",
        "ledgerly",
        "rise-crumb-bakehouse",
        "rustfoundation",
        "verdant-grid",
    ]
