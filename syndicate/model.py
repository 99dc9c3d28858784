"""The one model object that crosses the pipeline: a frozen ``Posting``.

Built once by the reader (from a file) or from its parse-cache record (``syndicate.postings.record``,
derived from these fields); nothing downstream re-reads YAML or re-renders Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

EMPLOYMENT_TYPES = (
    "FULL_TIME",
    "PART_TIME",
    "CONTRACTOR",
    "TEMPORARY",
    "INTERN",
    "VOLUNTEER",
    "PER_DIEM",
    "OTHER",
)
SALARY_UNITS = ("HOUR", "DAY", "WEEK", "MONTH", "YEAR")


class Remote(StrEnum):
    """Where the work happens: on site only, telecommute allowed, or fully remote."""

    NO = "no"
    ALLOWED = "allowed"
    ONLY = "only"


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    DRAFT = "draft"


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    url: str | None = None
    logo: str | None = None


@dataclass(frozen=True, slots=True)
class Address:
    """A place of work; ``text`` holds a location written as free text."""

    street: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    text: str | None = None

    @property
    def is_structured(self) -> bool:
        return self.text is None


@dataclass(frozen=True, slots=True)
class ApplicantLocation:
    """Where a remote applicant may live: schema.org ``Country`` or ``AdministrativeArea``."""

    kind: str  # "Country" | "AdministrativeArea"
    name: str


@dataclass(frozen=True, slots=True)
class Salary:
    currency: str
    unit: str  # one of SALARY_UNITS
    min: float | None = None
    max: float | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Posting:
    """One job posting, normalised and validated.

    ``date_posted`` and ``updated`` are resolved against the store by the
    loader: a file without ``date_posted`` gets the time it was first seen,
    and ``updated`` is the time its content last changed.
    """

    id: str
    source: str  # the file, relative to the postings folder
    title: str
    company: Company
    description_html: str
    content_hash: str
    locations: tuple[Address, ...] = ()
    remote: Remote = Remote.NO
    applicant_locations: tuple[ApplicantLocation, ...] = ()
    employment_types: tuple[str, ...] = ()
    salary: Salary | None = None
    date_posted: datetime | None = None
    valid_through: datetime | None = None
    updated: datetime | None = None
    status: Status = Status.OPEN
    tags: tuple[str, ...] = ()
    apply_url: str | None = None
    direct_apply: bool | None = None
    department: str | None = None
    experience: str | None = None
    education: str | None = None
    extra: tuple[tuple[str, Any], ...] = field(default=())
    date_posted_given: bool = False

    @property
    def slug(self) -> str:
        """The URL path segment of this posting (``/jobs/<slug>``)."""
        return self.id

    def is_expired_at(self, now: datetime) -> bool:
        return self.valid_through is not None and now > self.valid_through

    def is_open_at(self, now: datetime) -> bool:
        """Open postings are the ones every output lists at ``now``."""
        return self.status is Status.OPEN and not self.is_expired_at(now)

    @property
    def is_dated(self) -> bool:
        return self.updated is not None

    def set_dates(self, date_posted: datetime, updated: datetime) -> None:
        """Fill in the store's dates: once, by the loader, before any snapshot publishes it.

        A frozen object is assigned here the way ``__post_init__`` would, because
        copying every posting of a 10,000-posting load with ``replace`` costs a
        fifth of a warm start.
        """
        if self.is_dated:
            raise AttributeError(f"posting {self.id!r} already has its dates")
        object.__setattr__(self, "date_posted", date_posted)
        object.__setattr__(self, "updated", updated)
