"""The parse-cache record of a ``Posting``, derived from the model: a JSON-safe list that rebuilds it.

Nothing here names a field. The encoder and decoder are generated once from ``Posting``'s dataclass
fields and their annotations, so adding a field to the model adds it to the record. They are compiled
as plain functions over positional lists (a warm start decodes 10,000 records; lists of values decode
and construct about twice as fast as dicts of keyword arguments).

``current_parser_version()`` invalidates cached records of other code: it hashes the front-matter schema (its
JSON Schema), the record's layout and the source of every module that turns a file into a posting, and
the versions of the libraries that render it. Nobody bumps it by hand.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sys
import types
import typing
import unicodedata
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from syndicate import model
from syndicate.model import Posting

# Libraries whose output is part of a cached posting (its HTML, its repaired text, its parsed YAML).
RENDERING_LIBRARIES = ("cmarkgfm", "nh3", "ftfy", "PyYAML", "python-frontmatter", "pydantic")
HERE = Path(__file__).resolve().parent
PARSING_MODULES = ("schema.py", "spellings.py", "reader.py", "text.py", "yamltext.py", "limits.py", "record.py")


def _optional(annotation: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of ``X | None``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


class _Codec:
    """Source text of one value's encoding and decoding, built recursively from its annotation."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"datetime": datetime}
        self._count = 0

    def name(self, value: Any) -> str:
        self._count += 1
        key = f"_n{self._count}"
        self.names[key] = value
        return key

    def encode(self, annotation: Any, expr: str) -> str:
        kind, optional = _optional(annotation)
        code = self._encode(kind, expr)
        return f"({code} if {expr} is not None else None)" if optional and code != expr else code

    def decode(self, annotation: Any, expr: str) -> str:
        kind, optional = _optional(annotation)
        code = self._decode(kind, expr)
        return f"({code} if {expr} is not None else None)" if optional and code != expr else code

    def _encode(self, kind: Any, expr: str) -> str:
        if kind is datetime:
            return f"{expr}.isoformat()"
        if isinstance(kind, type) and issubclass(kind, StrEnum):
            return f"{expr}.value"
        if dataclasses.is_dataclass(kind):
            hints = typing.get_type_hints(kind)
            parts = [self.encode(hints[f.name], f"{expr}.{f.name}") for f in dataclasses.fields(kind)]
            return f"[{', '.join(parts)}]"
        if typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            inner = self.encode(item, "x")
            return f"list({expr})" if inner == "x" else f"[{inner} for x in {expr}]"
        if kind in (str, bool, int, float, Any):
            return expr
        raise TypeError(f"the parse-cache record cannot hold a {kind!r}: teach syndicate.postings.record")

    def _decode(self, kind: Any, expr: str) -> str:
        if kind is datetime:
            return f"datetime.fromisoformat({expr})"
        if isinstance(kind, type) and issubclass(kind, StrEnum):
            return f"{self.name({m.value: m for m in kind})}[{expr}]"  # a dict look-up: Enum() costs 1 us a call
        if dataclasses.is_dataclass(kind):
            hints = typing.get_type_hints(kind)
            simple = all(_optional(hints[f.name])[0] in (str, float, int, bool) for f in dataclasses.fields(kind))
            if simple:
                return f"{self.name(kind)}(*{expr})"
            parts = [self.decode(hints[f.name], f"{expr}[{i}]") for i, f in enumerate(dataclasses.fields(kind))]
            return f"{self.name(kind)}({', '.join(parts)})"
        if typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            if typing.get_origin(item) is tuple:  # pairs such as ``extra``: JSON gives them back as lists
                return f"tuple(tuple(x) for x in {expr})"
            inner = self.decode(item, "x")
            return f"tuple({expr})" if inner == "x" else f"tuple({inner} for x in {expr})"
        if kind in (str, bool, int, float, Any):
            return expr
        raise TypeError(f"the parse-cache record cannot hold a {kind!r}: teach syndicate.postings.record")


def compile_record(cls: type = Posting) -> tuple[Any, Any, int, str]:
    """(encoder, decoder, the index of ``description_html``, their source) for the dataclass ``cls``."""
    codec = _Codec()
    hints = typing.get_type_hints(cls, vars(model))
    fields = dataclasses.fields(cls)
    encoded = ",\n        ".join(codec.encode(hints[f.name], f"p.{f.name}") for f in fields)
    decoded = ",\n        ".join(codec.decode(hints[f.name], f"r[{i}]") for i, f in enumerate(fields))
    source = (
        f"def posting_to_record(p):\n    return [\n        {encoded},\n    ]\n\n\n"
        f"def posting_from_record(r):\n    return {codec.name(cls)}(\n        {decoded},\n    )\n"
    )
    namespace = dict(codec.names)
    exec(compile(source, "<syndicate.postings.record>", "exec"), namespace)  # generated from the model above
    html_slot = [f.name for f in fields].index("description_html")
    return namespace["posting_to_record"], namespace["posting_from_record"], html_slot, source


posting_to_record, posting_from_record, HTML_SLOT, RECORD_SOURCE = compile_record()
posting_to_record.__doc__ = "Every field of ``p``, JSON-safe, in declaration order (derived from the model)."
posting_from_record.__doc__ = "Inverse of ``posting_to_record``; the record was validated when it was made."


def parser_version(schema: Any = None, record_source: str = RECORD_SOURCE) -> str:
    """The version of parsing that a cached record was made by: ``schema`` (default: ``FrontMatter``),
    the record's layout, the parsing modules' source and the rendering libraries' versions."""
    if schema is None:
        from syndicate.postings.schema import FrontMatter  # the schema imports the model: imported late

        schema = FrontMatter
    digest = hashlib.sha256()
    digest.update(json.dumps(schema.model_json_schema(), sort_keys=True).encode())
    digest.update(record_source.encode())
    for path in [HERE / name for name in PARSING_MODULES] + [HERE.parent / "model.py"]:
        digest.update(path.read_bytes().replace(b"\r\n", b"\n"))  # a CRLF checkout parses the same
    from importlib import metadata  # only here: lint, which asks no parser version, does without it

    for library in RENDERING_LIBRARIES:
        digest.update(f"{library}={metadata.version(library)}".encode())
    # the Unicode tables (ftfy, isprintable) and the YAML parser in use shape the result too
    digest.update(f"python={sys.version_info[:2]} unicode={unicodedata.unidata_version}".encode())
    digest.update(f"libyaml={yaml.__with_libyaml__}".encode())
    return digest.hexdigest()[:16]


@functools.cache
def current_parser_version() -> str:
    """``parser_version()`` of this process, computed once when first asked (the parse cache asks;
    lint does not, and starts without building the schema's JSON Schema)."""
    return parser_version()
