"""What one posting file may contain, bounded before the expensive steps.

Every step of reading a file is linear in its size only if what it contains is
bounded: PyYAML builds a Python object per value, the sanitiser's cost grows
with the depth of the HTML it walks, and a GFM table pads every row to its
header's width. Each bound is a setting (see ``settings``); a file over one is
left out with the field, the count and the setting that limits it.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass


@dataclass(frozen=True)
class Limits:
    front_matter_bytes: int = 8 * 1024  # PyYAML makes ~1 object per 2 bytes of dense YAML: ~4 us each
    keys: int = 100  # keys of the front matter, nested mappings included
    tags: int = 50
    locations: int = 50  # each of location and applicant_locations
    markup: int = 20_000  # lines and inline markup characters of the description: each may make an element
    nesting: int = 32  # depth of the HTML the description renders to (quotes, lists, emphasis...)
    table_cells: int = 5000  # cells of every table of the description, rows padded to the header's width
    mojibake: int = 2000  # suspect sequences one value may have repaired (more: left as written, warned)

    def cache_text(self) -> str:
        """Part of the parse cache's key: a result depends on the limits it was read under."""
        return ",".join(map(str, astuple(self)))


DEFAULT_LIMITS = Limits()


def over(what: str, count: int, limit: int, setting: str) -> str:
    """The reason a file is left out: ``'60 tags, over the limit of 50 (SYNDICATE_MAX_TAGS)'``."""
    return f"{count:,} {what}, over the limit of {limit:,} ({setting})"
