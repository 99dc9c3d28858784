"""What users noticed as inconsistent (issue 10): who the webhooks say sent them, whole-second timestamps
in every output, and a body's leading title heading shown once."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from conftest import REPO_ROOT, posting_text, write
from processes import run_cli, service_env

from bench.sink import DEMO_SECRET, Sink

SITE = "https://jobs.example"


def package_version() -> str:
    """The version the project declares (pyproject.toml), read here independently of the code."""
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


# --- User-Agent -------------------------------------------------------------------------------------


@pytest.fixture
def push_env(tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink) -> dict[str, str]:
    boards = tmp_path / "boards.toml"
    boards.write_text(f'[[boards]]\nname = "board"\nurl = "{sink.url}"\nsecret = "{DEMO_SECRET}"\n', encoding="utf-8")
    write(postings_dir, "a.md", posting_text("a"))
    return service_env(tmp_path, postings_dir, database_url, SYNDICATE_BOARDS=str(boards), SYNDICATE_BASE_URL=SITE)


def test_every_webhook_request_names_syndicate_its_version_and_the_site(push_env: dict[str, str], sink: Sink) -> None:
    """Deliveries and ``boards ping`` alike send ``User-Agent: syndicate/<version> (+<site>)``, as Svix and
    GitHub name themselves, rather than ``python-requests/x.y``."""
    assert run_cli(push_env, "migrate").returncode == 0
    pushed = run_cli(push_env, "push")
    assert pushed.returncode == 0, pushed.stderr
    pinged = run_cli(push_env, "boards", "ping", "board")
    assert pinged.returncode == 0, pinged.stderr
    assert [e["payload"]["type"] for e in sink.events] == ["posting.created", "ping"]
    expected = f"syndicate/{package_version()} (+{SITE})"
    assert [e["headers"].get("User-Agent") for e in sink.events] == [expected, expected]
