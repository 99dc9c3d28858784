"""The lint command, run as an operator runs it: a real `flask --app app syndicate lint` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, posting_text, write


def run_lint(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"),
        "SYNDICATE_POSTINGS_DIR": str(tmp_path / "served"),  # the app's own folder; lint is given another
        "DATABASE_URL": "",
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "syndicate", "lint", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "check"
    write(
        folder,
        "complete.md",
        posting_text(
            "complete",
            location="{city: Berlin, country: DE}",
            salary="{min: 1, max: 2, currency: EUR, per: YEAR}",
            employment_type="FULL_TIME",
            valid_through="2099-01-01",
            date_posted="2026-11-02",
        ),
    )
    return folder


def test_clean_folder_exits_0_and_prints_nothing_but_the_summary(tmp_path: Path, folder: Path) -> None:
    result = run_lint(tmp_path, str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "1 file(s), 0 left out, 0 error(s), 0 warning(s)" in result.stderr


def test_errors_and_warnings_as_json(tmp_path: Path, folder: Path) -> None:
    write(folder, "broken.md", posting_text(salary="[1, 2]"))
    write(folder, "remote.md", posting_text("remote", remote="only", valid_through="2026-01-01"))
    write(folder, "dup.md", posting_text("complete"))
    result = run_lint(tmp_path, str(folder), "--format", "json")
    assert result.returncode == 1
    rows = json.loads(result.stdout)
    assert {"file", "id", "level", "field", "message"} == set(rows[0])
    found = {(r["file"], r["level"], r["field"]) for r in rows}
    assert ("broken.md", "error", "salary") in found
    assert ("dup.md", "error", "id") in found
    assert ("remote.md", "warning", "applicant_locations") in found
    assert ("remote.md", "warning", "salary") in found
    assert ("remote.md", "warning", "employment_type") in found
    past = next(r for r in rows if r["file"] == "remote.md" and r["field"] == "valid_through")
    assert past["message"].startswith("already past (2026-01-01T23:59:59+00:00)")
    assert not [r for r in rows if r["file"] == "complete.md"]


def test_warnings_fail_only_with_strict(tmp_path: Path, folder: Path) -> None:
    write(folder, "vague.md", posting_text("vague", location="Somewhere nice"))
    relaxed = run_lint(tmp_path, str(folder))
    assert relaxed.returncode == 0
    assert "vague.md: location[0]: warning: 'Somewhere nice' is free text" in relaxed.stdout
    assert run_lint(tmp_path, str(folder), "--strict").returncode == 1


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = run_lint(tmp_path, str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "is not a file or a folder" in result.stderr


def test_shipped_postings_have_no_errors(tmp_path: Path) -> None:
    result = run_lint(tmp_path, str(REPO_ROOT / "postings"), "--format", "json")
    rows = json.loads(result.stdout)
    assert [r for r in rows if r["level"] == "error"] == []
    assert result.returncode == 0


def test_docs_show_the_real_lint_output(tmp_path: Path) -> None:
    """The lint example in docs/postings.md is this command's output (less warnings that only time brings)."""
    result = run_lint(tmp_path, str(REPO_ROOT / "postings"))
    page = (REPO_ROOT / "docs" / "postings.md").read_text(encoding="utf-8")
    shown = page.split("<!-- lint-output -->\n```\n", 1)[1].split("```", 1)[0]
    actual = [line for line in result.stdout.splitlines() if "already past" not in line]
    assert shown.splitlines() == actual
