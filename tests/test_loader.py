"""Loading a folder: what counts as a posting, duplicates, live reload, dates that never move."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import posting_text, write

import syndicate.postings.files
import syndicate.postings.loader
import syndicate.postings.parallel
from syndicate.postings.files import scan
from syndicate.postings.limits import Limits
from syndicate.postings.loader import PostingLoader
from syndicate.postings.reader import ERROR
from syndicate.store.engine import Store


def errors_of(snapshot) -> list[tuple[str, str, str]]:
    return [(p.file, p.field, p.message) for p in snapshot.problems if p.level == ERROR]


def bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


# --- which files are postings ---------------------------------------------------------------


def test_loads_recursively_the_three_extensions(postings_dir: Path, make_loader) -> None:
    write(postings_dir, "a.md", posting_text())
    write(postings_dir, "team/b.markdown", posting_text())
    write(postings_dir, "team/deep/c.txt", posting_text())
    write(postings_dir, "notes.rst", posting_text())
    write(postings_dir, "README", "not a posting")
    snapshot = make_loader(postings_dir).refresh()
    assert sorted(snapshot.postings) == ["a", "b", "c"]
    assert snapshot.get("c").source == "team/deep/c.txt"
    assert not snapshot.problems


@pytest.mark.parametrize("name", [".hidden.md", ".#a.md", "a.md~", ".a.md.swp", "#a.md#", ".git/x.md"])
def test_hidden_files_and_editor_debris_are_ignored(postings_dir: Path, name: str) -> None:
    write(postings_dir, name, "garbage that would not parse")
    write(postings_dir, "a.md", posting_text())
    assert list(scan(postings_dir)) == ["a.md"]


def test_symlinks_are_followed_only_inside_the_folder(tmp_path: Path, postings_dir: Path, make_loader) -> None:
    outside = write(tmp_path / "secret", "outside.md", posting_text("outside"))
    inside = write(postings_dir, "real/inside.md", posting_text("inside"))
    (postings_dir / "escape.md").symlink_to(outside)
    (postings_dir / "linked-dir").symlink_to(outside.parent, target_is_directory=True)
    (postings_dir / "alias.md").symlink_to(inside)
    (postings_dir / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    snapshot = make_loader(postings_dir).refresh()
    assert "outside" not in snapshot.postings
    assert sorted(scan(postings_dir)) == ["alias.md", "real/inside.md"]
    # the link and its target carry the same id: the file whose stem is the id wins
    assert snapshot.get("inside").source == "real/inside.md"


def test_file_over_the_size_limit_is_left_out(postings_dir: Path, make_loader) -> None:
    write(postings_dir, "big.md", posting_text() + "x" * 5000)
    write(postings_dir, "small.md", posting_text())
    snapshot = make_loader(postings_dir, max_bytes=2000).refresh()
    assert sorted(snapshot.postings) == ["small"]
    size = (postings_dir / "big.md").stat().st_size
    assert errors_of(snapshot) == [
        ("big.md", "file", f"the file is {size} bytes, over the limit of 2000 (SYNDICATE_MAX_POSTING_BYTES)")
    ]


@pytest.mark.parametrize("first_sees_it_just_written", [True, False])
def test_an_oversized_file_is_reported_once_by_processes_that_read_it_at_different_ages(
    postings_dir: Path, make_loader, caplog, monkeypatch, first_sees_it_just_written: bool
) -> None:
    """One process reads the file within the racy window of its write (its stamp not yet trusted),
    the other later: both share the parse cache and the file is reported by one of them."""
    write(postings_dir, "big.md", posting_text() + "x" * 5000)
    windows = [10**18, 0] if first_sees_it_just_written else [0, 10**18]
    for window in windows:
        monkeypatch.setattr(syndicate.postings.files, "RACY_NS", window)
        make_loader(postings_dir, max_bytes=2000).refresh()
    assert caplog.text.count("posting big.md:") == 1, caplog.text


def test_a_broken_file_leaves_the_others_serving(postings_dir: Path, make_loader) -> None:
    write(postings_dir, "good.md", posting_text())
    write(postings_dir, "bad.md", "---\ntitle: [\n---\n")
    write(postings_dir, "binary.md", b"\x00\xff\xfe garbage")
    snapshot = make_loader(postings_dir).refresh()
    assert list(snapshot.postings) == ["good"]
    assert sorted(f for f, _, _ in errors_of(snapshot)) == ["bad.md", "binary.md"]


def test_missing_folder_serves_nothing(tmp_path: Path, make_loader) -> None:
    snapshot = make_loader(tmp_path / "absent").refresh()
    assert dict(snapshot.postings) == {}


# --- duplicate ids ----------------------------------------------------------------------------


def test_duplicate_id_the_file_named_like_the_id_wins(postings_dir: Path, make_loader) -> None:
    write(postings_dir, "a/copy.md", posting_text("dev", title="Copy"))
    write(postings_dir, "b/dev.md", posting_text("dev", title="Original"))
    snapshot = make_loader(postings_dir).refresh()
    assert snapshot.get("dev").title == "Original"
    assert errors_of(snapshot) == [
        ("a/copy.md", "id", "duplicate id 'dev': already used by b/dev.md; this file is left out")
    ]


def test_duplicate_id_otherwise_the_first_by_path_wins(postings_dir: Path, make_loader) -> None:
    write(postings_dir, "z.md", posting_text("dev", title="Zed"))
    write(postings_dir, "m.md", posting_text("dev", title="Em"))
    snapshot = make_loader(postings_dir).refresh()
    assert snapshot.get("dev").source == "m.md"
    assert [f for f, _, _ in errors_of(snapshot)] == ["z.md"]


def test_duplicate_id_the_posting_already_served_keeps_serving(postings_dir: Path, make_loader) -> None:
    write(postings_dir, "z-first.md", posting_text("dev", title="Served"))
    loader = make_loader(postings_dir)
    assert loader.refresh().get("dev").title == "Served"
    write(postings_dir, "dev.md", posting_text("dev", title="Newcomer"))  # stem == id, and earlier by path
    snapshot = loader.refresh()
    assert snapshot.get("dev").title == "Served"
    assert errors_of(snapshot) == [
        ("dev.md", "id", "duplicate id 'dev': already used by z-first.md; this file is left out")
    ]


# --- live reload ------------------------------------------------------------------------------


def test_reload_sees_edit_add_and_delete(postings_dir: Path, make_loader, clock) -> None:
    a = write(postings_dir, "a.md", posting_text(title="First"))
    write(postings_dir, "b.md", posting_text())
    loader = make_loader(postings_dir)
    first = loader.refresh()
    assert loader.refresh() is first, "no change: the same snapshot object"

    clock.advance(minutes=5)
    write(postings_dir, "a.md", posting_text(title="Second"))
    bump_mtime(a)
    write(postings_dir, "c.md", posting_text())
    (postings_dir / "b.md").unlink()
    second = loader.refresh()
    assert sorted(second.postings) == ["a", "c"]
    assert second.get("a").title == "Second"
    assert second.version != first.version
    assert second.generation == first.generation + 1
    assert first.get("a").title == "First", "an old snapshot is never mutated"


def test_reload_rereads_only_changed_files(postings_dir: Path, make_loader, monkeypatch) -> None:
    for i in range(5):
        write(postings_dir, f"p{i}.md", posting_text())
    loader = make_loader(postings_dir)
    loader.refresh()
    parsed: list[str] = []
    real = syndicate.postings.parallel.read_posting

    def counting(raw, source, tz, limits):
        parsed.append(source)
        return real(raw, source, tz, limits)

    monkeypatch.setattr(syndicate.postings.parallel, "read_posting", counting)
    bump_mtime(write(postings_dir, "p3.md", posting_text(title="Changed")))
    loader.refresh()
    assert parsed == ["p3.md"]


def break_file(path: Path, text: str | bytes = "---\ntitle: [\n---\n") -> None:
    write(path.parent, path.name, text)
    bump_mtime(path)


def test_a_served_file_that_breaks_keeps_serving_its_last_good_version(postings_dir: Path, make_loader) -> None:
    path = write(postings_dir, "a.md", posting_text(title="First"))
    loader = make_loader(postings_dir)
    loader.refresh()
    break_file(path, posting_text(title="Second"))
    good = loader.refresh().postings["a"]
    break_file(path)
    broken = loader.refresh()
    assert broken.postings["a"].title == "Second"  # the last version that read, not the first
    assert broken.postings["a"].content_hash == good.content_hash
    assert broken.version == loader.snapshot.version
    assert broken.stale == ("a.md",)
    assert errors_of(broken) and loader.rejected_files() == set()
    break_file(path, "---\ntitle: Third\nemployment_type: SOMETIMES\ncompany: Acme\n---\n")  # broken another way
    assert loader.refresh().postings["a"].title == "Second"
    break_file(path, posting_text(title="Fixed"))
    fixed = loader.refresh()
    assert fixed.postings["a"].title == "Fixed" and fixed.stale == () and not errors_of(fixed)


def test_the_last_good_version_survives_a_restart_and_is_every_process_s(
    postings_dir: Path, make_loader, store: Store
) -> None:
    path = write(postings_dir, "a.md", posting_text(title="Good"))
    first = make_loader(postings_dir)
    served = first.refresh()
    break_file(path)
    first.refresh()
    again = make_loader(postings_dir).refresh()  # a new process, the file already broken
    assert again.postings["a"].title == "Good" and again.stale == ("a.md",)
    assert again.version == served.version  # same postings, same dates: the same version everywhere
    assert errors_of(again)


def test_the_last_good_version_is_the_one_this_process_served_when_the_database_forgot(
    postings_dir: Path, make_loader, store: Store
) -> None:
    path = write(postings_dir, "a.md", posting_text(title="Good"))
    loader = make_loader(postings_dir)
    loader.refresh()
    store.forget_sources(["a.md"])  # as if the database had been away when it read
    break_file(path)
    assert loader.refresh().postings["a"].title == "Good"


@pytest.mark.parametrize("change", ["parser version", "bound", "time zone"])
def test_the_last_good_version_survives_an_upgrade_or_a_changed_setting(
    postings_dir: Path, make_loader, store: Store, clock, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """Another parser version cannot trust the old records: it reads the file's last good text again."""
    path = write(postings_dir, "a.md", posting_text(title="Good", date_posted="2026-11-02"))
    before = make_loader(postings_dir)
    served = before.refresh()
    break_file(path)
    assert before.refresh().stale == ("a.md",)
    tz, limits = ZoneInfo("UTC"), Limits()
    if change == "parser version":  # the next release's code
        monkeypatch.setattr(syndicate.postings.loader, "current_parser_version", lambda: "0123456789abcdef")
    elif change == "bound":
        limits = Limits(tags=49)  # SYNDICATE_MAX_TAGS changed
    else:
        tz = ZoneInfo("Europe/Berlin")  # SYNDICATE_TIMEZONE changed
    after = PostingLoader(postings_dir, store, tz, 1024 * 1024, clock=clock, limits=limits)
    upgraded = after.refresh()
    assert upgraded.postings["a"].title == "Good" and upgraded.stale == ("a.md",)
    if change != "time zone":  # a date without an offset is another moment in another zone
        assert upgraded.postings["a"].content_hash == served.postings["a"].content_hash
    again = PostingLoader(postings_dir, store, tz, 1024 * 1024, clock=clock, limits=limits).refresh()
    assert again.postings["a"].title == "Good", "the upgraded process kept it for the next one"
    break_file(path, posting_text(title="Fixed"))
    assert after.refresh().postings["a"].title == "Fixed"


