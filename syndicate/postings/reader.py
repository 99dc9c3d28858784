"""Reading one posting file: bytes in, a ``Posting`` or clear problems out.

``read_posting`` is a pure function of the file's bytes, its path and the
default time zone; it never raises for bad input. I/O stays in the loader.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import PurePosixPath
from typing import Any

from frontmatter.default_handlers import YAMLHandler

from syndicate.model import Address, ApplicantLocation, Company, Posting, Salary
from syndicate.postings.limits import DEFAULT_LIMITS, Limits, over
from syndicate.postings.record import HTML_SLOT, posting_from_record, posting_to_record
from syndicate.postings.schema import FieldProblem, validate_front_matter
from syndicate.postings.spellings import KEY_ALIASES, KNOWN_KEYS
from syndicate.postings.text import (
    MarkdownRefused,
    TooMuchMojibake,
    check_markdown,
    describe_controls,
    drop_title_heading,
    has_controls,
    render_markdown,
    repair_mojibake,
    strip_controls,
)
from syndicate.postings.yamltext import FrontMatterError, load_front_matter

log = logging.getLogger(__name__)

ERROR = "error"
WARNING = "warning"
BOM = b"\xef\xbb\xbf"
_YAML = YAMLHandler()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a posting file; errors keep it out, warnings do not."""

    file: str
    id: str | None
    level: str
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "id": self.id,
            "level": self.level,
            "field": self.field,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.level}: {self.message}"


@dataclass(frozen=True)
class ReadResult:
    """What one file yields: a posting (or ``None``) and its problems."""

    source: str
    posting: Posting | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.level == ERROR)


