"""The documentation stays true to the repository: its links resolve, nothing points outside it,
the README stays a front door, and every bench's table has its place in docs/benchmarks.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from bench import tables
from syndicate.settings import settings_table

README = REPO_ROOT / "README.md"
PAGES = [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HTML_LINK = re.compile(r"\b(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.I)
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.I)
# one machine's absolute paths, anywhere in the text (code blocks included); URL paths such as /jobs/x are fine
MACHINE_PATH = re.compile(
    r"(?<![\w.:/-])(?:/(?:home|work|tmp|Users|root|var|opt|etc|usr|srv|mnt|private|Volumes)/|~/|[A-Za-z]:\\)"
)
PARENT = re.compile(r"(?<![\w.])((?:\.\./)+)\S*")


def prose(text: str) -> str:
    """The text without code blocks and code spans, where link syntax is not a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def links(text: str) -> list[str]:
    body = prose(text)
    return [m.group(1) for pattern in (INLINE_LINK, REFERENCE, HTML_LINK) for m in pattern.finditer(body)]


def anchors(path: Path) -> set[str]:
    """The heading anchors of a Markdown page, as GitHub makes them."""
    seen: dict[str, int] = {}
    result = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def name(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_relative_links_point_at_files_in_the_repository(page: Path) -> None:
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if SCHEME.match(target):
            if target.lower().startswith("file:"):
                problems.append(f"{target}: a file URL of one machine")
            continue  # http(s) and mailto: not files of the repository
        location, _, fragment = target.partition("#")
        if location.startswith("/"):
            problems.append(f"{target}: an absolute path; link relative to {name(page)}")
            continue
        resolved = (page.parent / location).resolve() if location else page
        if not resolved.is_relative_to(REPO_ROOT):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file in the repository")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            problems.append(f"{target}: no heading '#{fragment}' in {name(resolved)}")
    assert not problems, f"{name(page)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_nothing_points_outside_the_repository(page: Path) -> None:
    """No path of one machine and no ``../`` that leaves the repository, in links, code or prose."""
    problems = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if MACHINE_PATH.search(line):
            problems.append(f"line {number}: an absolute path of one machine: {line.strip()}")
        for match in PARENT.finditer(line):
            if not (page.parent / match.group(0)).resolve().is_relative_to(REPO_ROOT):
                problems.append(f"line {number}: {match.group(0)} leaves the repository")
    assert not problems, f"{name(page)}:\n" + "\n".join(problems)


def test_the_readme_is_a_front_door() -> None:
    text = README.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"
    assert settings_table() not in text, "the full settings table belongs in docs/settings.md, not the README"


def test_every_bench_table_has_its_markers() -> None:
    """Each ``recording(NAME)`` of a bench has its markers in docs/benchmarks.md, and writing the same
    table again changes nothing (checked on the text: the page itself is never written here)."""
    source = "".join(p.read_text(encoding="utf-8") for p in sorted((REPO_ROOT / "bench").glob("*.py")))
    names = sorted(set(re.findall(r"\brecording\(\"([\w-]+)\"", source)))
    assert names, "no bench records a table"
    page = tables.DOCS.read_text(encoding="utf-8")
    for bench in names:
        start, end = tables.markers(bench)
        assert page.count(start) == 1 and page.count(end) == 1, f"docs/benchmarks.md needs one {start} ... {end}"
        shown = page.split(start, 1)[1].split(end, 1)[0]
        assert tables.replace_section(page, bench, shown) == page
        assert tables.replace_section(page, bench, "| new |").count("| new |") == 1


def test_replace_section_keeps_the_prose_around_the_markers() -> None:
    text = "intro\n\n<!-- bench-x -->\nold table\n<!-- /bench-x -->\n\nafter\n"
    assert tables.replace_section(text, "x", "\nnew table\n\n") == (
        "intro\n\n<!-- bench-x -->\nnew table\n<!-- /bench-x -->\n\nafter\n"
    )
    with pytest.raises(ValueError, match="bench-y"):
        tables.replace_section(text, "y", "table")
