"""Shared fixtures: real SQLite files (and PostgreSQL when TEST_DATABASE_URL is set), posting folders."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from syndicate.postings.loader import PostingLoader
from syndicate.store.engine import Store

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
UTC_ZONE = ZoneInfo("UTC")

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture
def seed_bytes() -> bytes:
    """The seed posting exactly as it was handed over: front matter id/role/company, with mojibake."""
    return (FIXTURES / "seed-posting.txt").read_bytes()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a schema of its own in TEST_DATABASE_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'syndicate.db'}"
        return
    yield from postgresql_schema()


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A schema of its own in TEST_DATABASE_URL, for what only a networked database can do (go away)."""
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL (.ci/run does) to a database a test may use")
    yield from postgresql_schema()


def postgresql_schema() -> Iterator[str]:
    base = sa.make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+psycopg")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    store.migrate()
    yield store
    store.close()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))


@pytest.fixture
def postings_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "postings"
    folder.mkdir()
    return folder


def posting_text(posting_id: str | None = None, title: str = "Backend Engineer", **fields: str) -> str:
    """A small valid posting file; extra keyword arguments become raw front-matter lines."""
    lines = ["---"]
    if posting_id is not None:
        lines.append(f"id: {posting_id}")
    lines += [f"title: {title}", "company: Acme"]
    lines += [f"{key}: {value}" for key, value in fields.items()]
    lines += ["---", "", f"We are hiring a {title}.", ""]
    return "\n".join(lines)


def write(folder: Path, name: str, text: str | bytes) -> Path:
    """Write a file and give it a new mtime, as an editor saving it would."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def make_loader(store: Store, clock: Clock) -> Callable[..., PostingLoader]:
    def make(root: Path, max_bytes: int = 1024 * 1024, store_: Store | None = None) -> PostingLoader:
        return PostingLoader(root, store_ or store, UTC_ZONE, max_bytes, clock=clock)

    return make


SHIPPED = REPO_ROOT / "postings"
# The shipped postings are dated around late November 2026; the outputs are
# tested at a fixed moment so that none of them expires under the tests' feet.
SHIPPED_NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
def web_clock() -> Clock:
    """The app's one clock (loader dates, expiry, max-age, Last-Modified): fixed, moved by the test."""
    return Clock(SHIPPED_NOW)


@pytest.fixture
def make_app(tmp_path: Path, database_url: str, web_clock: Clock) -> Iterator[Callable[..., Any]]:
    """A Flask app over ``postings`` (default: the shipped ones) and the test database."""
    from syndicate.web.app import create_app

    made: list[Any] = []

    def make(postings: Path = SHIPPED, clock: Clock | None = None, **overrides: Any) -> Any:
        settings = {
            "postings_dir": postings,
            "instance_dir": tmp_path / "instance",
            "database_url": database_url,
            "reload_interval": 0.0,
            **overrides,
        }
        migrate(database_url)  # the release step, which the web process leaves to `syndicate migrate`
        app = create_app(settings, clock=clock or web_clock, autoreload=False)
        made.append(app)
        return app

    yield make
    for app in made:  # PostgreSQL allows only so many connections: give each app's back
        app.extensions["syndicate"].close()


def migrate(database_url: str) -> None:
    """What `syndicate migrate` does before a web process starts."""
    store = Store(database_url)
    try:
        store.migrate()
    finally:
        store.close()


def reload(app: Any) -> None:
    """One round of the app's refresher (what its background thread does every reload interval)."""
    app.extensions["syndicate.web"].refresh()


@pytest.fixture
def client(make_app: Callable[..., Any]) -> Any:
    """A test client of the shipped postings."""
    return make_app().test_client()


@pytest.fixture
def sink() -> Iterator[Any]:
    """A webhook receiver on a loopback port that verifies every request (``bench.sink``)."""
    from bench.sink import Sink

    server = Sink().start()
    yield server
    server.shutdown()
    server.server_close()
    assert not server.rejected, f"requests that failed verification: {server.rejected}"
