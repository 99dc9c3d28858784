"""``/<key>.txt``: the key of every indexnow board, for the IndexNow endpoints to check (any other
``/<x>.txt`` is 404). The keys come from ``boards.toml`` as the worker reads it, re-read only when the
file's stat stamp changes."""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Blueprint, Response, abort
from flask.typing import ResponseReturnValue

from syndicate.push.boards import indexnow_keys
from syndicate.web.answers import state

bp = Blueprint("keys", __name__)


class KeysFile:
    """The indexnow keys of one boards file, re-read when its stamp changes (a stat per request)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | bool | None = False  # False: never read
        self._keys: frozenset[str] = frozenset()

    def current(self) -> frozenset[str]:
        try:
            st = self.path.stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._keys = indexnow_keys(self.path) if stamp is not None else frozenset()
                self._stamp = stamp
            return self._keys


_files: dict[Path, KeysFile] = {}
_files_lock = threading.Lock()


def _keys_file(path: Path) -> KeysFile:
    with _files_lock:
        if path not in _files:
            _files[path] = KeysFile(path)
        return _files[path]


@bp.get("/<name>.txt")
def key_txt(name: str) -> ResponseReturnValue:
    """The key itself, as text, when ``name`` is the key of a configured indexnow board."""
    if name not in _keys_file(state().svc.settings.boards_path).current():
        abort(404)
    return Response(name, content_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})
