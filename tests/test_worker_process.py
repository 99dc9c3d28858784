"""The worker as a real process: killed with SIGKILL mid-burst, stopped with SIGTERM, started after edits.

Nothing owed is lost: after a restart every (board, posting) gets its final
version, and anything sent twice carries the same webhook id.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, posting_text, write
from faults import HangingBoard

from bench.sink import DEMO_SECRET, Sink

pytestmark = pytest.mark.slow


def start_worker(
    tmp_path: Path,
    postings: Path,
    database_url: str,
    sink: Sink | HangingBoard,
    prelude: str = "",
    log: Path | None = None,
    board: str = "",
    **more: str,
) -> subprocess.Popen:
    """``syndicate worker`` (the Procfile's line) as ``python -m syndicate``; ``prelude`` runs first in it.
    Its log goes to ``log`` if given (else to a pipe); ``board`` adds lines to the board's table."""
    boards = tmp_path / "boards.toml"
    boards.write_text(
        f'[[boards]]\nname = "board"\nurl = "{sink.url}"\nsecret = "{DEMO_SECRET}"\n{board}', encoding="utf-8"
    )
    env = {
        **os.environ,
        "SYNDICATE_POSTINGS_DIR": str(postings),
        "SYNDICATE_INSTANCE_DIR": str(tmp_path / "instance"),
        "SYNDICATE_BOARDS": str(boards),
        "DATABASE_URL": database_url,
        "SYNDICATE_WATCH_INTERVAL": "0.1",
        "SYNDICATE_LEASE_SECONDS": "3",
        "SYNDICATE_DELIVERY_TIMEOUT": "2",
        "SYNDICATE_RETRY_SCHEDULE": "0,0.5,1,1,1,1,1,1,1,1",
        "SYNDICATE_BASE_URL": "https://jobs.example",
        **more,
    }
    main = "import runpy, sys; sys.argv = ['syndicate', 'worker']; runpy.run_module('syndicate', run_name='__main__')"
    err = subprocess.PIPE if log is None else log.open("w", encoding="utf-8")
    try:
        return subprocess.Popen(
            [sys.executable, "-c", f"{prelude}\n{main}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    finally:
        if not isinstance(err, int):
            err.close()  # the child has its own copy


def final_titles(postings: Path) -> dict[str, str | None]:
    """What each posting id should end as: its title, or None when its file is gone."""
    out: dict[str, str | None] = {}
    for n in range(60):
        path = postings / f"p{n:02d}.md"
        out[f"p{n:02d}"] = (
            next(
                (line[7:] for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("title: ")), None
            )
            if path.exists()
            else None
        )
    return out


def latest(sink: Sink) -> dict[str, dict[str, Any]]:
    """The highest version received per posting."""
    best: dict[str, dict[str, Any]] = {}
    with sink.lock:
        for event in sink.events:
            data = event["payload"]["data"]
            if data["id"] not in best or data["version"] > best[data["id"]]["payload"]["data"]["version"]:
                best[data["id"]] = event
    return best


def arrived(sink: Sink, expected: dict[str, str | None]) -> bool:
    got = latest(sink)
    for pid, title in expected.items():
        event = got.get(pid)
        if event is None:
            return False
        payload = event["payload"]
        if title is None:
            if payload["type"] != "posting.closed":
                return False
        elif payload["type"] == "posting.closed" or payload["data"]["posting"]["title"] != title:
            return False
    return True


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    process.send_signal(sig)
    try:
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        if process.stderr:
            process.stderr.close()
    return code


def test_a_killed_worker_loses_nothing(tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink) -> None:
    for n in range(60):
        write(postings_dir, f"p{n:02d}.md", posting_text(f"p{n:02d}", title=f"Role {n} v0"))
    worker = start_worker(tmp_path, postings_dir, database_url, sink)
    assert wait_for(lambda: len(sink.events) >= 10, 60), "the worker started delivering"
    changes = 0
    try:
        for round_ in range(1, 5):  # 4 rounds x 50 changes = 200
            for n in range(50):
                name = postings_dir / f"p{n:02d}.md"
                if round_ == 3 and n % 10 == 0:
                    name.unlink(missing_ok=True)
                else:
                    write(postings_dir, name.name, posting_text(f"p{n:02d}", title=f"Role {n} v{round_}"))
                changes += 1
                if changes == 100:
                    worker.send_signal(signal.SIGKILL)  # mid-burst: scans and sends are cut anywhere
                    worker.wait()
                time.sleep(0.005)
            if round_ == 2:
                time.sleep(0.5)
    finally:
        if worker.poll() is None:
            worker.kill()
        if worker.stderr:
            worker.stderr.close()
    assert changes == 200
    restarted = start_worker(tmp_path, postings_dir, database_url, sink)
    try:
        expected = final_titles(postings_dir)
        assert wait_for(lambda: arrived(sink, expected), 90), {
            pid: (latest(sink).get(pid) or {}).get("payload", {}).get("type") for pid in expected
        }
    finally:
        assert stop(restarted) == 0
    ids_by_event: dict[tuple[str, int, str], set[str]] = defaultdict(set)
    for event in sink.events:
        payload = event["payload"]
        ids_by_event[(payload["data"]["id"], payload["data"]["version"], payload["type"])].add(event["id"])
    assert all(len(ids) == 1 for ids in ids_by_event.values()), "a repeat carries the same webhook-id"


def test_edits_while_the_worker_is_down_produce_exactly_the_owed_events(
    tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink
) -> None:
    for n in range(3):
        write(postings_dir, f"p{n:02d}.md", posting_text(f"p{n:02d}", title=f"Role {n}"))
    worker = start_worker(tmp_path, postings_dir, database_url, sink)
    assert wait_for(lambda: len(sink.events) == 3, 60)
    assert stop(worker) == 0
    write(postings_dir, "p00.md", posting_text("p00", title="Role 0, edited"))
    (postings_dir / "p01.md").unlink()
    write(postings_dir, "p09.md", posting_text("p09", title="Role 9"))
    worker = start_worker(tmp_path, postings_dir, database_url, sink)
    try:
        assert wait_for(lambda: len(sink.events) >= 6, 60)
        time.sleep(1.5)  # and nothing else arrives
    finally:
        assert stop(worker) == 0
    later = sorted((e["payload"]["type"], e["payload"]["data"]["id"]) for e in sink.events[3:])
    assert later == [("posting.closed", "p01"), ("posting.created", "p09"), ("posting.updated", "p00")]


def test_sigterm_finishes_the_attempts_in_flight_and_gives_back_the_rest(
    tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink
) -> None:
    from syndicate.store.engine import Store
    from syndicate.store.log import DeliveryLog

    for n in range(20):
        write(postings_dir, f"p{n:02d}.md", posting_text(f"p{n:02d}"))
    sink.delay = 1.0  # answers take a second: SIGTERM arrives while attempts are in flight
    worker = start_worker(tmp_path, postings_dir, database_url, sink)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _request_started(sink):
        time.sleep(0.02)
    started = time.monotonic()
    assert stop(worker) == 0
    assert time.monotonic() - started < 10
    store = Store(database_url)
    try:
        states = [(d.state, d.lease_owner) for d in DeliveryLog(store).deliveries()]
    finally:
        store.close()
    succeeded = sum(1 for state, _ in states if state == "succeeded")
    assert succeeded == len(sink.events) >= 1, "every attempt in flight was finished and recorded"
    assert succeeded <= 8, "only what was in flight (8 at a time) went out"
    assert all(state in ("succeeded", "pending") and owner is None for state, owner in states), states
    assert len(states) == 20


def _request_started(sink: Sink) -> bool:
    with sink.lock:
        return sink.requests_seen > 0


def test_expiry_is_pushed_at_valid_through_without_any_file_change(
    tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink
) -> None:
    from datetime import UTC, datetime, timedelta

    # the worker is a real process on the real clock; the margins hold on a loaded machine
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)  # wall-clock: a real worker process
    write(postings_dir, "a.md", posting_text("a", valid_through=expires.isoformat()))
    worker = start_worker(tmp_path, postings_dir, database_url, sink)
    try:
        assert wait_for(lambda: len(sink.events) == 1, 30)
        assert wait_for(lambda: len(sink.events) == 2, 15)
        closed = sink.events[1]
    finally:
        assert stop(worker) == 0
    assert (closed["payload"]["type"], closed["payload"]["data"]["version"]) == ("posting.closed", 2)
    late = datetime.fromtimestamp(int(closed["timestamp"]), UTC) - expires
    assert timedelta(0) <= late <= timedelta(seconds=2), late


def test_the_worker_loads_no_web_layer(tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink) -> None:
    """The worker builds the services alone: after a whole cycle (an event delivered) no module of the web
    layer, of Flask or of the render cache was ever imported in its process."""
    write(postings_dir, "p00.md", posting_text("p00"))
    modules = tmp_path / "modules.txt"
    prelude = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(modules)!r}, 'w').write('\\n'.join(sorted(sys.modules))))"
    )
    worker = start_worker(tmp_path, postings_dir, database_url, sink, prelude)
    try:
        assert wait_for(lambda: len(sink.events) >= 1, 60), "the worker delivered its event"
    finally:
        assert stop(worker) == 0
    loaded = modules.read_text(encoding="utf-8").split("\n")
    assert "syndicate.push.worker" in loaded and "syndicate.services" in loaded  # the dump is the worker's
    web = [m for m in loaded if m.split(".")[0] in ("flask", "werkzeug") or m.startswith("syndicate.web")]
    assert web == [], f"the worker imported the web layer: {web}"
    assert "syndicate.outputs.render" not in loaded, "the worker built no render glue (it sends JSON-LD only)"


