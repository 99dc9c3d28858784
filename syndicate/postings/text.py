"""Text handling: control characters, mojibake repair, Markdown rendering, HTML sanitising.

Pure functions; no I/O. Every step is linear in the size of its input: what
would make one superlinear (deep nesting, padded tables) is measured first, in
one linear pass, and refused with the reason (``MarkdownRefused``).
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable
from html import unescape

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options as CmarkOptions

from syndicate.postings.limits import DEFAULT_LIMITS, Limits, over

# ftfy, told to undo encoding damage only: its defaults would also straighten
# curly quotes, fold full-width characters, expand ligatures, normalise to NFC
# and unescape HTML entities, none of which is damage. Imported when a value first
# looks damaged: its tables cost a tenth of a second to load, which lint of clean
# files need not pay.
_REPAIR_ONLY = dict(
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_encoding=True,
    restore_byte_a0=True,
    replace_lossy_sequences=True,
    decode_inconsistent_utf8=True,
    fix_c1_controls=True,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    fix_surrogates=True,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)


@functools.cache
def _fixer() -> Callable[[str], str]:
    import ftfy

    config = ftfy.TextFixerConfig(**_REPAIR_ONLY)
    return lambda piece: ftfy.fix_text(piece, config)


# UTF-8 read as Latin-1 or Windows-1252 always leaves a lead byte (U+00C2..U+00F4)
# followed by a continuation byte (0x80..0xBF, as Latin-1 or as its cp1252 glyph).
# Text without such a pair has no damage of that family, and ftfy (~300 us per
# 4 KB) need not look at it.
_CP1252_CONTINUATION = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_MAYBE_MOJIBAKE = re.compile(f"[\u00c2-\u00f4][{_CP1252_CONTINUATION}]")


# C0 controls but tab and newline (carriage returns are already line ends), and DEL: they
# have no place in a posting, and ESC or NUL reaching a title, a log or a terminal is an attack.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


PIECE = 16 * 1024  # characters one call of a regex or of ftfy takes at a time


def pieces(text: str, size: int = PIECE, after: str = "\n ") -> list[str]:
    """``text`` cut every ``size`` characters or so, just after one of ``after`` (a line end, else a
    space) when there is one within another ``size``. A regex or ftfy holds the GIL for the whole string
    it is given: in pieces, a web process parsing a large file in its refresher thread still answers
    requests between them."""
    if len(text) <= size:
        return [text]
    out, start = [], 0
    while start < len(text):
        end = -1
        for mark in after:
            end = text.find(mark, start + size, start + 2 * size)
            if end >= 0:
                break
        if end < 0:
            end = min(len(text), start + size)
            while start + 1 < end < len(text) and "\u00c2" <= text[end - 1] <= "\u00f4":
                end -= 1  # a hard cut never parts a lead character from what follows it
        else:
            end += 1
        out.append(text[start:end])
        start = end
    return out


def has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None


def strip_controls(text: str) -> tuple[str, str]:
    """``text`` without control characters, and the ones removed (empty when none)."""
    if _CONTROLS.search(text) is None:
        return text, ""
    found: dict[str, None] = {}
    clean = []
    for piece in pieces(text):
        found.update(dict.fromkeys(_CONTROLS.findall(piece)))
        clean.append(_CONTROLS.sub("", piece))
    return "".join(clean), "".join(found)


def describe_controls(removed: str) -> str:
    return ", ".join(f"U+{ord(c):04X}" for c in removed)


class TooMuchMojibake(ValueError):
    """More suspect sequences than a value may have repaired (ftfy costs about a microsecond a byte)."""


def repair_mojibake(text: str, most: int = DEFAULT_LIMITS.mojibake) -> str:
    """Undo a wrong-encoding round trip (``Rustâ€™s`` -> ``Rust’s``); leave the rest as written. Only the
    pieces with a suspect sequence go through ftfy; ``TooMuchMojibake`` when there are over ``most``."""
    if text.isascii() or not _MAYBE_MOJIBAKE.search(text):
        return text
    if next(itertools.islice(_MAYBE_MOJIBAKE.finditer(text), most, None), None) is not None:
        raise TooMuchMojibake(f"more than {most:,} sequences look like mojibake (SYNDICATE_MAX_MOJIBAKE)")
    return "".join(
        _fixer()(piece) if _MAYBE_MOJIBAKE.search(piece) else piece for piece in pieces(text)
    )  # damage never spans a line or a word


# --- Markdown -> sanitised HTML -------------------------------------------------

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s",
        "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})


# Built once: building the sanitiser costs as much as running it on a posting.
_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(ALLOWED_URL_SCHEMES),
    link_rel="nofollow noopener noreferrer",
    strip_comments=True,
)


def sanitize_html(html: str) -> str:
    """Allow-list sanitising: no script, no event attributes, no javascript:/data: URLs."""
    return _CLEANER.clean(html)


# cmark's safe mode leaves raw HTML out (as a comment the sanitiser then drops):
# Markdown says everything a posting needs, and raw HTML only adds attack surface
# (deeply nested tags even make the sanitiser quadratic). The sanitiser stays the
# boundary for what Markdown itself produces (links, autolinks).
_CMARK_OPTIONS = CmarkOptions.CMARK_OPT_DEFAULT | CmarkOptions.CMARK_OPT_GITHUB_PRE_LANG
_GFM_EXTENSIONS = ("table", "autolink", "tagfilter", "strikethrough", "tasklist")

# cmarkgfm's own helpers never free the document tree nor the HTML buffer they get
# from C (about 35 KB lost per posting, cmarkgfm issue 53): over a 10,000-posting
# load that is 350 MB. The C library exports the functions that free them; they are
# called through ctypes on the very library cmarkgfm loaded.
_C = ctypes.CDLL(_cmark.__file__)
_C.cmark_node_free.argtypes = [ctypes.c_void_p]
_C.cmark_node_free.restype = None
_LIBC_FREE = ctypes.CDLL(None).free  # cmark's default allocator is the C library's
_LIBC_FREE.argtypes = [ctypes.c_void_p]
_LIBC_FREE.restype = None


def _address(pointer: object) -> int:
    return int(_cmark.ffi.cast("uintptr_t", pointer))


_cmark.lib.cmark_gfm_core_extensions_ensure_registered()  # a process-wide registry: once is enough
_EXTENSIONS = [_cmark.lib.cmark_find_syntax_extension(name.encode()) for name in _GFM_EXTENSIONS]


def _gfm_to_html(markdown: str) -> str:
    lib = _cmark.lib
    parser = lib.cmark_parser_new(_CMARK_OPTIONS)
    try:
        for extension in _EXTENSIONS:
            lib.cmark_parser_attach_syntax_extension(parser, extension)
        data = markdown.encode("utf-8")
        lib.cmark_parser_feed(parser, data, len(data))
        root = lib.cmark_parser_finish(parser)
        try:
            html = lib.cmark_render_html(root, _CMARK_OPTIONS, lib.cmark_parser_get_syntax_extensions(parser))
            try:
                return _cmark.ffi.string(html).decode("utf-8")
            finally:
                _LIBC_FREE(_address(html))
        finally:
            _C.cmark_node_free(_address(root))
    finally:
        lib.cmark_parser_free(parser)


class MarkdownRefused(ValueError):
    """The description would cost more than its size allows; the message names the limit."""


def _line_nesting(limit: int) -> re.Pattern[str]:
    # ``limit + 1`` container markers opening one line (``> > >``, ``- - 1.``): a quote or list nested
    # that deep, found before cmark builds it. Possessive quantifiers: a failed match never gives
    # characters back to try again, so the search is linear whatever the line holds.
    return re.compile(rf"(?m)^(?:[ \t]*+(?:>|[-+*][ \t]|\d{{1,9}}+[.)][ \t])){{{limit + 1}}}")


_LINE_NESTING = {DEFAULT_LIMITS.nesting: _line_nesting(DEFAULT_LIMITS.nesting)}
# A GFM delimiter row: only pipes, dashes, colons and blanks (after any quote markers); possessive,
# so a long line that is not one costs one pass. The dash and the pipe are checked after.
_DELIMITER_ROW = re.compile(r"(?m)^[ \t>|:-]*+$")
_BLANK_LINE = re.compile(r"\n[ \t>]*+(?:\n|\Z)")
# Opening and closing tags of cmark's output, void elements left out. cmark escapes every "<" of
# text (and raw HTML is off), so each "<" is a tag.
_TAG = re.compile(r"<(/?)(?!(?:br|hr|img|input)\b)[a-z]")


# What can start an element: a line (a paragraph, a list item, a heading, a quote), an emphasis,
# strikethrough, link or image bracket, a code span, an autolink or an entity (cmark writes each " as
# one). Rendering and sanitising cost per element, so their count bounds the cost of any description.
MARKUP = '\n*_~[`<&"'
AUTOLINKS = ("www.", "://", "@")  # where GFM's autolink extension makes a link of bare text


def markup_count(markdown: str) -> int:
    """Lines, inline markup characters and autolink starts of ``markdown`` (a C-speed count each)."""
    return sum(markdown.count(c) for c in MARKUP) + sum(markdown.count(a) for a in AUTOLINKS)


def _columns(delimiter_row: str) -> int:
    """Cells of a delimiter row (``| --- | :-: |`` has two)."""
    row = delimiter_row.lstrip(" \t>").strip()
    row = row.removeprefix("|").removesuffix("|")
    return row.count("|") + 1


def table_cells(markdown: str) -> int:
    """How many cells cmark-gfm would make of the tables in ``markdown``: every delimiter row's width
    times the lines from it to the next blank line, its table's longest extent (every row is padded to
    the header's width; a table can also end at a heading and a new one start). An upper bound, in
    one pass: line numbers are counted forward, and each run of lines up to a blank one only once."""
    cells = 0
    position = 0
    counted_to = line = 0  # line number at position counted_to
    blank_at = blank_line = -1  # the next blank line found so far, and its line number
    while position <= len(markdown) and (row := _DELIMITER_ROW.search(markdown, position)) is not None:
        text = row.group()
        position = row.end() + 1
        if "|" not in text or "-" not in text:
            continue  # a blank line, a thematic break or a setext underline: not a table
        line += markdown.count("\n", counted_to, row.start())
        counted_to = row.start()
        if blank_at < row.end():
            blank = _BLANK_LINE.search(markdown, row.end())
            blank_at = blank.start() if blank else len(markdown)
            blank_line = line + markdown.count("\n", row.start(), blank_at)
        cells += _columns(text) * (1 + blank_line - line)  # the header, and every line to the blank one
    return cells


def html_depth(html: str, stop_above: int) -> int:
    """The deepest nesting of elements in cmark's ``html`` (stops counting once above ``stop_above``)."""
    depth = deepest = 0
    for piece in pieces(html, 4 * PIECE, after=">"):  # a tag never spans a cut just after a ">"
        for closing in _TAG.findall(piece):
            if closing:
                depth -= 1
            else:
                depth += 1
                if depth > deepest:
                    deepest = depth
                    if deepest > stop_above:
                        return deepest
    return deepest


