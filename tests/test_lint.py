"""`syndicate lint` as an author and a pre-commit hook run it: files and folders, each problem once, the
line of a YAML mistake, the stale mark of a broken file the server still serves, and a start that
loads only the reading side."""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
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
    upgraded = lint(tmp_path, *args, **env, SYNDICATE_MAX_TAGS="49")  # another parse setting: the text read again
    assert [line for line in upgraded.stdout.splitlines() if ": stale: " in line] == stale
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


def _served_and_broken(tmp_path: Path, database_url: str) -> Path:
    """A served folder the server read once (its posting cached), whose file is broken since."""
    served = tmp_path / "postings"
    path = write(served, "data-engineer.md", posting_text("data-engineer", title="Data Engineer", **COMPLETE))
    migrate(database_url)
    store = Store(database_url)
    try:
        PostingLoader(served, store, UTC_ZONE, 1024 * 1024, clock=Clock(SHIPPED_NOW)).refresh()
    finally:
        store.close()
    path.write_text(path.read_text(encoding="utf-8").replace("FULL_TIME", "SOMETIMES"), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    return path


@pytest.mark.parametrize("names", [(".", "{abs}"), ("ok.md", "../p/ok.md"), ("ok.md", "{abs}", "../p")])
def test_a_file_given_under_two_names_is_linted_once(tmp_path: Path, names: tuple[str, ...]) -> None:
    path = write(tmp_path / "p", "ok.md", posting_text("ok", **COMPLETE))
    result = lint(tmp_path / "p", *(name.format(abs=path) for name in names))
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""
    assert "1 file(s), 0 left out" in result.stderr


def test_a_broken_served_file_given_twice_is_reported_and_marked_once(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    path = _served_and_broken(tmp_path, database_url)
    env = {"SYNDICATE_POSTINGS_DIR": str(tmp_path / "postings"), "DATABASE_URL": database_url}
    result = lint(tmp_path, "postings/data-engineer.md", str(path), "postings", **env)
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == ["postings/data-engineer.md"] * 2, lines
    assert "postings/data-engineer.md: file: stale: the server still serves" in lines[1]
    assert "1 file(s), 1 left out (1 still served as their last good version)" in result.stderr


@pytest.mark.parametrize("url", ["mysql://x@127.0.0.1:9/x", "postgresql://x@127.0.0.1:notaport/x", "foo://bar"])
def test_a_database_url_no_driver_takes_costs_only_the_stale_mark(tmp_path: Path, url: str) -> None:
    write(tmp_path / "postings", "broken.md", "---\ntitle: x\nemployment_type: SOMETIMES\n---\n")
    result = lint(tmp_path, "postings", SYNDICATE_POSTINGS_DIR=str(tmp_path / "postings"), DATABASE_URL=url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert "broken.md: employment_type: error" in result.stdout
    assert ": stale: " not in result.stdout
    assert "1 file(s), 1 left out, " in result.stderr


def test_lint_reads_a_sqlite_database_without_writing_to_it(tmp_path: Path) -> None:
    db = tmp_path / "syndicate.db"
    _served_and_broken(tmp_path, f"sqlite:///{db}")
    with sqlite3.connect(db) as conn:  # a database in the rollback journal mode a server may have left
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    conn.close()
    before = (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(tmp_path)))
    env = {"SYNDICATE_POSTINGS_DIR": str(tmp_path / "postings"), "DATABASE_URL": f"sqlite:///{db}"}
    result = lint(tmp_path, "postings", **env)
    assert ": stale: " in result.stdout, "the cache was read"
    assert (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(tmp_path))) == before
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        conn.execute("BEGIN EXCLUSIVE")  # a writer holds the database: lint reports without the stale mark
        locked = lint(tmp_path, "postings", **env)
        conn.rollback()
    finally:
        conn.close()
    assert locked.returncode == 1 and ": stale: " not in locked.stdout and "Traceback" not in locked.stderr


def test_a_subfolder_that_cannot_be_listed_is_an_error_not_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Root may list any folder, so the refusal is made in process, where ``scan`` opens the folder."""
    from syndicate.postings import files

    root = tmp_path / "postings"
    write(root, "good.md", posting_text("good", **COMPLETE))
    write(root / "team", "hidden.md", "---\ntitle: [\n---\n")
    real_open = os.open

    def refusing(path, flags, *args, **kwargs):
        if os.fspath(path) == str(root / "team") and flags & os.O_DIRECTORY:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    results = files.read_folder(root, UTC_ZONE, 1024 * 1024)
    assert sorted(results) == ["good.md", "team"]
    assert [str(p) for p in results["team"].problems] == [
        "team: folder: error: cannot list the folder: Permission denied"
    ]
    found = files.read_paths([root, root / "good.md"], UTC_ZONE, 1024 * 1024)
    assert sorted(found) == [f"{root.as_posix()}/good.md", f"{root.as_posix()}/team"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "lint reports it, once"
    # the server's scan has no author to tell: it logs the folder, and serves the rest
    with caplog.at_level(logging.WARNING, logger="syndicate.postings.files"):
        assert list(files.scan(root)) == ["good.md"]
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot list {root / 'team'}: [Errno 13] Permission denied: '{root / 'team'}'"
    ]


def test_a_file_that_is_not_regular_is_refused_as_such(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.md")
    result = lint(tmp_path, "pipe.md", "/dev/zero", "--format", "json")
    rows = [(r["file"], r["field"], r["level"], r["message"]) for r in json.loads(result.stdout)]
    assert rows == [
        ("/dev/zero", "file", "error", "not a regular file"),
        ("pipe.md", "file", "error", "not a regular file"),
    ]
    assert result.returncode == 1


def test_a_file_longer_than_its_size_says_is_held_to_the_limit(tmp_path: Path) -> None:
    status = Path("/proc/self/status")  # a regular file of size 0 whose reading gives more than 100 bytes
    if not status.is_file():
        pytest.skip("needs Linux /proc")
    result = lint(tmp_path, str(status), "--format", "json", SYNDICATE_MAX_POSTING_BYTES="100")
    rows = [(r["field"], r["message"]) for r in json.loads(result.stdout)]
    assert rows == [("file", "the file is over the limit of 100 bytes (SYNDICATE_MAX_POSTING_BYTES)")]