def test_a_new_file_that_never_read_stays_out(postings_dir: Path, make_loader) -> None:
    loader = make_loader(postings_dir)
    loader.refresh()
    write(postings_dir, "new.md", "---\ntitle: [\n---\n")
    snapshot = loader.refresh()
    assert snapshot.postings == {} and snapshot.stale == () and loader.rejected_files() == {"new.md"}


def test_a_deleted_file_closes_its_posting_and_a_broken_file_made_again_stays_out(
    postings_dir: Path, make_loader
) -> None:
    path = write(postings_dir, "a.md", posting_text())
    loader = make_loader(postings_dir)
    loader.refresh()
    path.unlink()
    assert "a" not in loader.refresh().postings
    write(postings_dir, "a.md", "---\ntitle: [\n---\n")
    assert "a" not in loader.refresh().postings
    assert "a" not in make_loader(postings_dir).refresh().postings  # nor in a process started now


def test_status_closed_still_closes_a_posting(postings_dir: Path, make_loader, clock) -> None:
    path = write(postings_dir, "a.md", posting_text())
    loader = make_loader(postings_dir)
    loader.refresh()
    break_file(path, posting_text(status="closed"))
    snapshot = loader.refresh()
    assert snapshot.open_postings(clock()) == [] and snapshot.stale == ()


