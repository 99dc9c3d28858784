"""Benchmark tables into ``docs/benchmarks.md``: what a bench prints is also written between its markers.

Each bench's figures sit in ``docs/benchmarks.md`` between ``<!-- bench-NAME -->`` and
``<!-- /bench-NAME -->``. A bench starts ``recording(NAME)`` before it prints a table and calls
``write()`` after: the table goes to standard output as before and replaces what is between the
markers. The prose around the markers is written by hand and left alone.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TextIO

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench-{name} -->", f"<!-- /bench-{name} -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with what is between the markers of ``name`` replaced by ``body``."""
    start, end = markers(name)
    before, found, rest = text.partition(start)
    if not found:
        raise ValueError(f"no {start} marker")
    _, found, after = rest.partition(end)
    if not found:
        raise ValueError(f"no {end} marker after {start}")
    return f"{before}{start}\n{body.strip()}\n{end}{after}"


def write_section(name: str, body: str, path: Path = DOCS) -> None:
    path.write_text(replace_section(path.read_text(encoding="utf-8"), name, body), encoding="utf-8")


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


class Recording:
    """What is printed to standard output from its start on is also kept, until ``write``."""

    def __init__(self, name: str, path: Path = DOCS) -> None:
        self.name, self.path = name, path
        self._buffer = io.StringIO()
        self._stdout = sys.stdout
        sys.stdout = _Tee(self._stdout, self._buffer)

    def write(self, keep: bool = True) -> None:
        """Stop recording; with ``keep``, put what was printed between the markers of ``path``."""
        sys.stdout = self._stdout
        if keep:
            write_section(self.name, self._buffer.getvalue(), self.path)
            print(f"written into {self.path.name} between the {markers(self.name)[0]} markers", file=sys.stderr)


def recording(name: str, path: Path = DOCS) -> Recording:
    """Start recording a bench's table: ``table = recording("load")``, the prints, ``table.write()``."""
    return Recording(name, path)