def test_a_second_sigterm_stops_the_worker_at_once(tmp_path: Path, postings_dir: Path, database_url: str) -> None:
    """The first SIGTERM waits for the attempts in flight (here up to their 20 s deadline); a second one
    stops the worker at once, as rq's second Ctrl+C does."""
    write(postings_dir, "p00.md", posting_text("p00"))
    board = HangingBoard()
    worker = start_worker(
        tmp_path,
        postings_dir,
        database_url,
        board,
        SYNDICATE_DELIVERY_TIMEOUT="20",
        SYNDICATE_LEASE_SECONDS="30",
    )
    try:
        assert wait_for(lambda: board.connections > 0, 60), "an attempt is in flight (the board holds it)"
        worker.send_signal(signal.SIGTERM)
        time.sleep(1)  # wall-clock: a real process is given a second to (wrongly) exit on the first signal
        assert worker.poll() is None, "the first SIGTERM waits for the attempt in flight"
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=10)  # at once: well inside the 20 s the first signal would wait
        assert code == 128 + signal.SIGTERM
        assert "again: stopping now" in (worker.stderr.read() if worker.stderr else "")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if worker.stderr:
            worker.stderr.close()
        board.close()


# --- a healthy start says nothing alarming ----------------------------------------------------------------

# Makes every run APScheduler refuses ("maximum number of running instances reached") a WARNING line in the
# worker's log, whatever level its logger is given: the test sees a refusal even if it were muted.
REPORT_REFUSED_RUNS = """\
import sys
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.schedulers.blocking import BlockingScheduler

_start = BlockingScheduler.start


def _reporting_start(self, *args, **kwargs):
    def report(event):
        print(f"WARNING apscheduler refused a run of job {event.job_id}", file=sys.stderr, flush=True)

    self.add_listener(report, EVENT_JOB_MAX_INSTANCES)
    return _start(self, *args, **kwargs)


BlockingScheduler.start = _reporting_start
"""