def test_maybe_refresh_waits_for_the_interval(postings_dir: Path, make_loader) -> None:
    loader = make_loader(postings_dir)
    loader.refresh()
    write(postings_dir, "new.md", posting_text())
    assert "new" not in loader.maybe_refresh(interval=3600).postings
    assert "new" in loader.maybe_refresh(interval=0).postings


def test_readers_never_see_a_half_updated_set(postings_dir: Path, make_loader) -> None:
    """Files change in pairs (both titles equal); every snapshot a reader takes must agree."""
    for name in ("a.md", "b.md"):
        write(postings_dir, name, posting_text(title="Round 0"))
    loader = make_loader(postings_dir)
    loader.refresh()
    torn: list[tuple[str, str]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            snapshot = loader.snapshot
            pair = (snapshot.get("a").title, snapshot.get("b").title)
            if pair[0] != pair[1]:
                torn.append(pair)
            time.sleep(0)  # let the writer have the GIL too

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for round_ in range(1, 30):
            for name in ("a.md", "b.md"):
                bump_mtime(write(postings_dir, name, posting_text(title=f"Round {round_}")))
            assert loader.refresh().get("a").title == f"Round {round_}"
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert torn == []


# --- dates survive restarts -------------------------------------------------------------------


def test_first_seen_date_survives_a_restart(postings_dir: Path, store: Store, clock) -> None:
    write(postings_dir, "a.md", posting_text())
    first_seen = clock.now
    first = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh().get("a")
    assert first.date_posted == first_seen
    assert first.updated == first_seen

    clock.advance(days=3)
    restarted = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh().get("a")
    assert restarted.date_posted == first_seen
    assert restarted.updated == first_seen


def test_updated_moves_only_when_content_changes(postings_dir: Path, store: Store, clock) -> None:
    path = write(postings_dir, "a.md", posting_text(date_posted="2026-11-01"))
    loader = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock)
    before = loader.refresh().get("a")
    assert before.date_posted == datetime(2026, 11, 1, tzinfo=UTC)
    assert before.updated == datetime(2026, 11, 1, tzinfo=UTC), "first seen: last change is its own date"

    clock.advance(hours=1)
    bump_mtime(path)  # touched, same bytes
    assert loader.refresh().get("a").updated == before.updated

    clock.advance(hours=1)
    write(postings_dir, "a.md", posting_text(date_posted="2026-11-01").replace("\n", "\r\n"))
    bump_mtime(path)  # re-saved with CRLF: same content
    assert loader.refresh().get("a").updated == before.updated

    edited_at = clock.advance(hours=1)
    write(postings_dir, "a.md", posting_text(date_posted="2026-11-01", title="Changed"))
    bump_mtime(path)
    after = loader.refresh().get("a")
    assert after.updated == edited_at
    assert after.date_posted == before.date_posted

    clock.advance(days=1)
    restarted = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh().get("a")
    assert restarted.updated == edited_at


