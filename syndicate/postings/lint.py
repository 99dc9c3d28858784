"""Lint: what is wrong with each posting, for its author.

Errors keep a posting out of every output; warnings name what an aggregator
(Google for Jobs first) will complain about. Pure functions over read results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from syndicate.model import Posting, Remote, Status
from syndicate.postings.reader import ERROR, WARNING, Problem, ReadResult
from syndicate.postings.snapshot import EMPTY, resolve_duplicates


def _warn(posting: Posting, field: str, message: str) -> Problem:
    return Problem(posting.source, posting.id, WARNING, field, message)


def posting_warnings(posting: Posting, now: datetime) -> list[Problem]:
    """Google for Jobs properties this posting cannot produce, and other advice."""
    found: list[Problem] = []
    if posting.is_expired_at(now):
        found.append(
            _warn(posting, "valid_through", f"already past ({posting.valid_through.isoformat()}): expired, not served")
        )
    if posting.status is not Status.OPEN:
        return found  # not published: aggregator advice does not apply
    if not posting.locations and posting.remote is not Remote.ONLY:
        found.append(
            _warn(posting, "location", "Google for Jobs requires jobLocation: give a location, or set remote: only")
        )
    for i, address in enumerate(posting.locations):
        if not address.is_structured:
            found.append(
                _warn(
                    posting,
                    f"location[{i}]",
                    f"{address.text!r} is free text; Google for Jobs wants a structured address "
                    "(city, region, country)",
                )
            )
        elif not address.country:
            found.append(_warn(posting, f"location[{i}].country", "missing; Google for Jobs wants addressCountry"))
    if posting.remote is Remote.ONLY and not posting.applicant_locations:
        found.append(
            _warn(
                posting,
                "applicant_locations",
                "a fully remote job needs applicant_locations (countries or regions) for Google for Jobs",
            )
        )
    if posting.salary is None:
        found.append(_warn(posting, "salary", "missing; Google for Jobs recommends baseSalary"))
    if not posting.employment_types:
        found.append(_warn(posting, "employment_type", "missing; Google for Jobs recommends employmentType"))
    if posting.valid_through is None:
        found.append(_warn(posting, "valid_through", "missing; Google for Jobs recommends validThrough"))
    if not posting.date_posted_given:
        found.append(
            _warn(
                posting,
                "date_posted",
                "missing; the posting is dated when the server first sees the file (each new database, "
                "each fresh clone of the folder sees it anew): give the date the job was posted",
            )
        )
    return found


def lint(results: Mapping[str, ReadResult], now: datetime) -> list[Problem]:
    """Every problem of a folder's read results, in file order."""
    winners, duplicates = resolve_duplicates(results, EMPTY)
    served = {p.source for p in winners.values()}
    problems: list[Problem] = []
    for source in sorted(results):
        problems.extend(results[source].problems)
        posting = results[source].posting
        if posting is not None and source in served:
            problems.extend(posting_warnings(posting, now))
    problems.extend(p for pid in sorted(duplicates) for p in duplicates[pid])
    return sorted(problems, key=lambda p: (p.file, p.level != ERROR))


def counts(problems: Iterable[Problem]) -> tuple[int, int]:
    problems = list(problems)
    return sum(p.level == ERROR for p in problems), sum(p.level == WARNING for p in problems)
