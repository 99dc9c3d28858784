"""The careers pages in a real browser: gunicorn serving the shipped postings, Chromium driven by Playwright.

What a job seeker does: open the list, narrow it with the filter form, open a
posting and find the way to apply, while crawlers find exactly one JobPosting
on the page; a logo that cannot be loaded leaves the company's initials, never a
broken image. The shipped logos are served by the site itself; requests to other
hosts are answered by a stub image, so the test needs no network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import frontmatter
import pytest
from conftest import REPO_ROOT
from processes import free_port, wait_for
from test_server import start, stop

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Error, Page

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("Debian package chromium not installed", allow_module_level=True)

SHIPPED = REPO_ROOT / "postings"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# a 1x1 transparent PNG: what every request to another host gets
STUB_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082"
)

VERDANT = "Data Engineer, Grid Forecasting"
LEDGERLY = "Customer Support Specialist (Pacific Hours)"
HARBOURSIDE = "Clinical Systems Analyst"
KESTREL = "Field Service Engineer – Autonomous Mobile Robots"
BAKERY = "Part-Time Shift Lead (Early Bake)"
RUST = "Senior Rust Developer"
CLOSED = "Contract UX Designer (Service Design)"  # status: closed


def front_matter(name: str) -> dict:
    return frontmatter.load(SHIPPED / name).metadata


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn serving the shipped postings, with its instance folder and SQLite file in a temporary folder.

    The server runs on the real clock, so the copies it serves have every
    ``valid_through`` moved a year ahead: the test must not expire with them.
    """
    tmp = tmp_path_factory.mktemp("browser")
    postings = tmp / "postings"
    postings.mkdir()
    # gunicorn in its own process runs on the real clock: the copies must outlive it
    later = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()  # wall-clock: the server's own clock
    for path in SHIPPED.iterdir():
        text = path.read_text(encoding="utf-8")
        (postings / path.name).write_text(
            re.sub(r"(?m)^valid_through:.*$", f"valid_through: {later}", text), encoding="utf-8"
        )
    process, base = start(tmp, postings, f"sqlite:///{tmp / 'syndicate.db'}")
    yield base
    stop(process)


class Problems:
    """Console errors and uncaught page errors, collected while the page is used."""

    def __init__(self) -> None:
        self.console: list[str] = []
        self.page: list[str] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(f"{message.text} ({message.location})")

    def on_page_error(self, error: Error) -> None:
        self.page.append(str(error))


@contextmanager
def browser_for(origin: str) -> Iterator[tuple[Page, Problems]]:
    """A Chromium page for the site at ``origin``; requests to other hosts get the stub image."""
    problems = Problems()
    with sync_api.sync_playwright() as p:
        # the job seeker's browser keeps its own clock: a suite run with the clock moved (faketime) moves
        # the server's, and libfaketime preloaded into chromium stalls its navigation
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, env=env)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route(
                lambda url: not url.startswith(origin + "/"),
                lambda route: route.fulfill(status=200, content_type="image/png", body=STUB_PNG),
            )
            page = context.new_page()
            page.on("console", problems.on_console)
            page.on("pageerror", problems.on_page_error)
            yield page, problems
            context.close()
        finally:
            browser.close()


@pytest.fixture
def browser_page(base_url: str) -> Iterator[tuple[Page, Problems]]:
    with browser_for(base_url) as opened:
        yield opened


def listed_titles(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("article h2 a").all_inner_texts()]


