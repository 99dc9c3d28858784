"""``syndicate new`` and ``syndicate preview``, as an author runs them: real ``python -m syndicate``
processes, a real HTTP server for ``preview --serve``, the files read back the way the service reads
them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import extruct
import lxml.html
import pytest
import requests
import yaml
from conftest import SHIPPED_NOW, Clock, migrate, posting_text, write
from processes import free_port, wait_for

from syndicate.postings.loader import PostingLoader
from syndicate.postings.reader import read_posting
from syndicate.store.engine import Store

pytestmark = pytest.mark.slow

TIMEZONE = "Pacific/Kiritimati"  # UTC+14: "today" there is not today in UTC for most of the day
ALL_FLAGS = (
    "--title", "Senior Data Engineer",
    "--company", "Verdant Grid",
    "--location", "Berlin, BE, DE",
    "--type", "full-time",
    "--salary", "70,000-90000 EUR/YEAR",
    "--status", "open",
)  # fmt: skip


def syndicate(tmp_path: Path, *args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m syndicate ARGS`` in ``tmp_path``, its standard input ``input`` (else none at all, so
    that a prompt fails instead of waiting)."""
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=tmp_path,
        env={
            **os.environ,
            "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"),
            "SYNDICATE_POSTINGS_DIR": str(tmp_path / "postings"),
            "SYNDICATE_BOARDS": str(tmp_path / "boards.toml"),  # absent: no boards
            "SYNDICATE_TIMEZONE": TIMEZONE,
            **env,
        },
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        timeout=60,
    )


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def lint(tmp_path: Path, folder: Path) -> tuple[list[dict], subprocess.CompletedProcess[str]]:
    result = syndicate(tmp_path, "lint", str(folder), "--format", "json")
    return json.loads(result.stdout), result


def today_there() -> set[date]:
    # either side of a midnight during the run counts
    return {datetime.now(ZoneInfo(TIMEZONE)).date()}  # wall-clock: the command reads the real clock


@pytest.fixture
def postings(tmp_path: Path) -> Path:
    folder = tmp_path / "postings"
    folder.mkdir()
    return folder


# --- new ------------------------------------------------------------------------------------------


def test_new_with_every_flag_asks_nothing_and_writes_a_posting_lint_passes(tmp_path: Path, postings: Path) -> None:
    days = today_there()
    result = syndicate(tmp_path, "new", *ALL_FLAGS)
    days |= today_there()
    assert result.returncode == 0, result.stderr
    path = postings / "verdant-grid-senior-data-engineer.md"
    assert result.stdout.strip() == str(path) and [p.name for p in postings.iterdir()] == [path.name]
    data = front_matter(path)
    assert data["id"] == "verdant-grid-senior-data-engineer"
    assert data["location"] == {"city": "Berlin", "region": "BE", "country": "DE"}
    assert data["employment_type"] == "FULL_TIME"
    assert data["salary"] == {"min": 70000, "max": 90000, "currency": "EUR", "per": "YEAR"}
    assert data["date_posted"] in days
    assert data["valid_through"] == data["date_posted"] + timedelta(days=30)
    assert f"valid_through: {data['valid_through']} (30 days from today)" in result.stderr
    problems, linted = lint(tmp_path, postings)
    assert linted.returncode == 0 and problems == [], problems


def test_new_lists_every_other_field_as_a_commented_line(tmp_path: Path, postings: Path) -> None:
    assert syndicate(tmp_path, "new", *ALL_FLAGS).returncode == 0
    text = (postings / "verdant-grid-senior-data-engineer.md").read_text(encoding="utf-8")
    commented = {line[2:].split(":")[0] for line in text.split("---\n")[1].splitlines() if line.startswith("# ")}
    assert {"apply_url", "direct_apply", "applicant_locations", "tags", "department"} <= commented