def test_a_removed_posting_that_returns_keeps_its_first_seen_date(postings_dir: Path, make_loader, clock) -> None:
    path = write(postings_dir, "a.md", posting_text())
    loader = make_loader(postings_dir)
    first_seen = loader.refresh().get("a").date_posted
    text = path.read_text()
    path.unlink()
    clock.advance(days=1)
    assert "a" not in loader.refresh().postings
    clock.advance(days=1)
    write(postings_dir, "a.md", text)
    assert loader.refresh().get("a").date_posted == first_seen


def test_two_processes_agree_on_dates(postings_dir: Path, database_url: str, clock) -> None:
    """Two loaders on one database (as two gunicorn workers) see one first-seen time."""
    write(postings_dir, "a.md", posting_text())
    stores = [Store(database_url), Store(database_url)]
    stores[0].migrate()
    stores[1].migrate()
    one = PostingLoader(postings_dir, stores[0], UTC, 1 << 20, clock=clock).refresh()
    clock.advance(seconds=30)
    two = PostingLoader(postings_dir, stores[1], UTC, 1 << 20, clock=clock).refresh()
    assert one.get("a").date_posted == two.get("a").date_posted
    assert one.version == two.version
    for s in stores:
        s.close()


def test_restart_does_not_parse_unchanged_files(postings_dir: Path, store: Store, clock, monkeypatch) -> None:
    for i in range(3):
        write(postings_dir, f"p{i}.md", posting_text())
    cold = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh()
    monkeypatch.setattr(syndicate.postings.parallel, "read_posting", pytest.fail)  # any parse fails the test
    warm = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh()
    assert warm.postings == cold.postings


