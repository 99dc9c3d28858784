"""The operator's commands as real ``python -m syndicate`` processes: ``boards enable`` of a board that
is not disabled, ``deliveries`` showing when each attempt happened, and every ``--help``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import migrate, posting_text, write
from test_slow_boards import boards_file

from bench.sink import Sink

pytestmark = pytest.mark.slow

SHOWN = "%Y-%m-%d %H:%M:%S UTC"


def syndicate(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=tmp_path,
        env={**os.environ, "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def env(tmp_path: Path, sink: Sink) -> dict[str, str]:
    """One posting, one board (the verifying sink), a migrated SQLite database; the first attempt is
    immediate and the next an hour later."""
    postings = tmp_path / "postings"
    write(postings, "dev.md", posting_text("dev"))
    database_url = f"sqlite:///{tmp_path / 'syndicate.db'}"
    migrate(database_url)
    return {
        "SYNDICATE_POSTINGS_DIR": str(postings),
        "DATABASE_URL": database_url,
        "SYNDICATE_BOARDS": str(boards_file(tmp_path, board=sink.url)),
        "SYNDICATE_RETRY_SCHEDULE": "0,3600",
        "SYNDICATE_BASE_URL": "https://jobs.example",
    }


def push(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = syndicate(tmp_path, "push", **env)
    assert result.returncode == 0, result.stderr
    return result


# --- boards enable ------------------------------------------------------------------------------


def test_enabling_a_board_that_is_enabled_says_so(tmp_path: Path, env: dict[str, str]) -> None:
    never_failed = syndicate(tmp_path, "boards", "enable", "board", **env)
    assert never_failed.returncode == 0, never_failed.stderr
    assert never_failed.stdout.strip() == "board board is already enabled"


def test_enabling_a_disabled_board_enables_it_once(tmp_path: Path, env: dict[str, str], sink: Sink) -> None:
    sink.answers.append((410, {}))
    push(tmp_path, env)
    assert "DISABLED" in syndicate(tmp_path, "boards", **env).stdout
    first = syndicate(tmp_path, "boards", "enable", "board", **env)
    second = syndicate(tmp_path, "boards", "enable", "board", **env)
    assert (first.returncode, first.stdout.strip()) == (0, "board board enabled")
    assert (second.returncode, second.stdout.strip()) == (0, "board board is already enabled")
    assert "DISABLED" not in syndicate(tmp_path, "boards", **env).stdout


def test_enabling_an_unknown_board_is_an_error(tmp_path: Path, env: dict[str, str]) -> None:
    result = syndicate(tmp_path, "boards", "enable", "nosuch", **env)
    assert result.returncode == 1
    assert "no board 'nosuch'" in result.stderr and "(boards: board)" in result.stderr


# --- deliveries ---------------------------------------------------------------------------------


def shown_times(line: str) -> list[datetime]:
    return [datetime.strptime(m, SHOWN).replace(tzinfo=UTC) for m in re.findall(r"\d{4}-\d\d-\d\d \S+ UTC", line)]


def test_deliveries_show_when_each_attempt_happened(tmp_path: Path, env: dict[str, str], sink: Sink) -> None:
    sink.answers += [(503, {}), (204, {})]
    # what the processes show must fall inside the test's run
    before = datetime.now(UTC).replace(microsecond=0)  # wall-clock: the processes read the real clock
    push(tmp_path, env)  # the first attempt: 503, the next one due in an hour
    pending = syndicate(tmp_path, "deliveries", **env)
    after = datetime.now(UTC)  # wall-clock: the end of that run, on the processes' clock
    assert pending.returncode == 0, pending.stderr
    header, created, attempt, upcoming = pending.stdout.splitlines()
    assert "posting.created" in header and "pending" in header
    assert created.split()[0] == "created" and before <= shown_times(created)[0] <= after
    assert attempt.split()[:2] == ["attempt", "1"] and " 503 " in attempt
    assert before <= shown_times(attempt)[0] <= after
    assert upcoming.split()[0] == "next"
    assert shown_times(upcoming)[0] > after + timedelta(minutes=30)  # an hour, with jitter


def test_deliveries_list_every_attempt_of_a_delivery(tmp_path: Path, env: dict[str, str], sink: Sink) -> None:
    sink.answers += [(503, {}), (204, {})]
    env["SYNDICATE_RETRY_SCHEDULE"] = "0,0"  # the second attempt is due at once (this push or the next)
    push(tmp_path, env)
    push(tmp_path, env)
    result = syndicate(tmp_path, "deliveries", **env)
    assert result.returncode == 0, result.stderr
    header, _created, *rest = result.stdout.splitlines()
    assert "succeeded" in header and "attempts=2" in header
    assert [line.split()[:2] + line.split()[5:6] for line in rest] == [["attempt", "1", "503"], ["attempt", "2", "204"]]
    first, second = (shown_times(line)[0] for line in rest)
    assert first <= second  # no "next" line: nothing is due any more


# --- help ---------------------------------------------------------------------------------------


def listed(help_text: str) -> list[str]:
    rows = help_text.split("Commands:", 1)[1].splitlines()
    return [row.split()[0] for row in rows if row.startswith("  ") and row.split()]


def every_command(tmp_path: Path) -> list[list[str]]:
    top = syndicate(tmp_path, "--help")
    assert top.returncode == 0, top.stderr
    found = []
    for name in listed(top.stdout):
        found.append([name])
        own = syndicate(tmp_path, name, "--help").stdout
        if "Commands:" in own:
            found += [[name, sub] for sub in listed(own)]
    return found


def test_every_help_renders_without_markup_and_lists_whole_lines(tmp_path: Path) -> None:
    commands = every_command(tmp_path)
    assert ["boards", "enable"] in commands and ["new"] in commands and ["preview"] in commands
    for command in [[], *commands]:
        result = syndicate(tmp_path, *command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "``" not in result.stdout, (command, result.stdout)
        assert not re.search(r":[a-z]+:`", result.stdout), (command, result.stdout)
        if "Commands:" in result.stdout:
            rows = result.stdout.split("Commands:", 1)[1].splitlines()
            assert not [row for row in rows if row.rstrip().endswith("...")], (command, result.stdout)
