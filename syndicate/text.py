"""Text handling: mojibake repair, Markdown rendering, HTML sanitising.

Pure functions; no I/O.
"""

from __future__ import annotations

import ctypes
import re

import ftfy
import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options as CmarkOptions

# ftfy, told to undo encoding damage only: its defaults would also straighten
# curly quotes, fold full-width characters, expand ligatures, normalise to NFC
# and unescape HTML entities, none of which is damage.
_REPAIR_ONLY = ftfy.TextFixerConfig(
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

# UTF-8 read as Latin-1 or Windows-1252 always leaves a lead byte (U+00C2..U+00F4)
# followed by a continuation byte (0x80..0xBF, as Latin-1 or as its cp1252 glyph).
# Text without such a pair has no damage of that family, and ftfy (~300 us per
# 4 KB) need not look at it.
_CP1252_CONTINUATION = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_MAYBE_MOJIBAKE = re.compile(f"[\u00c2-\u00f4][{_CP1252_CONTINUATION}]")


def repair_mojibake(text: str) -> str:
    """Undo a wrong-encoding round trip (``Rustâ€™s`` -> ``Rust’s``); leave the rest as written."""
    if text.isascii() or not _MAYBE_MOJIBAKE.search(text):
        return text
    return ftfy.fix_text(text, _REPAIR_ONLY)


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


def render_markdown(markdown: str) -> str:
    """GitHub-flavoured Markdown (cmark-gfm, C) to sanitised HTML."""
    return sanitize_html(_gfm_to_html(markdown))