def test_an_edited_file_is_not_served_from_the_cache(postings_dir: Path, store: Store, clock, monkeypatch) -> None:
    monkeypatch.setattr(syndicate.postings.files, "RACY_NS", 0)  # trust fresh stamps: only ctime can tell the edit
    path = write(postings_dir, "a.md", posting_text(title="Before"))
    PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh()
    before = path.stat()
    write(postings_dir, "a.md", posting_text(title="After!"))  # same size, same inode
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back; ctime still moves
    warm = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh()
    assert warm.get("a").title == "After!"


def test_many_files_parse_on_every_core_with_the_same_results(monkeypatch) -> None:
    """The serial fallback gives the same results, so equal results alone would not show that the pool
    ran: the pool is spied on (the real one still runs) and must have parsed chunks in another process."""
    import random
    from concurrent.futures import ProcessPoolExecutor

    from bench.generate import posting_text as generated

    submitted: list = []  # the futures of the chunks parse_many gave the pool
    pids: list = []  # a future of os.getpid run by the same pool

    class SpiedPool(ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            future = super().submit(fn, *args, **kwargs)
            submitted.append((future, args[0]))
            if not pids:
                pids.append(super().submit(os.getpid))
            return future

    monkeypatch.setattr(syndicate.postings.parallel, "ProcessPoolExecutor", SpiedPool)
    monkeypatch.setattr(syndicate.postings.parallel.os, "cpu_count", lambda: 3)  # a pool even on one core
    rng = random.Random(3)
    items = [(f"p{i}.md", generated(rng, i)[1].encode()) for i in range(syndicate.postings.parallel.PARALLEL_FROM + 50)]
    in_pool = syndicate.postings.parallel.parse_many(items, UTC)
    here = [syndicate.postings.parallel.read_posting(raw, source, UTC) for source, raw in items]
    assert [r.source for r, _, _ in in_pool] == [source for source, _ in items]
    assert [r.posting for r, _, _ in in_pool] == [r.posting for r in here]
    assert all(r.posting is not None for r in here)
    # the pool ran: its processes are not this one, and every chunk handed to it came back from it
    assert submitted, "parse_many never used the pool"
    assert pids[0].result() != os.getpid()
    by_source = {r.source: (text, html) for r, text, html in in_pool}
    for future, chunk in submitted:
        assert future.exception() is None, "a chunk failed in the pool and was parsed here instead"
        remote = future.result()
        assert [source for source, _, _ in remote] == [source for source, _ in chunk]
        assert all(by_source[source] == (text, html) for source, text, html in remote)


def test_a_file_rewritten_within_one_clock_tick_is_still_seen(postings_dir: Path, make_loader) -> None:
    """Same size, same inode, written twice inside the file system's time granularity."""
    path = write(postings_dir, "a.md", posting_text(title="First"))
    loader = make_loader(postings_dir)
    assert loader.refresh().get("a").title == "First"
    stamp = path.stat()
    write(postings_dir, "a.md", posting_text(title="Other"))
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # as if still in the same tick
    assert loader.refresh().get("a").title == "Other"


@pytest.mark.parametrize("seed", range(6))
def test_incremental_reloads_equal_full_rebuilds(tmp_path: Path, store: Store, clock, monkeypatch, seed: int) -> None:
    """Random edits (duplicates, broken files, moves, deletions): a loader that rebuilds only
    what changed keeps serving exactly what a loader that rebuilds everything serves."""
    import random

    # every file here is seconds old at most: without this, all of them would be re-read as
    # "too recent to trust" on every reload, and the incremental path would see no untouched file
    monkeypatch.setattr(syndicate.postings.files, "RACY_NS", 0)
    rng = random.Random(seed)
    folder = tmp_path / "postings"
    names = [f"{d}{n}.md" for d in ("", "x/", "y/z/") for n in ("a", "b", "dev", "ops", "c")]
    ids = ["a", "b", "dev", "ops"]
    incremental = PostingLoader(folder, store, UTC, 1 << 20, clock=clock)
    full = PostingLoader(folder, store, UTC, 1 << 20, clock=clock)
    for step in range(40):
        for _ in range(rng.randint(1, 3)):
            name, action = rng.choice(names), rng.random()
            path = folder / name
            if action < 0.55:
                write(folder, name, posting_text(rng.choice([*ids, None]), title=f"T{step}"))
            elif action < 0.7:
                write(folder, name, "---\ntitle: [\n---\n")
            elif path.exists():
                path.unlink()
            if path.exists():
                bump_mtime(path)
        clock.advance(minutes=1)
        one = incremental.refresh()
        with monkeypatch.context() as full_rebuild:  # the reference takes no shortcut at all
            full_rebuild.setattr(syndicate.postings.loader, "INCREMENTAL_UP_TO", -1)
            full_rebuild.setattr(syndicate.postings.loader, "same_content", lambda old, new: False)
            other = full.refresh()
        assert dict(one.postings) == dict(other.postings), step
        assert one.problems == other.problems, step
        assert one.version == other.version, step


def test_a_fifo_named_like_a_posting_is_skipped_not_waited_on(postings_dir: Path, make_loader) -> None:
    os.mkfifo(postings_dir / "pipe.md")
    write(postings_dir, "a.md", posting_text())
    loaded: list = []
    worker = threading.Thread(target=lambda: loaded.append(make_loader(postings_dir).refresh()), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the loader blocked on a FIFO"
    assert list(loaded[0].postings) == ["a"]


def test_a_file_name_that_is_not_utf8_is_reported_and_the_rest_serve(postings_dir: Path, make_loader, caplog) -> None:
    write(postings_dir, "a.md", posting_text())
    with open(os.path.join(os.fsencode(postings_dir), b"caf\xe9.md"), "wb") as handle:  # Latin-1 bytes
        handle.write(posting_text("cafe").encode())
    loader = make_loader(postings_dir)
    snapshot = loader.refresh()
    assert list(snapshot.postings) == ["a"]
    assert "caf\ufffd.md: file: error: the file name is not printable UTF-8 text" in caplog.text
    assert loader.rejected_files() == {"caf\ufffd.md"}  # what /healthz and /metrics count


def test_the_parse_cache_is_not_shared_across_time_zones(postings_dir: Path, store: Store, clock, monkeypatch) -> None:
    monkeypatch.setattr(syndicate.postings.files, "RACY_NS", 0)  # let the second loader trust the stamp
    write(postings_dir, "a.md", posting_text(date_posted="2026-01-01"))
    utc = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh().get("a")
    berlin_zone = ZoneInfo("Europe/Berlin")
    berlin = PostingLoader(postings_dir, store, berlin_zone, 1 << 20, clock=clock).refresh().get("a")
    assert utc.date_posted == datetime(2026, 1, 1, tzinfo=UTC)
    assert berlin.date_posted == datetime(2026, 1, 1, tzinfo=berlin_zone)


def test_dates_with_an_offset_survive_the_store(postings_dir: Path, store: Store, clock) -> None:
    write(postings_dir, "a.md", posting_text(date_posted="2026-01-01T00:00:00+05:00"))
    first = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh().get("a")
    restarted = PostingLoader(postings_dir, store, UTC, 1 << 20, clock=clock).refresh().get("a")
    assert first.updated == first.date_posted == datetime(2025, 12, 31, 19, tzinfo=UTC)
    assert restarted.updated == first.updated


def test_processes_agree_after_an_edit_only_one_of_them_saw(postings_dir: Path, database_url: str, clock) -> None:
    """A sees an edit and its revert; B sees only the file touched. Both then serve the same dates."""
    write(postings_dir, "a.md", posting_text(title="Original"))
    stores = [Store(database_url), Store(database_url)]
    for s in stores:
        s.migrate()
    a = PostingLoader(postings_dir, stores[0], UTC, 1 << 20, clock=clock)
    b = PostingLoader(postings_dir, stores[1], UTC, 1 << 20, clock=clock)
    a.refresh(), b.refresh()
    clock.advance(hours=1)
    bump_mtime(write(postings_dir, "a.md", posting_text(title="Edited")))
    a.refresh()
    clock.advance(hours=1)
    bump_mtime(write(postings_dir, "a.md", posting_text(title="Original")))
    assert a.refresh().get("a").updated == b.refresh().get("a").updated == clock.now
    assert a.snapshot.version == b.snapshot.version
    for s in stores:
        s.close()


def test_an_edited_duplicate_is_served_with_its_edit_when_it_wins(postings_dir: Path, make_loader, monkeypatch) -> None:
    monkeypatch.setattr(syndicate.postings.files, "RACY_NS", 0)
    a = write(postings_dir, "a.md", posting_text("x", title="Served"))
    write(postings_dir, "d.md", posting_text("x", title="Dup v1"))
    loader = make_loader(postings_dir)
    assert loader.refresh().get("x").source == "a.md"
    bump_mtime(write(postings_dir, "d.md", posting_text("x", title="Dup v2")))
    loader.refresh()
    a.unlink()
    assert loader.refresh().get("x").title == "Dup v2"


def test_a_reload_that_fails_is_retried(postings_dir: Path, make_loader, monkeypatch) -> None:
    write(postings_dir, "a.md", posting_text(title="Before"))
    loader = make_loader(postings_dir)
    loader.refresh()
    bump_mtime(write(postings_dir, "a.md", posting_text(title="After!")))
    real = loader.store.record_postings

    def unavailable(*args, **kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(loader.store, "record_postings", unavailable)
    with pytest.raises(RuntimeError):
        loader.refresh()
    assert loader.maybe_refresh(interval=0).get("a").title == "Before"  # a request still gets served
    assert loader.snapshot.get("a").title == "Before"
    monkeypatch.setattr(loader.store, "record_postings", real)
    assert loader.refresh().get("a").title == "After!"


def test_every_process_settles_a_duplicate_id_alike(postings_dir: Path, database_url: str, clock) -> None:
    """The file that served an id keeps it, in a process that saw it serve and in one that did not."""
    write(postings_dir, "a.md", posting_text("x", title="First"))
    stores = [Store(database_url), Store(database_url)]
    for s in stores:
        s.migrate()
    first = PostingLoader(postings_dir, stores[0], UTC, 1 << 20, clock=clock)
    assert first.refresh().get("x").source == "a.md"
    write(postings_dir, "x.md", posting_text("x", title="Newcomer"))  # stem == id: would win if new
    clock.advance(minutes=1)
    kept = first.refresh()
    fresh = PostingLoader(postings_dir, stores[1], UTC, 1 << 20, clock=clock).refresh()
    assert kept.get("x").source == fresh.get("x").source == "a.md"
    assert kept.version == fresh.version
    for s in stores:
        s.close()


def test_a_renamed_served_file_keeps_its_id(postings_dir: Path, make_loader) -> None:
    a = write(postings_dir, "a.md", posting_text("x", title="Served"))
    loader = make_loader(postings_dir)
    loader.refresh()
    write(postings_dir, "x.md", posting_text("x", title="Newcomer"))
    loader.refresh()
    a.rename(postings_dir / "b.md")
    assert loader.refresh().get("x").source == "b.md"


def test_garbage_cycles_are_still_collected_after_reloads(postings_dir: Path, make_loader) -> None:
    import gc
    import weakref

    write(postings_dir, "a.md", posting_text())
    loader = make_loader(postings_dir)
    loader.refresh()

    class Node:
        pass

    cycle = Node()
    cycle.me = cycle
    alive = weakref.ref(cycle)
    del cycle
    bump_mtime(write(postings_dir, "a.md", posting_text(title="Again")))
    loader.refresh()
    gc.collect()
    assert alive() is None


def test_a_file_dated_in_the_future_is_not_reread_on_every_check(postings_dir: Path, make_loader, monkeypatch) -> None:
    path = write(postings_dir, "a.md", posting_text())
    tomorrow = time.time_ns() + 86_400 * 10**9
    os.utime(path, ns=(tomorrow, tomorrow))
    time.sleep(0.2)  # let the ctime age past the racy window
    loader = make_loader(postings_dir)
    first = loader.refresh()
    reads: list[str] = []
    real = syndicate.postings.loader.read_bytes
    monkeypatch.setattr(
        syndicate.postings.loader, "read_bytes", lambda root, source, n: reads.append(source) or real(root, source, n)
    )
    assert loader.refresh() is first
    assert loader.refresh() is first
    assert reads == []


def test_a_pool_that_cannot_start_costs_nothing_but_its_attempt() -> None:
    """A script read from stdin cannot be re-imported by spawned processes: the pool breaks,
    and the parse finishes in the calling process instead of hanging."""
    import subprocess
    import sys

    from conftest import REPO_ROOT

    script = (
        "import random\n"
        "from datetime import UTC\n"
        "from bench.generate import posting_text\n"
        "import syndicate.postings.parallel as par\n"
        "rng = random.Random(1)\n"
        "items = [(f'p{i}.md', posting_text(rng, i)[1].encode()) for i in range(par.PARALLEL_FROM + 100)]\n"
        "out = par.parse_many(items, UTC)\n"
        "print(len(out), sum(r.posting is not None for r, _, _ in out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-"], input=script, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    count = syndicate.postings.parallel.PARALLEL_FROM + 100
    assert done.stdout.split() == [str(count), str(count)], done.stderr[-2000:]


@pytest.fixture
def two_processes(postings_dir: Path, database_url: str, clock, monkeypatch):
    """Two loaders on one database, as two gunicorn workers that poll at different times."""
    monkeypatch.setattr(syndicate.postings.files, "RACY_NS", 0)
    stores = [Store(database_url), Store(database_url)]
    for s in stores:
        s.migrate()
    yield [PostingLoader(postings_dir, s, UTC, 1 << 20, clock=clock) for s in stores]
    for s in stores:
        s.close()


def agree(a: PostingLoader, b: PostingLoader, clock) -> str:
    clock.advance(minutes=1)
    one, two = a.refresh(), b.refresh()
    assert (one.get("dev").source, one.version) == (two.get("dev").source, two.version)
    return one.get("dev").source


def test_processes_that_missed_different_edits_settle_a_duplicate_alike(
    postings_dir: Path, two_processes, clock
) -> None:
    a, b = two_processes
    first = write(postings_dir, "a.md", posting_text("dev", title="One"))
    assert agree(a, b, clock) == "a.md"
    first.unlink()
    write(postings_dir, "b.md", posting_text("dev", title="Two"))
    b.refresh()  # only B sees b.md take over
    write(postings_dir, "a.md", posting_text("dev", title="Three"))
    assert agree(a, b, clock) == "b.md"


def test_an_old_copy_does_not_beat_the_file_being_served(postings_dir: Path, two_processes, clock) -> None:
    a, b = two_processes
    write(postings_dir, "a.md", posting_text("dev", title="One"))
    agree(a, b, clock)
    bump_mtime(write(postings_dir, "a.md", posting_text("dev", title="Two")))
    a.refresh()  # only A sees the edit
    copy = write(postings_dir, "0.md", posting_text("dev", title="One"))  # the old content, first by path
    assert agree(a, b, clock) == "a.md"
    copy.unlink()
    assert agree(a, b, clock) == "a.md"


def test_no_process_to_be_had_means_parsing_here(monkeypatch) -> None:
    import random
    from concurrent.futures import ProcessPoolExecutor

    from bench.generate import posting_text as generated

    refused: list[int] = []

    def no_processes(self, *args, **kwargs):
        refused.append(1)
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(ProcessPoolExecutor, "submit", no_processes)
    monkeypatch.setattr(syndicate.postings.parallel.os, "cpu_count", lambda: 3)  # a pool is tried even on one core
    rng = random.Random(5)
    items = [(f"p{i}.md", generated(rng, i)[1].encode()) for i in range(syndicate.postings.parallel.PARALLEL_FROM + 10)]
    parsed = syndicate.postings.parallel.parse_many(items, UTC)
    assert refused == [1], "the pool was tried once, then given up"
    assert [r.source for r, _, _ in parsed] == [source for source, _ in items]
    assert all(r.posting is not None for r, _, _ in parsed)


# --- what lint is told about a stale file ----------------------------------------------------


def test_lint_learns_which_broken_files_still_serve_from_the_database(
    tmp_path: Path, postings_dir: Path, make_loader, database_url: str
) -> None:
    from syndicate.postings.files import read_folder
    from syndicate.postings.served import stale_versions
    from syndicate.settings import load_settings

    path = write(postings_dir, "served.md", posting_text(title="Served"))
    make_loader(postings_dir).refresh()
    write(postings_dir, "served.md", "---\ntitle: [\n---\n")
    bump_mtime(path)
    write(postings_dir, "never.md", "---\ntitle: [\n---\n")
    settings = load_settings({}, {"postings_dir": postings_dir, "database_url": database_url})
    results = read_folder(postings_dir, settings.tzinfo, settings.max_posting_bytes, settings.limits)
    stale = stale_versions(settings, postings_dir, results)
    assert {source: p.title for source, p in stale.items()} == {"served.md": "Served"}
    other = tmp_path / "copy"
    other.mkdir()
    assert stale_versions(settings, other, results) == {}  # not the served folder: nothing to say
    missing = load_settings({}, {"postings_dir": postings_dir, "database_url": f"sqlite:///{tmp_path / 'no.db'}"})
    assert stale_versions(missing, postings_dir, results) == {} and not (tmp_path / "no.db").exists()