def test_new_asks_for_what_no_flag_gives(tmp_path: Path, postings: Path) -> None:
    answers = "Support Specialist\nLedgerly\nonly\nDE, AT\npart-time\nlots\n42 USD/HOUR\n"  # asked again
    result = syndicate(tmp_path, "new", "--status", "open", input=answers)
    assert result.returncode == 0, result.stderr
    assert "Title: " in result.stdout and result.stdout.count("Salary (") == 2  # click's prompts
    assert "Error: 'lots' is not MIN-MAX CURRENCY/PER" in result.stdout  # and asked again
    data = front_matter(postings / "ledgerly-support-specialist.md")
    assert (data["title"], data["company"], data["remote"]) == ("Support Specialist", "Ledgerly", "only")
    assert data["applicant_locations"] == ["DE", "AT"] and "location" not in data
    assert data["employment_type"] == "PART_TIME"
    assert data["salary"] == {"value": 42, "currency": "USD", "per": "HOUR"}
    problems, _ = lint(tmp_path, postings)
    assert problems == []


def test_new_without_a_flag_and_without_input_does_not_write(tmp_path: Path, postings: Path) -> None:
    result = syndicate(tmp_path, "new", "--title", "Engineer")  # the company is asked; stdin is empty
    assert result.returncode != 0 and not list(postings.iterdir())


HOSTILE_TITLES = [
    'Engineer: "C++" #1',
    "Lead: night shift #2 'ops'",
    "- [x] {y}: &a *a !tag %z @w `q` | > yes",
    "no",
    "007",
    "  padded  ",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES, ids=range(len(HOSTILE_TITLES)))
def test_new_writes_valid_yaml_whatever_the_text(tmp_path: Path, postings: Path, title: str) -> None:
    company = 'O\'Brien & Sons: #1 "Bakery"'
    args = ["--title", title, "--company", company, "--id", "hostile", "--remote", "only"]
    result = syndicate(tmp_path, "new", *args, "--applicant-locations", "DE", "--type", "OTHER", "--salary", "")
    assert result.returncode == 0, result.stderr
    path = postings / "hostile.md"
    data = front_matter(path)
    assert (data["title"], data["company"]) == (title, company)  # YAML's reading
    read = read_posting(path.read_bytes(), "hostile.md", UTC)  # the service's reading
    assert read.posting is not None, read.problems
    assert (read.posting.title, read.posting.company.name) == (title.strip(), company)


def test_new_never_overwrites(tmp_path: Path, postings: Path) -> None:
    first = syndicate(tmp_path, "new", *ALL_FLAGS)
    path = postings / "verdant-grid-senior-data-engineer.md"
    before = path.read_bytes()
    again = syndicate(tmp_path, "new", *ALL_FLAGS, "--title", "Senior Data Engineer", "--salary", "1 EUR/HOUR")
    assert first.returncode == 0 and again.returncode == 1
    assert f"{path} already exists; not overwritten" in again.stderr
    assert path.read_bytes() == before


def test_new_names_a_salary_it_cannot_read(tmp_path: Path, postings: Path) -> None:
    result = syndicate(tmp_path, "new", *ALL_FLAGS, "--salary", "lots")
    assert result.returncode == 2 and "'lots' is not MIN-MAX CURRENCY/PER" in result.stderr
    assert not list(postings.iterdir())


def test_new_writes_a_whole_amount_exactly_and_refuses_one_no_page_could_show(tmp_path: Path, postings: Path) -> None:
    huge = syndicate(tmp_path, "new", *ALL_FLAGS, "--salary", "99999999999999999999999999999999 USD/YEAR")
    assert huge.returncode == 1 and "salary.value: error: must be less than 1,000,000,000,000" in huge.stderr
    assert not list(postings.iterdir())
    exact = syndicate(tmp_path, "new", *ALL_FLAGS, "--salary", "999,999,999,999 USD/YEAR")
    assert exact.returncode == 0, exact.stderr
    assert front_matter(postings / "verdant-grid-senior-data-engineer.md")["salary"]["value"] == 999_999_999_999