class _Rejected(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _decode(raw: bytes) -> str:
    if not raw.strip():
        raise _Rejected("file", "the file is empty")
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise _Rejected("file", f"not valid UTF-8: byte 0x{bad} at offset {exc.start}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _split(text: str, limits: Limits) -> tuple[dict[str, Any], str, bool]:
    """(data, body, whether a value may hold a control character: the text has one, or a backslash
    that a double-quoted YAML string could make one of)."""
    if not _YAML.detect(text):
        raise _Rejected("front matter", "no front matter: the file must start with a '---' line")
    try:
        front, body = _YAML.split(text)
    except ValueError:
        raise _Rejected("front matter", "front matter is not closed by a '---' line") from None
    size = len(front.encode("utf-8"))
    if size > limits.front_matter_bytes:
        reason = over("bytes", size, limits.front_matter_bytes, "SYNDICATE_MAX_FRONT_MATTER_BYTES")
        raise _Rejected("front matter", f"{reason}; the description goes below the closing '---'")
    try:
        # the front matter text starts right after the opening "---": its line 0 is file line 1
        data = load_front_matter(front, first_line=1)
    except FrontMatterError as exc:
        raise _Rejected("front matter", str(exc)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _Rejected("front matter", f"must be a mapping of keys, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}, body, "\\" in front or has_controls(front)


def _count_keys(data: dict[str, Any]) -> int:
    """Keys of ``data`` and of every mapping inside it (iteratively: depth costs no stack)."""
    count, todo = 0, [data]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            count += len(value)
            todo.extend(v for v in value.values() if isinstance(v, dict | list))
        else:
            todo.extend(v for v in value if isinstance(v, dict | list))
    return count


def _check_counts(data: dict[str, Any], limits: Limits) -> None:
    """The bounds on what the schema validates, checked before it runs (its cost grows with them)."""
    keys = _count_keys(data)
    if keys > limits.keys:
        raise _Rejected("front matter", over("keys", keys, limits.keys, "SYNDICATE_MAX_KEYS"))
    tags = data.get("tags")
    count = len(tags.split(",")) if isinstance(tags, str) else len(tags) if isinstance(tags, list) else 0
    if count > limits.tags:
        raise _Rejected("tags", over("tags", count, limits.tags, "SYNDICATE_MAX_TAGS"))
    for key in ("location", "applicant_locations"):
        value = data.get(key)
        if isinstance(value, list) and len(value) > limits.locations:
            raise _Rejected(key, over("locations", len(value), limits.locations, "SYNDICATE_MAX_LOCATIONS"))


def _without_controls(value: Any, field: str, removed: dict[str, str]) -> Any:
    """``value`` with control characters taken out of every string (keys too); ``removed`` gets
    which, per field."""
    if isinstance(value, str):
        clean, found = strip_controls(value)
        if found:
            removed[field] = removed.get(field, "") + found
        return clean
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name, found = strip_controls(key) if isinstance(key, str) else (key, "")
            label = f"{field}.{name}" if field else str(name)  # labels never carry what was removed
            if found:
                removed[label] = removed.get(label, "") + found
            out[name] = _without_controls(item, label, removed)
        return out
    if isinstance(value, list):
        return [_without_controls(v, f"{field}[{i}]", removed) for i, v in enumerate(value)]
    return value


def _json_safe(value: Any) -> Any:
    """Unknown keys are kept; make their values survive JSON (the parse cache, the API)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN is not JSON, and not equal to itself after a round trip
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _repair(value: Any, field: str, repaired: list[str], kept: list[str], most: int) -> Any:
    """``value`` with mojibake undone; the fields repaired, and those with too much of it to try."""
    if isinstance(value, str):
        try:
            fixed = repair_mojibake(value, most)
        except TooMuchMojibake as exc:
            kept.append(f"{field}\0{exc}")
            return value
        if fixed != value:
            repaired.append(field)
        return fixed
    if isinstance(value, dict):
        return {k: _repair(v, f"{field}.{k}", repaired, kept, most) for k, v in value.items()}
    if isinstance(value, list):
        return [_repair(v, f"{field}[{i}]", repaired, kept, most) for i, v in enumerate(value)]
    return value


def _content_hash(clean: dict[str, Any], body: str) -> str:
    """What a reader of the posting sees: normalised fields and the Markdown text."""
    digest = hashlib.sha256(json.dumps(clean, sort_keys=True, ensure_ascii=False, default=str).encode())
    digest.update(b"\0")
    digest.update(body.encode())
    return digest.hexdigest()


def read_posting(raw: bytes, source: str, tz: tzinfo, limits: Limits = DEFAULT_LIMITS) -> ReadResult:
    """Parse, repair, validate and render one posting file, in time linear in its size.

    ``source`` is the path relative to the postings folder (POSIX form); its
    stem is the default id. A file over one of ``limits`` is left out, naming it.
    """
    warnings: list[tuple[str, str]] = []
    posting_id: str | None = None
    try:
        data, body, maybe_controls = _split(_decode(raw), limits)
        _check_counts(data, limits)
        try:
            check_markdown(body, limits)  # before anything costly is done with it
        except MarkdownRefused as exc:
            raise _Rejected("description", str(exc)) from None
        removed: dict[str, str] = {}
        if maybe_controls:  # most front matter has neither: no value needs a look
            data = _without_controls(data, "", removed)
        for alias, key in KEY_ALIASES.items():
            if alias in data:
                if key in data:
                    warnings.append((alias, f"both {key!r} and its alias {alias!r} given; {key!r} is used"))
                    data.pop(alias)
                else:
                    data[key] = data.pop(alias)
        repaired: list[str] = []
        kept: list[str] = []
        data = {k: _repair(v, k, repaired, kept, limits.mojibake) for k, v in data.items()}
        body = _repair(body, "description", repaired, kept, limits.mojibake)
        if repaired:  # a repair can make a control character (a Java-style C0 80 is a NUL)
            data = _without_controls(data, "", removed)
        body = _without_controls(body, "description", removed)
        for field, chars in removed.items():
            warnings.append((field, f"control characters removed ({describe_controls(chars)})"))
        for field in repaired:
            warnings.append((field, "mojibake repaired (text damaged by a wrong encoding round trip)"))
        for entry in kept:
            field, reason = entry.split("\0", 1)
            warnings.append((field, f"mojibake left as written: {reason}"))
        extra = {k: v for k, v in data.items() if k not in KNOWN_KEYS}
        for key in extra:
            warnings.append((key, f"unknown key {key!r} (kept, but no output uses it)"))
        if data.get("id") is None:
            data["id"] = PurePosixPath(source).stem
            if not isinstance(data["id"], str) or not data["id"]:
                raise _Rejected("id", "no id and no usable file name")
        raw_id = data["id"]
        posting_id = raw_id if isinstance(raw_id, str) else None
        checked = validate_front_matter(data, tz)
        if isinstance(checked, list):
            return _rejected(source, posting_id, checked, warnings)
        posting_id = checked.id
        if not body.strip():
            warnings.append(("description", "the Markdown body is empty: no description to publish"))
        clean = checked.model_dump(mode="json")
        try:
            # checks again (a repair may add markup); a first heading that repeats the title is dropped
            description_html = drop_title_heading(render_markdown(body, limits), checked.title)
        except MarkdownRefused as exc:
            raise _Rejected("description", str(exc)) from None
        posting = Posting(
            id=checked.id,
            source=source,
            title=checked.title,
            company=Company(**checked.company.model_dump()),
            description_html=description_html,
            content_hash=_content_hash({**clean, "extra": _json_safe(extra)}, body),
            locations=tuple(Address(**a.model_dump()) for a in checked.location),
            remote=checked.remote,
            applicant_locations=tuple(ApplicantLocation(**a.model_dump()) for a in checked.applicant_locations),
            employment_types=tuple(checked.employment_type),
            salary=_salary(checked.salary),
            date_posted=checked.date_posted,
            valid_through=checked.valid_through,
            status=checked.status,
            tags=tuple(checked.tags),
            apply_url=checked.apply_url,
            direct_apply=checked.direct_apply,
            department=checked.department,
            experience=checked.experience,
            education=checked.education,
            extra=tuple(sorted(_json_safe(extra).items())),
            date_posted_given=checked.date_posted is not None,
        )
    except _Rejected as exc:
        return _rejected(source, posting_id, [FieldProblem(exc.field, exc.message)], warnings)
    except RecursionError:
        return _rejected(source, posting_id, [FieldProblem("front matter", "nested too deeply")], warnings)
    except Exception as exc:  # a bug of ours must cost one file, not the service
        log.exception("reading %s failed", source)
        problem = FieldProblem("file", f"could not be read: {type(exc).__name__} (a bug; see the log)")
        return _rejected(source, posting_id, [problem], warnings)
    problems = tuple(Problem(source, posting.id, WARNING, f, m) for f, m in warnings)
    return ReadResult(source, posting, problems)


def _salary(salary: Any) -> Salary | None:
    if salary is None:
        return None
    return Salary(salary.currency, salary.per, salary.min, salary.max, salary.value)


def _rejected(
    source: str, posting_id: str | None, errors: list[FieldProblem], warnings: list[tuple[str, str]]
) -> ReadResult:
    problems = [Problem(source, posting_id, ERROR, e.field, e.message) for e in errors]
    problems += [Problem(source, posting_id, WARNING, f, m) for f, m in warnings]
    return ReadResult(source, None, tuple(problems))


def rejected_file(source: str, field: str, message: str) -> ReadResult:
    """A file refused before its bytes are parsed (too large, unreadable)."""
    return ReadResult(source, None, (Problem(source, None, ERROR, field, message),))


def result_to_json(result: ReadResult) -> tuple[str, str | None]:
    """``result`` as JSON text for the parse cache, and the description HTML apart (no escaping)."""
    record = posting_to_record(result.posting) if result.posting else None
    html = None
    if record is not None:
        html, record[HTML_SLOT] = record[HTML_SLOT], None
    problems = [[p.id, p.level, p.field, p.message] for p in result.problems]
    return json.dumps([record, problems], ensure_ascii=False), html


def result_from_json(source: str, text: str, html: str | None) -> ReadResult:
    """Inverse of ``result_to_json``; ``source`` is the file's path."""
    record, problems = json.loads(text)
    if record is not None:
        record[HTML_SLOT] = html
    posting = posting_from_record(record) if record is not None else None
    return ReadResult(source, posting, tuple(Problem(source, *p) for p in problems))
