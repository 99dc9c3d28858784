"""The parse cache: each file's parsed and rendered posting by the hash of its bytes (and the parser
version), so a restart or a second process neither re-parses nor re-renders an unchanged file. Part of
``Store`` (a mixin over its engine)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from syndicate.store.sql import chunks, insert_for, rows_where_in
from syndicate.store.tables import parse_cache


@dataclass(frozen=True)
class CacheEntry:
    """A parsed file: ``key`` hashes its bytes (and the parser version); ``result`` is JSON text;
    ``file_text`` is the file itself when it read well (another parser version can read it again)."""

    key: str
    source: str
    stamp: str
    result: str
    html: str | None
    file_text: str | None = None


class ParseCache:
    """``parse_cache`` over ``self.engine`` and ``self.writer`` (see ``Store``)."""

    engine: sa.Engine
    writer: sa.Engine

    def cached_by_source(self, sources: Iterable[str]) -> dict[str, list[CacheEntry]]:
        """The cache entries of these files, found by path (a file is re-checked by its stamp). A file
        has one entry, or two while it is broken: what it holds now and the last version that read
        (see ``cache_results``)."""
        found: dict[str, list[CacheEntry]] = {}
        with self.engine.connect() as conn:
            for row in rows_where_in(conn, sa.select(*parse_cache.c), parse_cache.c.source, sources):
                found.setdefault(row.source, []).append(CacheEntry(*row))
        return found

    def cached_by_key(self, keys: Iterable[str]) -> dict[str, CacheEntry]:
        """The cache entries for these content keys."""
        with self.engine.connect() as conn:
            return {
                row.key: CacheEntry(*row)
                for row in rows_where_in(conn, sa.select(*parse_cache.c), parse_cache.c.key, keys)
            }

    def cache_results(
        self, entries: Iterable[CacheEntry], replaced: Iterable[str] = (), kept: Mapping[str, str] | None = None
    ) -> set[str]:
        """Store entries (an existing key gets the new stamp); entries of ``replaced`` files with another
        key go, except the key ``kept`` names for that file (the last version of a broken file that
        read, still served). Returns the keys this call added first: of processes parsing the same
        bytes at once, exactly one is told it was first (that one reports the file's problems)."""
        rows = [
            {
                "key": e.key,
                "source": e.source,
                "stamp": e.stamp,
                "result": e.result,
                "html": e.html,
                "file_text": e.file_text,
            }
            for e in entries
        ]
        if not rows:
            return set()
        insert = insert_for(self.engine)
        replaced = set(replaced)
        first: set[str] = set()
        with self.writer.begin() as conn:
            kept = kept or {}
            stale = [
                {"b_source": r["source"], "b_key": r["key"], "b_kept": kept.get(r["source"], r["key"])}
                for r in rows
                if r["source"] in replaced
            ]
            if stale:
                conn.execute(
                    parse_cache.delete()
                    .where(parse_cache.c.source == sa.bindparam("b_source"))
                    .where(parse_cache.c.key != sa.bindparam("b_key"))
                    .where(parse_cache.c.key != sa.bindparam("b_kept")),
                    stale,
                )
            for chunk in chunks(rows):
                added = insert(parse_cache).on_conflict_do_nothing(index_elements=["key"]).returning(parse_cache.c.key)
                first.update(conn.execute(added, chunk).scalars().all())
                known = [{"b_key": r["key"], "b_stamp": r["stamp"]} for r in chunk if r["key"] not in first]
                if known:
                    conn.execute(
                        parse_cache.update()
                        .where(parse_cache.c.key == sa.bindparam("b_key"))
                        .values(stamp=sa.bindparam("b_stamp")),
                        known,
                    )
        return first

    def forget_sources(self, sources: Iterable[str]) -> None:
        """Drop the entries of files that were deleted: a file made again under the name is new."""
        with self.writer.begin() as conn:
            for chunk in chunks(sorted(set(sources))):
                conn.execute(parse_cache.delete().where(parse_cache.c.source.in_(chunk)))
