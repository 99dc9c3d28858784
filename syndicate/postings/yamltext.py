"""Safe YAML for front matter: plain data only, and the values as the author wrote them.

PyYAML follows YAML 1.1, whose implicit types surprise authors: ``id: 007``
becomes 7, ``zip: 02134`` becomes 1116 (octal), ``country: NO`` becomes false,
``1:30`` becomes 90. Here only plain decimal numbers are numbers and only
true/false are booleans; everything else stays the text that was written.
Dates stay text too (the schema parses them and names the bad ones). Aliases
are refused: front matter never needs them, and they let a few hundred bytes
expand into gigabytes.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]{0,99})\Z")
_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\Z|[-+]?\.(inf|Inf|INF)\Z|\.(nan|NaN|NAN)\Z")


class FrontMatterError(ValueError):
    """The YAML cannot be used; the message names the line when it is known."""


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    pass


def _int_or_text(loader: Any, node: yaml.ScalarNode) -> int | str:
    text = loader.construct_scalar(node)
    return int(text) if _DECIMAL.match(text) else text


def _float_or_text(loader: Any, node: yaml.ScalarNode) -> float | str:
    text = loader.construct_scalar(node)
    return yaml.SafeLoader.construct_yaml_float(loader, node) if _FLOAT.match(text) else text


def _bool_or_text(loader: Any, node: yaml.ScalarNode) -> bool | str:
    text = loader.construct_scalar(node)
    return {"true": True, "false": False}.get(text.lower(), text)


def _refused(loader: Any, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, f"the tag {node.tag!r} is not allowed in front matter", node.start_mark
    )


_Loader.add_constructor("tag:yaml.org,2002:int", _int_or_text)
_Loader.add_constructor("tag:yaml.org,2002:float", _float_or_text)
_Loader.add_constructor("tag:yaml.org,2002:bool", _bool_or_text)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
for _tag in ("set", "binary", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refused)


def _where(mark: Any, first_line: int) -> str:
    return f" at line {mark.line + first_line}, column {mark.column + 1}" if mark else ""


# What the parser was inside when it gave up, for the constructs whose mistake is where they opened: an
# unclosed ``[`` is only noticed at the next key, a line or more below it.
_OPENED = {
    "while parsing a flow sequence": "the '[' opened here is never closed",
    "while parsing a flow mapping": "the '{' opened here is never closed",
    "while scanning a quoted scalar": "the quote opened here is never closed",
}


def _message(exc: yaml.YAMLError, first_line: int) -> str:
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    opened = getattr(exc, "context_mark", None)
    what = _OPENED.get(getattr(exc, "context", None) or "")
    if what and opened is not None and (mark is None or opened.line < mark.line):
        noticed = f" (noticed{_where(mark, first_line)}: {reason})" if mark else f" ({reason})"
        return f"invalid YAML{_where(opened, first_line)}: {what}{noticed}"
    return f"invalid YAML{_where(mark, first_line)}: {reason}"


def load_front_matter(text: str, first_line: int = 1) -> Any:
    """The data of ``text``; ``first_line`` is the file line that ``text`` starts on."""
    try:
        if "*" in text:  # an alias needs a '*': only then is the event stream worth a look
            for event in yaml.parse(text, Loader=_Loader):
                if isinstance(event, yaml.AliasEvent):
                    where = _where(event.start_mark, first_line)
                    raise FrontMatterError(f"invalid YAML{where}: aliases (*{event.anchor}) are not allowed")
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise FrontMatterError(_message(exc, first_line)) from None
    except RecursionError:
        raise FrontMatterError("invalid YAML: nested too deeply") from None