def check_markdown(markdown: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """``MarkdownRefused`` when ``markdown`` is over a bound that keeps rendering it linear: the elements
    it can make, its table cells, quotes and lists nested on one line. Cheap: run it first."""
    markup = markup_count(markdown)
    if markup > limits.markup:
        raise MarkdownRefused(over("lines and markup characters", markup, limits.markup, "SYNDICATE_MAX_MARKUP"))
    nesting = _LINE_NESTING.get(limits.nesting) or _line_nesting(limits.nesting)
    if nesting.search(markdown):
        raise MarkdownRefused(f"quotes or lists nested more than {limits.nesting} deep (SYNDICATE_MAX_NESTING)")
    cells = table_cells(markdown) if "|" in markdown else 0
    if cells > limits.table_cells:
        raise MarkdownRefused(over("table cells", cells, limits.table_cells, "SYNDICATE_MAX_TABLE_CELLS"))


def render_markdown(markdown: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """GitHub-flavoured Markdown (cmark-gfm, C) to sanitised HTML, or ``MarkdownRefused``.

    Linear in the size of ``markdown``: ``check_markdown`` bounds it before cmark; cmark's output is
    bounded in size and in depth before the sanitiser (whose cost grows with depth, and with the length
    of a text run: long runs are cut by comments it drops), and control characters that entities made
    are taken out of what it returns.
    """
    check_markdown(markdown, limits)
    html = _gfm_to_html(markdown)
    if len(html) > HTML_GROWTH * len(markdown) + 65536:
        raise MarkdownRefused(
            f"renders to {len(html):,} bytes of HTML, more than {HTML_GROWTH} times its own size: "
            "too many links or table cells"
        )
    depth = html_depth(html, limits.nesting)
    if depth > limits.nesting:
        raise MarkdownRefused(f"elements nested more than {limits.nesting} deep (SYNDICATE_MAX_NESTING)")
    clean = sanitize_html(_cut_text_runs(html))
    return strip_controls(clean)[0] if has_controls(clean) else clean


_LEADING_HEADING = re.compile(r"\A\s*<h([12])>(.*?)</h\1>\s*", re.S)
_ANY_TAG = re.compile(r"<[^>]*>")


def _folded(text: str) -> str:
    # NFC: a title typed as 'é' and a heading written 'e' + U+0301 are the same words
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def drop_title_heading(html: str, title: str) -> str:
    """The rendered body without a first ``h1`` or ``h2`` that only repeats the posting's title (compared
    without case, spacing or inline markup), which every output already shows above it; a body that is
    nothing but that heading keeps it (it is then the whole description). A heading with a link keeps
    it: the link is something the title above does not give."""
    found = _LEADING_HEADING.match(html)
    if found is None or "<a" in found.group(2).lower():
        return html
    if _folded(unescape(_ANY_TAG.sub("", found.group(2)))) != _folded(title):
        return html
    rest = html[found.end() :]
    return rest if rest.strip() else html


HTML_GROWTH = 16  # cmark's output is at most ~12 times its input (autolinks); beyond, something is amplified
_LONG_TEXT = re.compile(r"[^<]{4096,}")


def _cut_text_runs(html: str) -> str:
    """Long runs of text with an empty comment every 2 KB or so. The sanitiser's cost grows with the
    square of a text run's length for some characters (U+0080-U+00BF); it drops the comments, so its
    output is the same."""

    def cut(match: re.Match[str]) -> str:
        run, parts, start = match.group(), [], 0
        while start < len(run):
            end = min(len(run), start + 2048)
            amp = run.rfind("&", start + 1, end)
            if end < len(run) and amp > 0 and ";" not in run[amp:end]:
                end = amp  # never inside an entity
            parts.append(run[start:end])
            start = end
        return "<!---->".join(parts)

    return _LONG_TEXT.sub(cut, html) if _LONG_TEXT.search(html) else html
