"""boards.toml: every mistake named with its board and key, secrets never repeated; the push CLI as operators run it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import posting_text, write
from processes import run_cli

from bench.sink import DEMO_SECRET, Sink
from syndicate.push.boards import BoardsError, parse_boards

GOOD = f'[[boards]]\nname = "acme"\nurl = "https://acme.example/hooks"\nsecret = "{DEMO_SECRET}"\n'


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(BoardsError) as caught:
        parse_boards(text, Path("boards.toml"), environ or {})
    return caught.value.problems


def test_a_valid_board_with_defaults() -> None:
    [board] = parse_boards(GOOD, Path("boards.toml"), {})
    assert board.name == "acme" and board.url == "https://acme.example/hooks"
    assert board.events == {"posting.created", "posting.updated", "posting.closed"}
    assert board.tags == frozenset() and board.matches(("anything",))
    assert board.secret.reveal() == DEMO_SECRET
    assert DEMO_SECRET not in repr(board) and DEMO_SECRET not in str(board.secret)


@pytest.mark.parametrize(
    "change,expected",
    [
        (('url = "https://acme.example/hooks"', 'url = "ftp://acme.example/hooks"'), "board 'acme': url: must be"),
        ((f'secret = "{DEMO_SECRET}"', 'secret = "not-a-secret"'), "board 'acme': secret: must start with 'whsec_'"),
        ((f'secret = "{DEMO_SECRET}"', 'secret = "whsec_!!!"'), "board 'acme': secret: must be base64"),
        ((f'secret = "{DEMO_SECRET}"', 'secret = "whsec_c2hvcnQ="'), "must decode to 24 to 64 bytes, got 5"),
        ((f'secret = "{DEMO_SECRET}"\n', ""), "board 'acme': secret: missing"),
        (
            (f'secret = "{DEMO_SECRET}"', 'secret_env = "ACME_SECRET"'),
            "secret_env: the variable ACME_SECRET is not set",
        ),
        (("]\n", ']\nevents = ["posting.deleted"]\n'), "board 'acme': events: unknown event 'posting.deleted'"),
        (("]\n", ']\ncolour = "red"\n'), "board 'acme': colour: unknown key"),
        (('name = "acme"', 'name = "has space"'), "boards[0]: name: must be"),
    ],
)
def test_each_mistake_names_the_board_and_the_key(change: tuple[str, str], expected: str) -> None:
    text = GOOD.replace(*change, 1)
    found = problems(text)
    assert any(expected in p for p in found), found
    assert all(DEMO_SECRET not in p for p in found)


def test_duplicate_names_and_several_mistakes_are_all_reported() -> None:
    bad = GOOD.replace("https://", "gopher://")
    found = problems(GOOD + GOOD + bad.replace('"acme"', '"other"'))
    assert "board 'acme': name: duplicate (names must be unique)" in found
    assert any(p.startswith("board 'other': url") for p in found)


def test_a_secret_from_the_environment() -> None:
    text = GOOD.replace(f'secret = "{DEMO_SECRET}"', 'secret_env = "ACME_SECRET"')
    [board] = parse_boards(text, Path("boards.toml"), {"ACME_SECRET": DEMO_SECRET})
    assert board.secret.reveal() == DEMO_SECRET
    found = problems(text, {"ACME_SECRET": "whsec_c2hvcnQ="})
    assert found == ["board 'acme': secret_env: the value of ACME_SECRET must decode to 24 to 64 bytes, got 5"]


def test_not_toml_at_all() -> None:
    assert problems("[[boards]\n")[0].startswith("not valid TOML")


# --- the CLI, as a real `flask --app app syndicate ...` process ----------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink) -> dict[str, str]:
    write(postings_dir, "a.md", posting_text("a", title="Backend Engineer"))
    boards = tmp_path / "boards.toml"
    boards.write_text(f'[[boards]]\nname = "board"\nurl = "{sink.url}"\nsecret = "{DEMO_SECRET}"\n', encoding="utf-8")
    return {
        **os.environ,
        "SYNDICATE_POSTINGS_DIR": str(postings_dir),
        "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"),
        "SYNDICATE_BOARDS": str(boards),
        "DATABASE_URL": database_url,
        "SYNDICATE_BASE_URL": "https://jobs.example",
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, *args)


def test_dry_run_prints_the_bodies_and_sends_nothing(cli_env: dict[str, str], sink: Sink) -> None:
    result = run(cli_env, "push", "--dry-run")
    assert result.returncode == 0, result.stderr
    first, body = result.stdout.splitlines()[:2]
    assert first == "posting.created a v1 -> board"
    assert json.loads(body)["data"]["posting"]["title"] == "Backend Engineer"
    assert sink.requests_seen == 0
    assert "1 event(s) would be enqueued" in result.stderr
    assert json.loads(run(cli_env, "deliveries", "--format", "json").stdout) == [], "nothing was enqueued either"


def test_push_deliveries_redeliver_and_boards(cli_env: dict[str, str], sink: Sink) -> None:
    pushed = run(cli_env, "push")
    assert pushed.returncode == 0, pushed.stderr
    assert "1 event(s) enqueued; 1 attempt(s): 1 succeeded" in pushed.stdout
    [row] = json.loads(run(cli_env, "deliveries", "--format", "json", "--board", "board").stdout)
    assert (row["posting"], row["type"], row["state"], row["attempts"]) == ("a", "posting.created", "succeeded", 1)
    assert row["attempt_log"][0]["status"] == 204
    again = run(cli_env, "redeliver", row["webhook_id"])
    assert again.returncode == 0 and "1 delivery(ies) queued again" in again.stdout
    assert run(cli_env, "push").returncode == 0
    assert [e["id"] for e in sink.events] == [row["webhook_id"]] * 2, "a replay keeps its webhook-id"
    listing = run(cli_env, "boards")
    assert "board" in listing.stdout and "enabled" in listing.stdout and "consecutive failures: 0" in listing.stdout
    assert DEMO_SECRET not in listing.stdout + listing.stderr
    ping = run(cli_env, "boards", "ping", "board")
    assert ping.returncode == 0 and "board: ok 204" in ping.stdout
    assert sink.events[-1]["payload"]["type"] == "ping"
    assert run(cli_env, "redeliver").returncode != 0, "a webhook id or --failed is required"


def test_a_bad_boards_file_stops_the_worker_with_the_reason(cli_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "boards.toml").write_text(
        f'[[boards]]\nname = "board"\nurl = "mailto:x@example.com"\nsecret = "{DEMO_SECRET}"\n', encoding="utf-8"
    )
    for command in (("worker",), ("push",)):
        result = run(cli_env, *command)
        assert result.returncode != 0
        assert "board 'board': url: must be an absolute http or https URL" in result.stderr
        assert DEMO_SECRET not in result.stderr + result.stdout


def test_a_url_with_credentials_is_never_repeated_whole() -> None:
    text = '[[boards]]\nname = "b"\nurl = "ftp://user:hunter2@board.example/x?token=t0ps3cret"\nsecret = "x"\n'
    with pytest.raises(BoardsError) as raised:
        parse_boards(text, Path("boards.toml"))
    assert "hunter2" not in str(raised.value) and "t0ps3cret" not in str(raised.value)
    assert "'ftp://***@board.example/x?token=***'" in str(raised.value)
    board = parse_boards(
        f'[[boards]]\nname = "b"\nurl = "https://u:hunter2@board.example/?token=t0ps3cret"\nsecret = "{DEMO_SECRET}"\n',
        Path("boards.toml"),
    )[0]
    assert "hunter2" not in repr(board) and "t0ps3cret" not in repr(board)
