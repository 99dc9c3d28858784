"""Log lines that cannot be forged: control characters in a message are escaped.

File names and posting values reach log messages; a name such as ``a\nb.md``
would otherwise write a second, fake line, and an ESC would drive the
operator's terminal. ``safe`` escapes them in any text; ``configure_logging``
makes every record of the process escape its message, whatever handler writes
it (a traceback, which is ours, keeps its lines).
"""

from __future__ import annotations

import logging
import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def safe(text: str) -> str:
    """``text`` with every control character (and line separator) written as an escape."""
    return _CONTROL.sub(_escape, text)


class SafeRecord(logging.LogRecord):
    """A record whose message never holds a control character."""

    def getMessage(self) -> str:
        return safe(super().getMessage())


def configure_logging(level: int = logging.INFO) -> None:
    """Escape every record's message; add one stderr handler when the root logger has none (under
    gunicorn or the CLI; pytest and embedding applications bring their own)."""
    logging.setLogRecordFactory(SafeRecord)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
        root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