def warnings_in(log: Path) -> list[str]:
    return [line for line in log.read_text(encoding="utf-8").splitlines() if re.search(r"\b(WARNING|ERROR)\b", line)]


def test_a_first_scan_longer_than_the_watch_interval_is_no_warning(
    tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink
) -> None:
    """The first scan of 2,000 files outlasts many watch intervals: the watch runs that come due meanwhile
    return at once instead of being refused by APScheduler with a warning each."""
    for n in range(2000):
        tags = "[rust]" if n % 400 == 0 else "[go]"  # the board takes five: the test waits for little
        write(postings_dir, f"p{n:04d}.md", posting_text(f"p{n:04d}", title=f"Role {n}", tags=tags))
    log = tmp_path / "worker.log"
    board = 'tags = ["rust"]\n'
    worker = start_worker(
        tmp_path, postings_dir, database_url, sink, REPORT_REFUSED_RUNS, log, board, SYNDICATE_WATCH_INTERVAL="0.05"
    )
    try:
        assert wait_for(lambda: len(sink.events) == 5, 90), log.read_text(encoding="utf-8")
        time.sleep(1)  # wall-clock: a real process, given a second more to (wrongly) complain
    finally:
        assert stop(worker) == 0
    assert "board(s) from" in log.read_text(encoding="utf-8"), "the log is the worker's"
    assert warnings_in(log) == []


