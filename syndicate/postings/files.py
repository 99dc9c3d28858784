"""The postings folder as files: which files count, their stat stamps, their bytes.

I/O only; what the bytes mean is the reader's business.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from datetime import tzinfo
from pathlib import Path

from syndicate.postings.limits import DEFAULT_LIMITS, Limits
from syndicate.postings.reader import ReadResult, read_posting, rejected_file

log = logging.getLogger(__name__)

EXTENSIONS = (".md", ".markdown", ".txt")
UNUSABLE_NAME = "the file name is not printable UTF-8 text; rename the file"
NOT_REGULAR = "not a regular file"

# (mtime_ns, ctime_ns, size, inode): a file whose stamp is unchanged is not re-read. ctime moves
# on every write or rename and cannot be set back, so a same-size edit with a restored mtime shows.
Stamp = tuple[int, int, int, int]


def _encodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 come back as surrogates
        return False
    return True


def _shown(name: str) -> str:
    """A name as text that can be printed (bytes that are not UTF-8 shown as U+FFFD)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def scan(
    root: Path, unusable: list[str] | None = None, unlistable: list[tuple[str, str]] | None = None
) -> dict[str, Stamp]:
    """Every posting file below ``root`` with its stamp: one ``stat`` per file, no reads.

    Symbolic links are followed only to files inside ``root``; linked folders
    are not entered (they would list the same files twice); only regular files
    count. Files whose names are not UTF-8 text are listed in ``unusable``; folders
    that cannot be listed, in ``unlistable`` (their path below ``root`` with a
    trailing slash, ``""`` for ``root``, and why) or else logged. This loop is the
    whole cost of a no-change check, so it does no more than it must.
    """

    def cannot_list(folder: str, prefix: str, exc: OSError) -> None:
        if unlistable is None:
            log.warning("cannot list %s: %s", folder, exc)
        else:
            unlistable.append((_shown(prefix), exc.strerror or str(exc)))

    real_root = os.path.realpath(root)
    found: dict[str, Stamp] = {}
    pending = [(str(root), "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            cannot_list(folder, prefix, exc)
            continue
        try:
            # listing by descriptor makes each stat relative to it (fstatat): no path walk per file
            entries = list(os.scandir(fd))
        except OSError as exc:
            cannot_list(folder, prefix, exc)
            entries = []
        try:
            for entry in entries:
                name = entry.name
                if name.startswith((".", "#")):
                    continue  # hidden (.x.swp Vim swap, .#x.md Emacs lock), #x.md# Emacs autosave
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((os.path.join(folder, name), f"{prefix}{name}/"))
                        continue
                    if not name.lower().endswith(EXTENSIONS):
                        continue  # also x.md~ (a backup: the extension is not last)
                    if entry.is_symlink():
                        target = os.path.realpath(os.path.join(folder, name))
                        if os.path.commonpath([real_root, target]) != real_root or not os.path.isfile(target):
                            continue
                    st = entry.stat()  # follows a link inside the root to its file
                except OSError:
                    continue  # removed while we looked: it is simply not there
                if not stat.S_ISREG(st.st_mode):
                    continue  # a FIFO or device named x.md would block the reader
                if not name.isprintable() or not _encodable(name):
                    if unusable is not None:
                        unusable.append(_shown(f"{prefix}{name}"))
                    continue
                found[f"{prefix}{name}"] = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        finally:
            os.close(fd)
    return found


def read_bytes(root: Path, source: str, max_bytes: int) -> bytes | ReadResult | None:
    """The file's bytes; a rejection if it is too large or unreadable; ``None`` if it is gone."""
    try:
        fd = os.open(root / source, os.O_RDONLY | os.O_NONBLOCK)  # never wait on a FIFO swapped in
    except FileNotFoundError:
        return None  # removed since the scan; the next scan drops it
    except OSError as exc:
        return rejected_file(source, "file", f"cannot read the file: {exc.strerror or exc}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device (given to lint, or swapped in since the scan)
            return rejected_file(source, "file", NOT_REGULAR)
        if st.st_size > max_bytes:
            return rejected_file(
                source,
                "file",
                f"the file is {st.st_size} bytes, over the limit of {max_bytes} (SYNDICATE_MAX_POSTING_BYTES)",
            )
        chunks = []
        read = 0
        while chunk := os.read(fd, max_bytes + 1 - read):  # plain os.read: a third of open()'s cost per file
            chunks.append(chunk)
            read += len(chunk)
            if read > max_bytes:  # it grew since the fstat, or its size says nothing (/proc)
                return rejected_file(
                    source,
                    "file",
                    f"the file is over the limit of {max_bytes} bytes (SYNDICATE_MAX_POSTING_BYTES)",
                )
        return b"".join(chunks)
    except FileNotFoundError:
        return None  # removed since the scan; the next scan drops it
    except OSError as exc:
        return rejected_file(source, "file", f"cannot read the file: {exc.strerror or exc}")
    finally:
        os.close(fd)


def read_folder(
    root: Path, tz: tzinfo, max_bytes: int, limits: Limits = DEFAULT_LIMITS, prefix: str = ""
) -> dict[str, ReadResult]:
    """Read every posting file below ``root`` without the store (what lint uses); each is named by its
    path below ``root``, after ``prefix``."""
    results: dict[str, ReadResult] = {}
    unusable: list[str] = []
    unlistable: list[tuple[str, str]] = []
    stamps = scan(root, unusable, unlistable)
    for name in unusable:
        results[prefix + name] = rejected_file(prefix + name, "file", UNUSABLE_NAME)
    for folder, reason in unlistable:  # its files would pass unseen: the folder is an error of its own
        name = (prefix + folder).rstrip("/") or "."  # "." is ``root`` itself, named alone
        results[name] = rejected_file(name, "folder", f"cannot list the folder: {reason}")
    for source in sorted(stamps):
        raw = read_bytes(root, source, max_bytes)
        if raw is not None:
            name = prefix + source
            if isinstance(raw, ReadResult):  # refused before reading: the same refusal, by its name here
                results[name] = rejected_file(name, raw.problems[0].field, raw.problems[0].message)
            else:
                results[name] = read_posting(raw, name, tz, limits)
    return results


def read_paths(
    paths: Sequence[Path], tz: tzinfo, max_bytes: int, limits: Limits = DEFAULT_LIMITS
) -> dict[str, tuple[Path, ReadResult]]:
    """What lint is given, read without the store: each result by the name lint shows, with the file.

    A folder given alone keeps its files' names relative to it; otherwise a folder's files are named
    below the folder as given, and a file by the path as given (any extension: it was asked for). The
    caller has checked that each path is a readable folder or a file.
    """
    found: dict[str, tuple[Path, ReadResult]] = {}
    seen: set[str] = set()  # each file once, by its real path, under the first name given for it

    def first(path: Path) -> bool:
        if len(paths) == 1:
            return True  # one folder lists each file once
        real = os.path.realpath(path)
        if real in seen:
            return False
        seen.add(real)
        return True

    for path in paths:
        if path.is_dir():
            prefix = "" if len(paths) == 1 else f"{path.as_posix().rstrip('/')}/"
            for name, result in read_folder(path, tz, max_bytes, limits, prefix).items():
                file = path / name.removeprefix(prefix) if name.startswith(prefix) else path  # or the folder
                if first(file):
                    found[name] = (file, result)
            continue
        if not first(path):
            continue
        name = path.as_posix()
        raw = read_bytes(Path(), name, max_bytes)
        if raw is None:
            raw = rejected_file(name, "file", "the file is gone")
        found[name] = (path, raw if isinstance(raw, ReadResult) else read_posting(raw, name, tz, limits))
    return found


# File times advance in clock ticks (often 4 ms): a file written again within the tick of an
# earlier read can keep its stamp. As git does with its index, a stamp that recent is not
# trusted: it is recorded as unknown, so the file is looked at again (by the hash of its
# bytes, so nothing is parsed twice) until its stamp is old enough to mean something.
# The ctime decides: it moves with every write and cannot be set (an mtime can, even into
# the future, by tar, rsync -t or touch -d).
RACY_NS = 100_000_000
UNKNOWN = -1


def distrust_racy(stamps: dict[str, Stamp], now_ns: int, window_ns: int = RACY_NS) -> dict[str, Stamp]:
    """``stamps`` with each one younger than ``window_ns`` marked unknown."""
    for source, (_mtime, ctime, size, inode) in stamps.items():
        if ctime >= now_ns - window_ns:
            stamps[source] = (UNKNOWN, ctime, size, inode)
    return stamps
