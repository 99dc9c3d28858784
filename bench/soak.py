"""Soak test: concurrent feed requests while postings are edited, added and deleted on disk.

    python -m bench.soak [--count 300] [--clients 8] [--duration 20] [--reload-intervals 1,0]

Generates ``--count`` postings whose titles carry their id and a revision
(``Backend Engineer [job-00042 r3]``), starts gunicorn as the Procfile does
(``--workers 2``) on ``bench.serve_app:app``, and for ``--duration`` seconds
runs ``--clients`` threads, each with its own ``requests.Session``, asking at
random for the feeds (some filtered or paged), the Indeed feed, the sitemap,
the API, the index and job pages (half the time with the ``If-None-Match`` of
the last answer it had there), while an editor thread rewrites titles (a
temporary file, then ``os.replace``), rewrites files in place in two writes
with a pause between (so a reader can see half a file), closes, reopens,
deletes and adds postings.

Every answer must be 200 or 304 (404 or 410 only for the page of a posting that
was deleted, closed, added or written in place); every body must parse
(feedparser without ``bozo`` for RSS/Atom, ``json`` for JSON, lxml for XML and
HTML); every posting in it must carry its own id in its title, at a revision
that was written, and appear once; and one ETag must always come with the same
bytes (else the answer is counted as torn). After the edits stop, what the
server serves must converge to what a fresh load of the folder gives (ids,
titles and descriptions). Runs once per reload interval (the default 1 s, and
0: a check on every request, so reloads race with requests far more often),
each on a fresh folder and server. Prints counts as a Markdown table; exits 1
on any error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.generate import generate, posting_text
from bench.server import gunicorn, problems_in_log
from bench.tables import recording

TITLE_TAG = re.compile(r"\[(job-\d+) r(\d+)\]")
JOB_URL = re.compile(r"/jobs/([a-z0-9-]+?)(?:\.jsonld)?$")
LIST_PATHS = [
    ("rss", "/feed.rss"),
    ("atom", "/feed.atom"),
    ("json", "/feed.json"),
    ("rss", "/feed.rss?page=2"),
    ("atom", "/feed.atom?tag=python"),
    ("json", "/feed.json?remote=1"),
    ("indeed", "/feeds/indeed.xml"),
    ("sitemap", "/sitemap.xml"),
    ("api", "/api/postings"),
    ("api", "/api/postings?page=2"),
    ("index", "/"),
]
ONE_KINDS = [("job", "/jobs/{}"), ("jsonld", "/jobs/{}.jsonld"), ("api-one", "/api/postings/{}")]


# --- the postings on disk, and the editor ---------------------------------------------------------------------


@dataclass
class PostingFile:
    id: str
    path: Path
    front: list[str]  # front-matter lines without the title and status
    body: str
    base_title: str
    rev: int = 0
    closed: bool = False
    exists: bool = True

    def text(self) -> str:
        title = f'title: "{self.base_title} [{self.id} r{self.rev}]"'
        status = ["status: closed"] if self.closed else []
        return "\n".join(["---", title, *self.front, *status, "---"]) + "\n" + self.body


def split_posting(posting_id: str, path: Path, text: str) -> PostingFile:
    _, front, body = text.split("---\n", 2)
    lines = front.rstrip("\n").split("\n")
    title = next(line for line in lines if line.startswith("title:"))
    rest = [line for line in lines if not line.startswith("title:")]
    return PostingFile(posting_id, path, rest, body, json.loads(title.split(":", 1)[1].strip()))


@dataclass
class Editor:
    folder: Path
    postings: dict[str, PostingFile]
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    ops: Counter = field(default_factory=Counter)
    volatile: set[str] = field(default_factory=set)  # ids whose page may rightly answer 404 or 410
    max_rev: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_index: int = 0

    def known_ids(self) -> list[str]:
        with self.lock:
            return list(self.postings)

    def write_atomic(self, p: PostingFile) -> None:
        temporary = p.path.with_name(f".{p.path.name}.tmp")
        temporary.write_text(p.text(), encoding="utf-8")
        os.replace(temporary, p.path)

    def write_in_place(self, p: PostingFile) -> None:
        data = p.text().encode()
        cut = self.rng.randrange(1, len(data))
        with open(p.path, "wb") as f:  # truncates: a reader may see nothing, half, or all of it
            f.write(data[:cut])
            f.flush()
            time.sleep(self.rng.uniform(0.005, 0.03))
            f.write(data[cut:])

    def step(self) -> None:
        roll = self.rng.random()
        with self.lock:
            present = [p for p in self.postings.values() if p.exists]
            gone = [p for p in self.postings.values() if not p.exists]
        p = self.rng.choice(present)
        if roll < 0.55:
            op = "title rewritten (temporary file + rename)"
            self._bump(p)
            self.write_atomic(p)
        elif roll < 0.70:
            op = "title rewritten in place, in two writes"
            with self.lock:
                self.volatile.add(p.id)
            self._bump(p)
            self.write_in_place(p)
        elif roll < 0.80:
            closed = [c for c in present if c.closed]
            if closed and self.rng.random() < 0.5:
                p = self.rng.choice(closed)
            op = "reopened" if p.closed else "closed"
            with self.lock:
                self.volatile.add(p.id)
            p.closed = not p.closed
            self.write_atomic(p)
        elif roll < 0.90 or not gone:
            op = "deleted"
            with self.lock:
                self.volatile.add(p.id)
                p.exists = False
            p.path.unlink()
        else:
            op = "added back" if self.rng.random() < 0.5 else "added new"
            p = self.rng.choice(gone) if op == "added back" else self._new_posting()
            with self.lock:
                self.volatile.add(p.id)
                self.postings[p.id] = p
                p.exists = True
            self._bump(p)
            self.write_atomic(p)
        self._count(op)

    def _bump(self, p: PostingFile) -> None:
        with self.lock:
            p.rev += 1
            self.max_rev[p.id] = p.rev

    def _count(self, op: str) -> None:
        self.ops[op] += 1

    def _new_posting(self) -> PostingFile:
        index = self.next_index
        self.next_index += 1
        posting_id, text = posting_text(random.Random(index), index)
        path = self.folder / "added" / f"{posting_id}.md"
        path.parent.mkdir(exist_ok=True)
        p = split_posting(posting_id, path, text)
        p.rev = -1  # _bump makes it r0
        return p


def prepare(folder: Path, count: int) -> Editor:
    postings = {}
    for path in generate(folder, count):
        p = split_posting(path.stem, path, path.read_text(encoding="utf-8"))
        path.write_text(p.text(), encoding="utf-8")
        postings[p.id] = p
    editor = Editor(folder, postings, next_index=count)
    editor.max_rev = {pid: 0 for pid in postings}
    return editor


# --- the clients and their checks ------------------------------------------------------------------------------


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)  # ETag -> sha256 of the body
    bodies: set[str] = field(default_factory=set)  # sha256 of every body seen
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0

    def error(self, kind: str, example: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            self.examples.setdefault(kind, example[:500])


def extract(kind: str, body: bytes) -> list[tuple[str, str | None]]:
    """(id, title) of every posting an answer holds; raises ValueError when the body does not parse."""
    if kind in ("rss", "atom"):
        import feedparser

        # the sanitizer and URI resolution only rewrite content (and triple the time); bozo is unaffected
        parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
        if parsed.bozo:
            raise ValueError(f"feedparser: {parsed.bozo_exception!r}")
        return [(_job_id(e.link), e.title) for e in parsed.entries]
    if kind == "json":
        data = json.loads(body)
        if data.get("version") != "https://jsonfeed.org/version/1.1":
            raise ValueError("not a JSON Feed 1.1")
        return [(_job_id(item["url"]), item["title"]) for item in data["items"]]
    if kind == "api":
        return [(p["id"], p["title"]) for p in json.loads(body)["postings"]]
    if kind == "api-one":
        data = json.loads(body)
        return [(data["id"], data["title"])]
    if kind == "jsonld":
        data = json.loads(body)
        return [(data["identifier"]["value"] if isinstance(data.get("identifier"), dict) else None, data["title"])]
    from lxml import etree, html

    if kind == "indeed":
        root = etree.fromstring(body)
        return [(job.findtext("referencenumber").strip(), job.findtext("title").strip()) for job in root.iter("job")]
    if kind == "sitemap":
        root = etree.fromstring(body)
        locs = [loc.text for loc in root.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
        return [(_job_id(loc), None) for loc in locs if "/jobs/" in loc]
    if not body.rstrip().endswith(b"</html>"):
        raise ValueError("the page is cut short")
    page = html.fromstring(body)
    if kind == "index":
        hrefs = {a.get("href") for a in page.iter("a") if "/jobs/" in (a.get("href") or "")}
        return [(_job_id(href), None) for href in sorted(hrefs)]
    scripts = page.xpath('//script[@type="application/ld+json"]')
    return [(None, json.loads(s.text)["title"]) for s in scripts]  # kind == "job"


def _job_id(url: str) -> str:
    found = JOB_URL.search(url)
    if not found:
        raise ValueError(f"not a job URL: {url}")
    return found.group(1)


def validate(kind: str, body: bytes) -> tuple[str, list[tuple[str | None, str | None]] | str]:
    """In a pool process: ("ok", items) or ("error", why). Bytes decide the result, so each body is parsed once."""
    try:
        return "ok", extract(kind, body)
    except Exception as exc:
        return "error", repr(exc)


@dataclass
class Pending:
    """A body seen for the first time, being parsed in the pool."""

    kind: str
    where: str
    asked_id: str | None
    result: Future


def client(base: str, editor: Editor, tally: Tally, stop: threading.Event, seed: int, pool, pending: list) -> None:
    import requests

    rng = random.Random(seed)
    last_etag: dict[str, str] = {}
    with requests.Session() as http:
        while not stop.is_set():
            if rng.random() < 0.6:
                kind, path = rng.choice(LIST_PATHS)
                asked_id = None
            else:
                kind, template = rng.choice(ONE_KINDS)
                asked_id = rng.choice(editor.known_ids())
                path = template.format(asked_id)
            headers = {}
            if path in last_etag and rng.random() < 0.5:
                headers["If-None-Match"] = last_etag[path]
            try:
                response = http.get(base + path, headers=headers, timeout=30)
            except requests.RequestException as exc:
                tally.error("request failed", f"{path}: {exc!r}")
                continue
            with tally.lock:
                tally.requests += 1
                tally.statuses[response.status_code] += 1
            body = check_answer(kind, path, asked_id, response, editor, tally, headers)
            if body is not None:
                where = f"{path} ({response.status_code})"
                pending.append(Pending(kind, where, asked_id, pool.submit(validate, kind, body)))
            if "ETag" in response.headers:
                last_etag[path] = response.headers["ETag"]


def check_answer(kind, path, asked_id, response, editor: Editor, tally: Tally, headers: dict[str, str]) -> bytes | None:
    """Status, validators and the ETag -> bytes map; returns a body not seen before, to be parsed."""
    status = response.status_code
    where = f"{path} ({status})"
    if status in (404, 410) and asked_id is not None:
        with editor.lock:
            allowed = asked_id in editor.volatile
        if not allowed:
            tally.error(f"{status} for a posting never deleted, closed or written in place", where)
        if status == 410 and kind == "job" and b"application/ld+json" in response.content:
            tally.error("410 page with JSON-LD", where)
        return None
    if status == 304:
        if "If-None-Match" not in headers:
            tally.error("304 without a conditional request", where)
        elif response.headers.get("ETag") != headers["If-None-Match"]:
            tally.error("304 with another ETag", f"{where}: sent {headers['If-None-Match']}, got {response.headers}")
        return None
    if status != 200:
        tally.error(f"status {status}", f"{where}: {response.text[:300]}")
        return None
    body = response.content
    etag = response.headers.get("ETag")
    if etag is None:
        tally.error("no ETag", where)
        return None
    digest = hashlib.sha256(body).hexdigest()
    with tally.lock:
        seen = tally.etags.setdefault(etag, digest)
        new = digest not in tally.bodies
        tally.bodies.add(digest)
    if seen != digest:
        tally.error("one ETag, different bytes (torn)", f"{where}: {etag}")
    return body if new else None


def check_items(job: Pending, editor: Editor, tally: Tally) -> None:
    """What a body holds: every posting once, each with its own id in its title, at a revision written."""
    outcome, items = job.result.result()
    if outcome == "error":
        tally.error(f"{job.kind} does not parse", f"{job.where}: {items}")
        return
    ids = [pid for pid, _ in items if pid is not None]
    if len(ids) != len(set(ids)):
        tally.error("a posting listed twice", f"{job.where}: {[i for i, n in Counter(ids).items() if n > 1]}")
    for pid, title in items:
        if title is None:
            continue
        found = TITLE_TAG.search(title)
        expected = pid or job.asked_id
        if not found or found.group(1) != expected:
            tally.error("a title from another posting (torn)", f"{job.where}: {expected!r} has {title!r}")
        elif int(found.group(2)) > editor.max_rev.get(found.group(1), -1):
            tally.error("a revision never written", f"{job.where}: {title!r}")
    if job.asked_id is not None and job.kind in ("api-one", "jsonld") and ids != [job.asked_id]:
        tally.error("another posting's object", f"{job.where}: {ids}")


# --- after the edits: does the server serve what the folder holds? --------------------------------------------


def converged(base: str, folder: Path, scratch: Path, tally: Tally) -> int:
    """Compare every posting the server lists (both workers) with a fresh load of the folder; mismatches."""
    import requests

    from syndicate.store.engine import Store
    from syndicate.web.app import create_app

    store = Store(f"sqlite:///{scratch / 'syndicate.db'}")  # the release step, as for the server
    store.migrate()
    store.close()
    fresh = create_app({"postings_dir": folder, "instance_dir": scratch, "base_url": base}, autoreload=False)
    with fresh.test_client() as local:
        want = {p["id"]: p for p in _all_pages(lambda url: local.get(url).get_json(), "/api/postings")}
    mismatches = 0
    with requests.Session() as http:
        for _ in range(6):  # six rounds reach both workers with near certainty
            got = {p["id"]: p for p in _all_pages(lambda url: http.get(base + url, timeout=30).json(), "/api/postings")}
            if set(got) != set(want):
                mismatches += 1
                tally.error(
                    "after the edits: other ids", f"missing {set(want) - set(got)}, extra {set(got) - set(want)}"
                )
                continue
            for pid, posting in want.items():
                for key in ("title", "description_html", "status"):
                    if got[pid][key] != posting[key]:
                        mismatches += 1
                        tally.error(f"after the edits: stale {key}", f"{pid}: {str(got[pid][key])[:200]!r}")
    return mismatches


def _all_pages(get, url: str) -> list[dict]:
    postings: list[dict] = []
    while url:
        data = get(url)
        postings += data["postings"]
        url = data["next"] and "/" + data["next"].split("/", 3)[3]
    return postings


@dataclass
class Phase:
    interval: str
    tally: Tally
    editor: Editor
    mismatches: int
    log_errors: list[str]


def run_phase(args: argparse.Namespace, interval: str) -> Phase:
    """A fresh folder and server with ``SYNDICATE_RELOAD_INTERVAL=interval``, clients and editor for the duration."""
    with tempfile.TemporaryDirectory(prefix="syndicate-soak-") as tmp:
        root = Path(tmp)
        folder = root / "postings"
        editor = prepare(folder, args.count)
        tally = Tally()
        log = root / "gunicorn.log"
        pending: list[Pending] = []
        with (
            gunicorn(
                "bench.serve_app:app", folder, root / "instance", log, {"SYNDICATE_RELOAD_INTERVAL": interval}
            ) as base,
            ProcessPoolExecutor(args.parsers, mp_context=multiprocessing.get_context("spawn")) as pool,
        ):
            stop = threading.Event()
            threads = [
                threading.Thread(target=client, args=(base, editor, tally, stop, seed, pool, pending))
                for seed in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + args.duration
            while time.monotonic() < deadline:
                editor.step()
                time.sleep(editor.rng.uniform(0.01, 0.05))
            stop.set()
            for thread in threads:
                thread.join()
            time.sleep(max(1.0, float(interval)) + 1.5)  # past the check interval and racy stamps
            mismatches = converged(base, folder, root / "fresh-instance", tally)
            for job in pending:
                check_items(job, editor, tally)
        log_errors = problems_in_log(log)
        if log_errors:
            kept = Path(tempfile.gettempdir()) / f"syndicate-soak-interval-{interval}.log"
            shutil.copyfile(log, kept)
            print(f"the server logged errors; its log is kept in {kept}", file=sys.stderr)
    for line in log_errors:
        tally.error("server logged an error", line)
    print(
        f"SYNDICATE_RELOAD_INTERVAL={interval}: {tally.requests} requests, {len(tally.errors)} error kinds",
        file=sys.stderr,
    )
    return Phase(interval, tally, editor, mismatches, log_errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20, help="seconds of load and edits, per interval")
    parser.add_argument("--parsers", type=int, default=2, help="processes that parse the bodies")
    parser.add_argument(
        "--reload-intervals",
        default="1,0",
        help="SYNDICATE_RELOAD_INTERVAL of each run, comma-separated (1: the default; 0: checked on every request)",
    )
    args = parser.parse_args()
    phases = [run_phase(args, interval.strip()) for interval in args.reload_intervals.split(",")]

    table = recording("soak")  # the prints up to table.write() also go into docs/benchmarks.md
    print(
        f"\n{args.count} postings, gunicorn.conf.py, --workers 2, {args.clients} clients for {args.duration:g} s "
        f"while postings are edited, per SYNDICATE_RELOAD_INTERVAL\n"
    )
    rows: list[tuple[str, list[str]]] = [
        ("requests", [f"{p.tally.requests:,}" for p in phases]),
        ("requests/s", [f"{p.tally.requests / args.duration:,.0f}" for p in phases]),
    ]
    for status in sorted({s for p in phases for s in p.tally.statuses}):
        rows.append((f"answers {status}", [f"{p.tally.statuses[status]:,}" for p in phases]))
    rows.append(("distinct bodies served (each parsed and checked)", [f"{len(p.tally.bodies):,}" for p in phases]))
    rows.append(("edits", [str(sum(p.editor.ops.values())) for p in phases]))
    for op in sorted({op for p in phases for op in p.editor.ops}):
        rows.append((f"edits: {op}", [str(p.editor.ops[op]) for p in phases]))
    rows.append(("torn answers", [str(sum(n for kind, n in p.tally.errors.items() if "torn" in kind)) for p in phases]))
    rows.append(("postings served unlike a fresh load, after the edits", [str(p.mismatches) for p in phases]))
    rows.append(("server log error lines", [str(len(p.log_errors)) for p in phases]))
    rows.append(("errors", [str(sum(p.tally.errors.values())) for p in phases]))
    for kind in sorted({k for p in phases for k in p.tally.errors}):
        rows.append((f"error: {kind}", [str(p.tally.errors[kind]) for p in phases]))
    print("| measure | " + " | ".join(f"interval {p.interval} s" for p in phases) + " |")
    print("|---|" + "---|" * len(phases))
    for label, cells in rows:
        print(f"| {label} | " + " | ".join(cells) + " |")
    table.write()
    failed = [p for p in phases if p.tally.errors]
    for p in failed:
        print(f"\nfirst example of each error, interval {p.interval} s:", file=sys.stderr)
        for kind, example in p.tally.examples.items():
            print(f"- {kind}: {example}", file=sys.stderr)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