def test_the_demo_start_warns_of_nothing(tmp_path: Path, database_url: str, sink: Sink) -> None:
    """``honcho start`` (the README's run command) of the Procfile's web and worker lines as written, on the
    shipped postings, with no SYNDICATE_BASE_URL in the shell: neither logs a warning or an error on a
    healthy start. (The board is the test's sink rather than the demo's ``sink:`` line, whose port is fixed.)"""
    from processes import free_port, get, run_cli, service_env

    boards = tmp_path / "boards.toml"
    boards.write_text(f'[[boards]]\nname = "demo"\nurl = "{sink.url}"\nsecret = "{DEMO_SECRET}"\n', encoding="utf-8")
    env = service_env(tmp_path, REPO_ROOT / "postings", database_url, SYNDICATE_BOARDS=str(boards))
    assert run_cli(env, "migrate").returncode == 0  # the release step, before honcho start
    shell = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_") and k != "PORT"}
    port = free_port()
    log = tmp_path / "honcho.log"
    with log.open("w", encoding="utf-8") as out:
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "--no-colour", "-p", str(port), "web", "worker"],
            cwd=REPO_ROOT,
            env={**shell, **env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: everything it started can be ended together
        )
    try:
        assert wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz", timeout=1) is not None, 60), log.read_text()
        assert wait_for(lambda: len(sink.events) >= 1, 60), log.read_text(encoding="utf-8")
        time.sleep(2)  # wall-clock: real processes, given two seconds more to (wrongly) complain
        honcho.send_signal(signal.SIGINT)  # Ctrl+C: honcho stops its processes
        honcho.wait(timeout=30)
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
    text = log.read_text(encoding="utf-8")
    assert "web.1" in text and "board(s) from" in text, text
    assert [e["payload"]["data"]["url"].split("/jobs/")[0] for e in sink.events[:1]] == ["http://127.0.0.1:5000"]
    assert warnings_in(log) == []


# --- what operators do while it runs, one line each ----------------------------------------------------------


def worker_lines(log: Path, word: str) -> list[str]:
    return [line for line in log.read_text(encoding="utf-8").splitlines() if word in line]


def test_a_redeliver_run_is_one_line_in_the_worker_log(
    tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink
) -> None:
    """``syndicate redeliver --failed`` (another process, writing the database) queues three failed
    deliveries again; the running worker says so once when it picks them up, and sends them."""
    from processes import run_cli, service_env

    for n in range(3):
        write(postings_dir, f"p{n:02d}.md", posting_text(f"p{n:02d}", title=f"Role {n}"))
    sink.answers = [(500, {})] * 3  # one attempt each (the schedule below), refused: three failed deliveries
    log = tmp_path / "worker.log"
    worker = start_worker(tmp_path, postings_dir, database_url, sink, log=log, SYNDICATE_RETRY_SCHEDULE="0")
    try:
        cli_env = service_env(tmp_path, postings_dir, database_url, SYNDICATE_BOARDS=str(tmp_path / "boards.toml"))

        def failed() -> int:
            listed = run_cli(cli_env, "deliveries", "--state", "failed", "--format", "json")
            return len(json.loads(listed.stdout)) if listed.returncode == 0 else -1

        assert wait_for(lambda: failed() == 3, 60), log.read_text(encoding="utf-8")
        assert worker_lines(log, "redelivering") == []
        again = run_cli(cli_env, "redeliver", "--failed")
        assert again.returncode == 0, again.stderr
        assert wait_for(lambda: [e["status"] for e in sink.events] == [500] * 3 + [204] * 3, 30)
        time.sleep(1)  # wall-clock: a real process, given a second more to (wrongly) say it again
    finally:
        assert stop(worker) == 0
    [line] = worker_lines(log, "redelivering")
    assert "redelivering 3 delivery(ies) to board board" in line, line


def test_a_board_added_to_boards_toml_is_one_line_in_the_worker_log(
    tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink
) -> None:
    """A board appended to boards.toml while the worker runs is backfilled with every open posting, and the
    log names it once (not once per posting)."""
    for n in range(3):
        write(postings_dir, f"p{n:02d}.md", posting_text(f"p{n:02d}", title=f"Role {n}"))
    write(postings_dir, "draft.md", posting_text("draft", status="draft"))
    log = tmp_path / "worker.log"
    worker = start_worker(tmp_path, postings_dir, database_url, sink, log=log)
    try:
        assert wait_for(lambda: len(sink.events) == 3, 60)
        boards = tmp_path / "boards.toml"
        text = boards.read_text(encoding="utf-8")
        boards.write_text(text + text.replace('name = "board"', 'name = "newcomer"'), encoding="utf-8")
        assert wait_for(lambda: len(sink.events) == 6, 30), log.read_text(encoding="utf-8")
        time.sleep(1)  # wall-clock: a real process, given a second more to (wrongly) say more
    finally:
        assert stop(worker) == 0
    [line] = worker_lines(log, "newcomer")
    assert "board newcomer added: backfilling 3 open posting(s)" in line, line
