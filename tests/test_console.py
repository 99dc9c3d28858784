"""The ``syndicate`` console script: the same commands as ``flask --app app syndicate``, each building
only what it uses (lint: the settings and the folder it is given; the delivery log: the store)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, migrate, posting_text, write

pytestmark = pytest.mark.slow

UNREACHABLE = "postgresql://nobody@127.0.0.1:9/none"  # port 9 (discard): nothing answers there


def syndicate(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m syndicate ARGS``, which is what the ``syndicate`` script runs."""
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=tmp_path,  # not the checkout: nothing may depend on the working directory
        env={**os.environ, "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def commands(help_text: str) -> list[str]:
    listed = help_text.split("Commands:", 1)[1]
    return sorted(line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line.split())


def test_the_script_has_the_commands_of_the_flask_cli(tmp_path: Path) -> None:
    mine = syndicate(tmp_path, "--help")
    flask = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "syndicate", "--help"],
        cwd=REPO_ROOT,
        env={**os.environ, "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert mine.returncode == flask.returncode == 0, mine.stderr + flask.stderr
    assert commands(mine.stdout) == commands(flask.stdout)
    assert {"lint", "migrate", "worker", "push", "deliveries", "redeliver", "boards"} <= set(commands(mine.stdout))


def test_lint_reads_its_folder_and_nothing_else(tmp_path: Path) -> None:
    """No database (an unreachable one is configured), no instance folder, no load of the served folder."""
    served = tmp_path / "served"
    write(served, "served-broken.md", "---\ntitle: [unclosed\n---\n")
    checked = tmp_path / "check"
    write(checked, "ok.md", posting_text("ok"))
    result = syndicate(tmp_path, "lint", str(checked), DATABASE_URL=UNREACHABLE, SYNDICATE_POSTINGS_DIR=str(served))
    assert result.returncode == 0, result.stderr
    assert "1 file(s), 0 left out, 0 error(s)" in result.stderr
    assert "served-broken" not in result.stdout + result.stderr, "the served folder was not read"
    assert "database" not in result.stderr.lower()
    assert not (tmp_path / "instance").exists(), "lint made no local state"


def test_lint_without_a_folder_reads_the_configured_one(tmp_path: Path) -> None:
    served = tmp_path / "served"
    write(served, "broken.md", "---\ntitle: [unclosed\n---\n")
    result = syndicate(tmp_path, "lint", DATABASE_URL=UNREACHABLE, SYNDICATE_POSTINGS_DIR=str(served))
    assert result.returncode == 1
    assert "broken.md" in result.stdout


def test_the_delivery_log_commands_parse_no_posting(tmp_path: Path) -> None:
    """Today's log is read from the store alone: a folder of broken files is never parsed (or warned about)."""
    served = tmp_path / "served"
    for n in range(3):
        write(served, f"broken-{n}.md", "---\ntitle: [unclosed\n---\n")
    database_url = f"sqlite:///{tmp_path / 'log.db'}"
    migrate(database_url)
    env = {"DATABASE_URL": database_url, "SYNDICATE_POSTINGS_DIR": str(served)}
    for args in (("deliveries",), ("deliveries", "--format", "json"), ("redeliver", "--failed")):
        result = syndicate(tmp_path, *args, **env)
        assert result.returncode == 0, result.stderr
        assert "broken-" not in result.stdout + result.stderr, f"{args} parsed the postings"


def test_the_delivery_log_of_a_database_not_migrated_is_a_clear_error(tmp_path: Path) -> None:
    result = syndicate(tmp_path, "deliveries", DATABASE_URL=f"sqlite:///{tmp_path / 'new.db'}")
    assert result.returncode == 1
    assert "run `syndicate migrate`" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["notaurl", "foo://x/y"], ids=["not a URL", "a scheme no driver takes"])
def test_a_database_url_that_cannot_be_opened_is_a_clear_error(tmp_path: Path, url: str) -> None:
    result = syndicate(tmp_path, "deliveries", DATABASE_URL=url)
    assert result.returncode == 1
    assert "the database cannot be opened" in result.stderr and "Traceback" not in result.stderr