@pytest.mark.parametrize(("flag", "field"), [("--title", "title"), ("--company", "company.name")])
def test_new_refuses_a_title_or_company_of_more_than_one_line(
    tmp_path: Path, postings: Path, flag: str, field: str
) -> None:
    result = syndicate(tmp_path, "new", *ALL_FLAGS, flag, "Dev\n---\nstatus: open", "--id", "dev")
    assert result.returncode == 1 and f"{field}: error: must be one line" in result.stderr
    assert not list(postings.iterdir())


def test_new_refuses_an_id_another_file_already_uses(tmp_path: Path, postings: Path) -> None:
    live = write(postings / "older", "zz.md", posting_text("verdant-grid-senior-data-engineer", status="open"))
    before = live.read_bytes()
    result = syndicate(tmp_path, "new", *ALL_FLAGS)
    assert result.returncode == 1
    assert f"id 'verdant-grid-senior-data-engineer' is already used by {postings / 'older' / 'zz.md'}" in result.stderr
    assert [p.name for p in postings.rglob("*.md")] == ["zz.md"] and live.read_bytes() == before
    other = syndicate(tmp_path, "new", *ALL_FLAGS, "--id", "verdant-grid-data-engineer-2")
    assert other.returncode == 0, other.stderr


def test_new_refuses_what_the_service_would_leave_out(tmp_path: Path, postings: Path) -> None:
    result = syndicate(tmp_path, "new", *ALL_FLAGS, "--type", "sometimes")
    assert result.returncode == 1 and "employment_type: error:" in result.stderr
    assert not list(postings.iterdir())


# --- preview --------------------------------------------------------------------------------------

DRAFT = posting_text(
    "night-baker",
    title="Night Baker",
    status="draft",
    location="{city: Portland, region: OR, country: US}",
    employment_type="PART_TIME",
    date_posted="2026-11-02",
)


def job_postings(html: bytes | str, url: str) -> list[dict]:
    found = extruct.extract(html, base_url=url, syntaxes=["json-ld"], uniform=True)["json-ld"]
    return [item for item in found if item.get("@type") == "JobPosting"]


def test_preview_of_a_draft_is_its_page_with_the_job_posting(tmp_path: Path, postings: Path) -> None:
    write(postings, "night-baker.md", DRAFT)
    result = syndicate(tmp_path, "preview", "postings/night-baker.md", SYNDICATE_BASE_URL="https://jobs.example")
    assert result.returncode == 0, result.stderr
    [job] = job_postings(result.stdout, "https://jobs.example/jobs/night-baker")
    assert job["title"] == "Night Baker" and job["url"] == "https://jobs.example/jobs/night-baker"
    assert job["datePosted"] == "2026-11-01T10:00:00Z"  # the day begins in SYNDICATE_TIMEZONE, as served
    assert job["employmentType"] == "PART_TIME"
    assert '<h1 class="title">Night Baker</h1>' in result.stdout
    assert "draft: not in any feed, sitemap, board or ping until status: open" in result.stderr
    assert "salary: warning: missing; Google for Jobs recommends baseSalary" in result.stderr  # once open
    assert "not listed (draft)" in result.stderr
    assert not (tmp_path / "instance").exists(), "preview stores nothing"


def test_preview_writes_the_page_to_a_file(tmp_path: Path, postings: Path) -> None:
    write(postings, "night-baker.md", DRAFT)
    result = syndicate(tmp_path, "preview", "postings/night-baker.md", "--output", "page.html")
    assert result.returncode == 0 and result.stdout == ""
    [job] = job_postings((tmp_path / "page.html").read_bytes(), "http://127.0.0.1:5000/jobs/night-baker")
    assert job["url"] == "http://127.0.0.1:5000/jobs/night-baker"  # no base URL set: the local run's


