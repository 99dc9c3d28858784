"""`syndicate lint` as an author and a pre-commit hook run it: files and folders, each problem once, the
line of a YAML mistake, the stale mark of a broken file the server still serves, and a start that
loads only the reading side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, SHIPPED_NOW, UTC_ZONE, Clock, migrate, posting_text, write

from syndicate.postings.loader import PostingLoader
from syndicate.store.engine import Store

COMPLETE = {
    "location": "{city: Berlin, country: DE}",
    "salary": "{min: 1, max: 2, currency: EUR, per: YEAR}",
    "employment_type": "FULL_TIME",
    "valid_through": "2099-01-01",
    "date_posted": "2026-11-02",
}


def lint(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m syndicate lint ARGS`` (what the console script and a pre-commit hook run)."""
    return subprocess.run(
        [sys.executable, "-m", "syndicate", "lint", *args],
        cwd=cwd,
        env={**os.environ, "SYNDICATE_INSTANCE_DIR": str(cwd / "instance"), "DATABASE_URL": "", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_files_and_folders_as_a_pre_commit_hook_passes_them(tmp_path: Path) -> None:
    one = write(tmp_path / "a", "good.md", posting_text("good", **COMPLETE))
    two = write(tmp_path / "b", "vague.md", posting_text("vague", **{**COMPLETE, "location": "Somewhere nice"}))
    write(tmp_path / "c", "broken.md", "---\ntitle: x\nemployment_type: SOMETIMES\n---\n")
    result = lint(tmp_path, "a/good.md", "b/vague.md", "c")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "b/vague.md: location[0]: warning: 'Somewhere nice' is free text; Google for Jobs wants a structured "
        "address (city, region, country)",
        *[line for line in result.stdout.splitlines() if line.startswith("c/broken.md: ")],
    ]
    assert any("c/broken.md: company: error" in line for line in result.stdout.splitlines())
    assert "3 file(s), 1 left out, " in result.stderr
    assert lint(tmp_path, str(one), str(two)).returncode == 0, "absolute paths, warnings only"
    assert lint(tmp_path, "a/good.md").stdout == ""


def test_a_path_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    result = lint(tmp_path, "missing.md")
    assert result.returncode == 2
    assert "missing.md is not a file or a folder" in result.stderr


def test_each_problem_is_printed_once_and_nothing_is_logged(tmp_path: Path) -> None:
    folder = tmp_path / "postings"
    write(folder, "broken.md", "---\ntitle: [unclosed\ncompany: y\n---\nbody\n")
    write(folder, "vague.md", posting_text("vague", **{**COMPLETE, "location": "Somewhere nice"}))
    # the served folder is the one linted: nothing may load it as the server does and log its problems
    result = lint(tmp_path, "postings", SYNDICATE_POSTINGS_DIR=str(folder))
    printed = (result.stdout + result.stderr).splitlines()
    assert sum("broken.md" in line for line in printed) == 1, printed
    assert sum("vague.md" in line for line in printed) == 1, printed
    assert not [line for line in printed if " WARNING " in line or " INFO " in line], printed


def test_an_unclosed_bracket_is_named_where_it_opened(tmp_path: Path) -> None:
    write(tmp_path / "p", "broken.md", "---\ntitle: Data Engineer\ntags: [python, sql\ncompany: y\n---\n")
    result = lint(tmp_path, "p/broken.md", "--format", "json")
    (row,) = json.loads(result.stdout)
    assert row["field"] == "front matter"
    assert row["message"].startswith("invalid YAML at line 3, column 7: the '[' opened here is never closed")


def test_a_posting_without_its_own_date_is_warned_about(tmp_path: Path) -> None:
    undated = {k: v for k, v in COMPLETE.items() if k != "date_posted"}
    write(tmp_path / "p", "undated.md", posting_text("undated", **undated))
    write(tmp_path / "p", "dated.md", posting_text("dated", **COMPLETE))
    rows = json.loads(lint(tmp_path, "p", "--format", "json").stdout)
    assert [(r["file"], r["field"], r["level"]) for r in rows] == [("undated.md", "date_posted", "warning")]
    assert "dated when the server first sees the file" in rows[0]["message"]


@pytest.mark.parametrize("given", ["folder", "file"])
def test_a_broken_file_the_server_still_serves_is_marked_stale(tmp_path: Path, database_url: str, given: str) -> None:
    served = tmp_path / "postings"
    path = write(served, "data-engineer.md", posting_text("data-engineer", title="Data Engineer", **COMPLETE))
    write(served, "never.md", "---\ntitle: [\n---\n")  # never read well: nothing of it is served
    migrate(database_url)
    store = Store(database_url)
    try:
        PostingLoader(served, store, UTC_ZONE, 1024 * 1024, clock=Clock(SHIPPED_NOW)).refresh()  # the server read it
    finally:
        store.close()
    path.write_text(path.read_text(encoding="utf-8").replace("FULL_TIME", "SOMETIMES"), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    args = ["postings"] if given == "folder" else ["postings/data-engineer.md", "postings/never.md"]
    env = {"SYNDICATE_POSTINGS_DIR": str(served), "DATABASE_URL": database_url}
    result = lint(tmp_path, *args, **env)
    stale = [line for line in result.stdout.splitlines() if ": stale: " in line]
    assert len(stale) == 1 and "data-engineer.md: file: stale: the server still serves" in stale[0], result.stdout
    assert "'Data Engineer'" in stale[0]
    assert "(1 still served as their last good version)" in result.stderr
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "data-engineer.md").write_bytes(path.read_bytes())
    elsewhere = lint(tmp_path, "copy", **env)
    assert elsewhere.returncode == 1 and ": stale: " not in elsewhere.stdout, "another folder is not served"


def test_lint_of_a_clean_folder_makes_no_database(tmp_path: Path) -> None:
    write(tmp_path / "postings", "good.md", posting_text("good", **COMPLETE))
    db = tmp_path / "instance" / "syndicate.db"
    result = lint(
        tmp_path, "postings", SYNDICATE_POSTINGS_DIR=str(tmp_path / "postings"), DATABASE_URL=f"sqlite:///{db}"
    )
    assert result.returncode == 0, result.stderr
    assert not db.exists()


HEAVY = ("sqlalchemy", "flask", "werkzeug", "feedgen", "requests", "apscheduler", "alembic", "lxml", "ftfy")


def test_lint_loads_only_the_reading_side(tmp_path: Path) -> None:
    """What makes ``lint`` start fast (``bench/cli_start.py`` measures it): no database, web, feed or
    push library is imported for a clean folder, nor a command it does not run."""
    write(tmp_path / "p", "good.md", posting_text("good", **COMPLETE))
    probe = (
        "import sys\n"
        "from syndicate.cli import cli\n"
        "try:\n"
        "    cli(['lint', sys.argv[1]], prog_name='syndicate')\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "names = {m.split('.')[0] for m in sys.modules} | {m for m in sys.modules if m.startswith('syndicate.')}\n"
        "print(' '.join(sorted(names)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "p")],
        cwd=tmp_path,
        env={**os.environ, "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert "syndicate.postings.reader" in loaded, "the probe ran lint"
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert not {m for m in loaded if m.startswith(("syndicate.cli.ops", "syndicate.cli.boards", "syndicate.push"))}


def test_the_command_list_shows_each_command_s_own_summary() -> None:
    """``syndicate --help`` lists the commands without importing them: its lines must be theirs."""
    import click

    from syndicate.cli import COMMANDS, cli

    context = click.Context(cli)
    for name, (_target, line) in COMMANDS.items():
        command = cli.get_command(context, name)
        assert command is not None and command.get_short_help_str(limit=200) == line, name


def test_the_group_lists_every_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "syndicate", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    from syndicate.cli import COMMANDS

    listed = [line.split()[0] for line in done.stdout.split("Commands:", 1)[1].splitlines() if line.strip()]
    assert listed == list(COMMANDS)


def test_docs_show_the_real_yaml_message(tmp_path: Path) -> None:
    page = (REPO_ROOT / "docs" / "postings.md").read_text(encoding="utf-8")
    shown = next(line for line in page.splitlines() if line.startswith("broken.md: front matter: error: invalid YAML"))
    write(
        tmp_path,
        "broken.md",
        "---\ntitle: Data Engineer\ncompany: Acme\ntags: [python, sql\nemployment_type: FULL_TIME\n---\n",
    )
    assert lint(tmp_path, "broken.md").stdout.splitlines() == [shown]