def fits_the_viewport(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def query_is(**expected: str) -> Callable[[str], bool]:
    """A URL predicate: the query string holds exactly these non-empty parameters (a form also sends empty ones)."""
    want = {key: [value] for key, value in expected.items()}
    return lambda url: parse_qs(urlsplit(url).query) == want


def submit(page: Page, **expected: str) -> None:
    """Press the form's Filter button and wait for the list it asks for."""
    page.get_by_role("button", name="Filter", exact=True).click()
    page.wait_for_url(query_is(**expected))


def test_a_job_seeker_filters_the_list_and_opens_a_posting(
    base_url: str, browser_page: tuple[Page, Problems], tmp_path: Path
) -> None:
    page, problems = browser_page
    expect = sync_api.expect
    meta = front_matter("verdant-grid-data-engineer.md")

    response = page.goto(base_url + "/")
    assert response is not None and response.status == 200
    body = page.locator("body").inner_text()
    assert VERDANT in body
    assert "Verdant Grid" in body
    card = page.locator("article", has=page.get_by_role("link", name=VERDANT, exact=True))
    expect(card).to_contain_text("Verdant Grid")
    expect(card).to_contain_text("Fully remote")
    assert sorted(listed_titles(page)) == sorted([VERDANT, LEDGERLY, HARBOURSIDE, KESTREL, BAKERY, RUST])
    assert CLOSED not in body
    expect(page.get_by_text("6 open positions")).to_be_visible()
    assert page.locator('link[rel="alternate"][type="application/atom+xml"]').count() == 1

    # fully remote only
    page.get_by_label("Remote", exact=True).select_option("only")
    submit(page, remote="only")
    assert sorted(listed_titles(page)) == sorted([VERDANT, LEDGERLY])
    for absent in (HARBOURSIDE, KESTREL, BAKERY, RUST):
        expect(page.get_by_role("link", name=absent, exact=True)).to_have_count(0)
    expect(page.get_by_label("Remote", exact=True)).to_have_value("only")
    # a filtered page offers the filtered feeds and the full ones
    assert page.locator('link[rel="alternate"][type="application/atom+xml"]').count() == 2

    # and tagged healthcare: nothing matches both; clearing the tag brings both back
    page.get_by_label("Tag", exact=True).select_option("healthcare")
    submit(page, tag="healthcare", remote="only")
    assert listed_titles(page) == []
    expect(page.get_by_text("No open positions match these filters")).to_be_visible()

    page.get_by_label("Remote", exact=True).select_option("")
    submit(page, tag="healthcare")
    assert listed_titles(page) == [HARBOURSIDE]

    page.get_by_label("Tag", exact=True).select_option("data")
    page.get_by_label("Remote", exact=True).select_option("only")
    submit(page, tag="data", remote="only")
    assert listed_titles(page) == [VERDANT]
    assert fits_the_viewport(page)

    # the posting
    page.get_by_role("link", name=VERDANT, exact=True).click()
    page.wait_for_url(f"{base_url}/jobs/{meta['id']}")
    expect(page.get_by_role("heading", level=1).first).to_have_text(meta["title"])
    assert page.title().startswith(meta["title"])
    company = page.get_by_role("link", name=meta["company"]["name"], exact=True)
    expect(company).to_be_visible()
    assert company.get_attribute("href") == meta["company"]["url"]
    apply = page.get_by_role("link", name="Apply now", exact=True)
    expect(apply).to_have_count(2)  # at the top, and again after the description
    expect(apply.first).to_be_visible()
    assert {apply.nth(i).get_attribute("href") for i in range(2)} == {meta["apply_url"]}
    text = page.locator("main").inner_text()
    for fact in ("Fully remote (Germany, Austria, Switzerland)", "Full-time", "€70,000–90,000 a year", "Data Platform"):
        assert fact in text
    assert f"Reference: {meta['id']}" in text

    scripts = page.locator('script[type="application/ld+json"]')
    assert scripts.count() == 1
    jsonld = json.loads(scripts.first.text_content() or "")
    assert jsonld["@type"] == "JobPosting"
    assert jsonld["title"] == meta["title"]

    screenshot = tmp_path / "posting.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.exists() and screenshot.stat().st_size > 0

    page.set_viewport_size({"width": 375, "height": 800})
    assert fits_the_viewport(page), "the posting page scrolls sideways on a phone"
    page.go_back()
    page.wait_for_url(query_is(tag="data", remote="only"))
    assert fits_the_viewport(page), "the list scrolls sideways on a phone"

    assert problems.console == []
    assert problems.page == []


def test_a_closed_posting_says_so_without_jsonld(base_url: str, browser_page: tuple[Page, Problems]) -> None:
    page, _problems = browser_page  # the 410 itself is logged as a console error by Chromium
    meta = front_matter("foldline-contract-ux-designer.md")
    response = page.goto(f"{base_url}/jobs/{meta['id']}")
    assert response is not None and response.status == 410
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("This position is no longer open")
    text = page.locator("main").inner_text()
    assert meta["title"] in text
    assert meta["company"]["name"] in text
    assert page.locator('script[type="application/ld+json"]').count() == 0
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noindex"
    page.get_by_role("link", name="See all open positions").click()
    page.wait_for_url(f"{base_url}/")
    assert VERDANT in listed_titles(page)


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


def images_all_loaded(page: Page) -> bool:
    """No broken image on the page: every image has loaded, with a size of its own."""
    return page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")


def test_a_job_page_in_words_with_the_apply_button_at_the_end_and_a_way_to_the_company(
    base_url: str, browser_page: tuple[Page, Problems]
) -> None:
    page, problems = browser_page
    expect = sync_api.expect
    meta = front_matter("ledgerly-customer-support-specialist.md")  # its id is the file's stem
    page.goto(f"{base_url}/jobs/ledgerly-customer-support-specialist")
    facts = page.locator(".facts").inner_text()
    assert "Fully remote (California, Oregon, Washington, United States; British Columbia, Canada)" in facts
    assert "$58,000–68,000 a year" in facts
    assert "US-CA" not in page.locator("main").inner_text()
    assert page.locator("html").get_attribute("lang") == "en"

    # the logo is the shipped SVG, loaded, filling its box over the initials
    page.wait_for_function("[...document.images].every(i => i.complete)")
    assert images_all_loaded(page)
    logo, image = box(page, ".posting-header .logo"), box(page, ".posting-header .logo img")
    assert image["width"] >= logo["width"] - 2 and image["height"] >= logo["height"] - 2

    # the apply button again, below the description
    applies = page.get_by_role("link", name="Apply now", exact=True)
    expect(applies).to_have_count(2)
    last = applies.last
    last.scroll_into_view_if_needed()
    expect(last).to_be_visible()
    description = box(page, ".description")  # both measured from the same scroll position
    assert box(page, ".apply-end")["y"] >= description["y"] + description["height"]
    assert last.get_attribute("href") == meta["apply_url"]

    # the company page: its open jobs and its feeds
    page.get_by_role("link", name="Open positions at Ledgerly", exact=True).click()
    page.wait_for_url(f"{base_url}/companies/ledgerly")
    expect(page.get_by_role("heading", level=1)).to_have_text("Jobs at Ledgerly")
    assert listed_titles(page) == [LEDGERLY]
    feeds = page.locator('head link[rel="alternate"]')
    assert sorted(feeds.nth(i).get_attribute("href") for i in range(feeds.count())) == [
        f"{base_url}/feed.atom?company=ledgerly",
        f"{base_url}/feed.json?company=ledgerly",
        f"{base_url}/feed.rss?company=ledgerly",
    ]
    expect(page.get_by_role("link", name="Atom", exact=True).first).to_be_visible()
    page.wait_for_function("[...document.images].every(i => i.complete)")
    assert images_all_loaded(page)
    assert fits_the_viewport(page)
    assert problems.console == []
    assert problems.page == []


def test_a_logo_that_fails_to_load_leaves_the_initials(base_url: str, browser_page: tuple[Page, Problems]) -> None:
    page, _problems = browser_page  # the refused logo is logged as a console error by Chromium
    expect = sync_api.expect
    logo_path = front_matter("verdant-grid-data-engineer.md")["company"]["logo"]
    page.route(f"{base_url}{logo_path}", lambda route: route.fulfill(status=404, body=b"gone"))
    page.goto(f"{base_url}/jobs/verdant-grid-data-engineer")
    page.wait_for_function("[...document.images].every(i => i.complete)")
    logo = page.locator(".posting-header .logo")
    initials = logo.locator(".initials")
    expect(initials).to_be_visible()
    expect(initials).to_have_text("VG")
    assert page.evaluate("document.querySelector('.posting-header .logo img').naturalWidth") == 0, "it did fail"
    image = box(page, ".posting-header .logo img")
    assert image["width"] == 0 and image["height"] == 0, "a failed logo takes no room: no broken-image icon"
    # what shows is exactly what the initials alone show
    failed = logo.screenshot()
    page.evaluate("document.querySelector('.posting-header .logo img').remove()")
    assert logo.screenshot() == failed

    # a posting without a logo shows its initials too
    page.goto(f"{base_url}/jobs/rustfoundation-senior-rust-developer")
    expect(page.locator(".posting-header .logo .initials")).to_have_text("RF")
    assert page.locator(".posting-header .logo img").count() == 0


def test_an_author_previews_a_draft_and_sees_each_save(tmp_path: Path) -> None:
    """``syndicate preview FILE --serve``: the draft's page as the site will show it, read again on reload."""
    import requests

    draft = tmp_path / "ledgerly-customer-support-specialist.md"
    text = (SHIPPED / draft.name).read_text(encoding="utf-8")
    draft.write_text(re.sub(r"(?m)^status:.*\n", "", text).replace("---\n", "---\nstatus: draft\n", 1), "utf-8")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "preview", str(draft), "--serve", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"), "SYNDICATE_BASE_URL": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"{origin}/jobs/ledgerly-customer-support-specialist"

    def answering() -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.ConnectionError:
            return server.poll() is not None

    try:
        assert wait_for(answering, 30) and server.poll() is None
        with browser_for(origin) as (page, problems):
            expect = sync_api.expect
            page.goto(url)
            expect(page.get_by_role("heading", level=1)).to_have_text(LEDGERLY)
            facts = page.locator(".facts").inner_text()
            assert "Fully remote (California, Oregon, Washington, United States; British Columbia, Canada)" in facts
            expect(page.get_by_role("link", name="Apply now", exact=True)).to_have_count(2)
            page.wait_for_function("[...document.images].every(i => i.complete)")
            assert images_all_loaded(page), "the logo comes from the preview's own /static/"
            scripts = page.locator('script[type="application/ld+json"]')
            assert [json.loads(scripts.nth(i).inner_text())["@type"] for i in range(scripts.count())] == ["JobPosting"]
            draft.write_text(draft.read_text(encoding="utf-8").replace(LEDGERLY, "Support Specialist"), "utf-8")
            page.reload()
            expect(page.get_by_role("heading", level=1)).to_have_text("Support Specialist")
            assert fits_the_viewport(page)
            assert problems.console == [] and problems.page == []
    finally:
        server.terminate()
        server.communicate(timeout=20)
    assert not (tmp_path / "instance").exists(), "preview stores nothing"