def test_preview_says_what_each_board_gets(tmp_path: Path, postings: Path) -> None:
    write(postings, "rust.md", posting_text("rust", tags="[rust]", remote="only", applicant_locations="[DE]"))
    (tmp_path / "boards.toml").write_text(
        '[[boards]]\nname = "all"\nurl = "https://a.example/hook"\nsecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\n'
        '[[boards]]\nname = "go"\nurl = "https://b.example/hook"\nsecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\n'
        'tags = ["go"]\n',
        encoding="utf-8",
    )
    result = syndicate(tmp_path, "preview", "postings/rust.md")
    assert result.returncode == 0, result.stderr
    assert "board all: posting.created or posting.updated on the next scan" in result.stderr
    assert "board go: not sent: it takes only tags go" in result.stderr
    assert "feeds (/feed.rss, /feed.atom, /feed.json, /sitemap.xml, /api/postings): listed" in result.stderr


def test_preview_of_a_broken_file_names_file_field_and_reason(tmp_path: Path, postings: Path) -> None:
    write(
        postings,
        "broken.md",
        "---\ntitle: Engineer\ncompany: Acme\nsalary: {value: lots, currency: EUR, per: YEAR}\n---\n",
    )
    result = syndicate(tmp_path, "preview", "postings/broken.md")
    assert result.returncode == 1 and result.stdout == ""
    [line] = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert line == "postings/broken.md: salary.value: error: must be a number, got 'lots'"
    assert "left out of every output" in result.stderr


def test_preview_of_a_broken_file_the_server_still_serves_says_it_stays_live(tmp_path: Path, postings: Path) -> None:
    path = write(postings, "night-baker.md", DRAFT.replace("status: draft", "status: open"))
    database_url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    migrate(database_url)
    store = Store(database_url)
    try:  # the server read it, in the zone the command reads its files in
        PostingLoader(postings, store, ZoneInfo(TIMEZONE), 1024 * 1024, clock=Clock(SHIPPED_NOW)).refresh()
    finally:
        store.close()
    path.write_text(path.read_text(encoding="utf-8").replace("PART_TIME", "SOMETIMES"), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    result = syndicate(tmp_path, "preview", "postings/night-baker.md", DATABASE_URL=database_url)
    assert result.returncode == 1 and result.stdout == ""
    assert "employment_type: error:" in result.stderr
    assert "everywhere: stale: the server still serves the last good version ('Night Baker'" in result.stderr
    assert "until the file is fixed" in result.stderr and "left out of every output" not in result.stderr
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "night-baker.md").write_bytes(path.read_bytes())
    elsewhere = syndicate(tmp_path, "preview", "copy/night-baker.md", DATABASE_URL=database_url)
    assert elsewhere.returncode == 1 and "left out of every output" in elsewhere.stderr, "another folder is not served"


def test_preview_names_a_missing_date_posted_once(tmp_path: Path, postings: Path) -> None:
    write(postings, "undated.md", posting_text("undated"))
    result = syndicate(tmp_path, "preview", "postings/undated.md")
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "date_posted" in line] == [
        "page /jobs/undated (JSON-LD for Google for Jobs): date_posted: warning: missing; the posting is dated "
        "when the server first sees the file (each new database, each fresh clone of the folder sees it anew): "
        "give the date the job was posted"
    ]


def test_preview_serve_answers_over_http_and_reads_the_file_again(tmp_path: Path, postings: Path) -> None:
    path = write(postings, "night-baker.md", DRAFT)
    port = free_port()
    env = {**os.environ, "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"), "SYNDICATE_POSTINGS_DIR": str(postings)}
    server = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "preview", str(path), "--serve", "--port", str(port)],
        cwd=tmp_path,
        env={
            **env,
            "SYNDICATE_BOARDS": str(tmp_path / "boards.toml"),
            "DATABASE_URL": f"sqlite:///{tmp_path}/db",
            "SYNDICATE_BASE_URL": "https://jobs.example",  # production's: the preview must not load from it
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/jobs/night-baker"

    def answering() -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.ConnectionError:
            return server.poll() is not None

    try:
        assert wait_for(answering, 30) and server.poll() is None
        first = requests.get(url, timeout=5)
        assert first.headers["Content-Type"] == "text/html; charset=utf-8"
        [job] = job_postings(first.content, url)
        assert job["title"] == "Night Baker" and job["url"] == url  # the address served, not the base URL
        page = lxml.html.fromstring(first.content)
        assert page.xpath("//link[@rel='stylesheet']/@href") == [f"http://127.0.0.1:{port}/static/style.css"]
        assert requests.get(f"http://127.0.0.1:{port}/static/style.css", timeout=5).status_code == 200
        head = requests.head(url, timeout=5)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["Content-Length"] == first.headers["Content-Length"]
        assert requests.get(url, headers={"Host": f"localhost:{port}"}, timeout=5).status_code == 200
        for host in (f"rebound.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}"):  # DNS rebinding
            refused = requests.get(url, headers={"Host": host}, timeout=5)
            assert refused.status_code == 421 and "Night Baker" not in refused.text, host
        long_name = requests.get(f"http://127.0.0.1:{port}/static/{'x' * 5000}.svg", timeout=5)
        assert long_name.status_code == 404
        logo = requests.get(f"http://127.0.0.1:{port}/static/logos/ledgerly.svg", timeout=5)
        assert logo.status_code == 200 and logo.headers["Content-Type"] == "image/svg+xml"  # the shipped logos
        for outside in ("../pages.py", "logos/../../pages.py", "%2e%2e/pages.py", ".hidden"):
            assert requests.get(f"http://127.0.0.1:{port}/static/{outside}", timeout=5).status_code == 404, outside
        write(postings, "night-baker.md", DRAFT.replace("Night Baker", "Night Baker (Sourdough)"))
        [edited] = job_postings(requests.get(url, timeout=5).content, url)
        assert edited["title"] == "Night Baker (Sourdough)"
        write(postings, "night-baker.md", "---\ntitle: [unclosed\n---\n")
        broken = requests.get(url, timeout=5)
        assert broken.status_code == 500 and "night-baker.md: front matter: error: invalid YAML" in broken.text
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=20)
    assert f"previewing {path} at {url}" in err and "Traceback" not in err
    assert not (tmp_path / "db").exists() and not (tmp_path / "instance").exists(), "preview stores nothing"


def test_preview_of_a_closed_posting_is_its_410_page_without_json_ld(tmp_path: Path, postings: Path) -> None:
    write(postings, "shut.md", posting_text("shut", title="Shut Job", status="closed"))
    result = syndicate(tmp_path, "preview", "postings/shut.md")
    assert result.returncode == 0, result.stderr
    assert "Shut Job" in result.stdout and job_postings(result.stdout, "http://127.0.0.1:5000/jobs/shut") == []
    assert "closed: /jobs/shut answers 410 without JSON-LD" in result.stderr


@pytest.mark.parametrize("language", ["en", "de"])
def test_preview_is_the_page_the_site_serves(tmp_path: Path, postings: Path, make_app, language: str) -> None:
    """Byte for byte the web's page of the same open posting, in the site's language."""
    write(
        postings,
        "bristol-nurse.md",
        posting_text(
            "bristol-nurse",
            title="Ward Nurse",
            location="{city: Bristol, region: GB-ENG, country: GB}",
            salary="{min: 30000, max: 36000, currency: GBP, per: YEAR}",
            employment_type="FULL_TIME",
            date_posted="2026-11-20",
            valid_through="2099-01-01",
        ),
    )
    base = "https://jobs.example"
    served = make_app(postings, base_url=base, language=language, timezone=TIMEZONE).test_client()
    page = served.get("/jobs/bristol-nurse")
    assert page.status_code == 200
    shown = syndicate(
        tmp_path, "preview", "postings/bristol-nurse.md", SYNDICATE_BASE_URL=base, SYNDICATE_LANGUAGE=language
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == page.text
    assert (
        "Bristol, England, United Kingdom" if language == "en" else "Bristol, England, Vereinigtes Königreich"
    ) in shown.stdout
