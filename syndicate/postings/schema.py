"""The front-matter schema: every key of the contract, its aliases and spellings.

pydantic validates and normalises; ``validate_front_matter`` returns the clean
values or a list of ``FieldProblem`` naming the field and the bad value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syndicate.model import EMPLOYMENT_TYPES, SALARY_UNITS, Remote, Status
from syndicate.postings.spellings import (
    ADDRESS_ALIASES,
    EMPLOYMENT_ALIASES,
    REMOTE_SPELLINGS,
    UNIT_ALIASES,
)

SLUG = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
MAX_ID_LENGTH = 200  # the store's column
SUBDIVISION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}\Z")  # ISO 3166-2, e.g. US-CA
# no pay is a trillion a period; past ~1e28 Babel cannot even format the number (decimal.InvalidOperation)
MAX_AMOUNT = 1e12


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


def _text(value: Any, what: str = "a string") -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be {what}, got {value!r}")
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _absolute_url(value: Any) -> str:
    value = _text(value, "an absolute http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
    return value


_SITE_PATH = re.compile(r"/(?!/)[^\s\\?#]*\Z")


def _absolute_url_or_site_path(value: Any) -> str:
    """A logo: an absolute http(s) URL, or a path on this site ('/static/logos/acme.svg'), which every output
    makes absolute under the site's base URL."""
    value = _text(value, "an absolute http(s) URL or a path on this site")
    if _SITE_PATH.match(value) and ".." not in value.split("/"):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"must be an absolute http(s) URL or a path on this site such as /static/logos/x.svg, got {value!r}"
        )
    return value


def _one_line(value: Any) -> str:
    """A title or company name: one line, since every output shows it as one (a heading, a feed title)."""
    value = _text(value)
    if len(value.splitlines()) > 1:
        raise ValueError(f"must be one line, got {value!r}")
    return value


def _one_or_many(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


Text = Annotated[str, BeforeValidator(_text)]
OneLine = Annotated[str, BeforeValidator(_one_line)]
Url = Annotated[str, BeforeValidator(_absolute_url)]
UrlOrSitePath = Annotated[str, BeforeValidator(_absolute_url_or_site_path)]


class CompanyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: OneLine
    url: Url | None = None
    logo: UrlOrSitePath | None = None


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    street: Text | None = None
    city: Text | None = None
    region: Text | None = None
    postal_code: Text | None = None
    country: Text | None = None
    text: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _spellings(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"text": value}
        if isinstance(value, dict):
            value = {ADDRESS_ALIASES.get(str(k).lower(), k): v for k, v in value.items()}
            if isinstance(value.get("postal_code"), int):
                value["postal_code"] = str(value["postal_code"])
            if not value:
                raise ValueError("an address needs at least one of street, city, region, postal_code, country")
        return value

    @field_validator("country")
    @classmethod
    def _country_code(cls, value: str | None) -> str | None:
        return value.upper() if value and len(value) == 2 else value


class ApplicantLocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    name: Text

    @model_validator(mode="before")
    @classmethod
    def _spellings(cls, value: Any) -> Any:
        if isinstance(value, str):
            name = value.strip()
            kind = "AdministrativeArea" if SUBDIVISION.match(name) else "Country"
            return {"kind": kind, "name": name}
        if isinstance(value, dict) and len(value) == 1:
            ((key, name),) = value.items()
            kinds = {"country": "Country", "region": "AdministrativeArea", "state": "AdministrativeArea"}
            if key in kinds:
                return {"kind": kinds[key], "name": name}
        raise ValueError(f"must be a country or region name, or {{country: X}} / {{region: X}}, got {value!r}")


class SalaryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    currency: str
    per: str
    min: float | None = None
    max: float | None = None
    value: float | None = None

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
            raise ValueError(f"must be an ISO 4217 code such as USD or EUR, got {value!r}")
        return value.strip().upper()

    @field_validator("per", mode="before")
    @classmethod
    def _unit(cls, value: Any) -> str:
        key = str(value).strip().upper()
        unit = UNIT_ALIASES.get(key, key)
        if unit not in SALARY_UNITS:
            raise ValueError(f"must be one of {', '.join(SALARY_UNITS)}, got {value!r}")
        return unit

    @field_validator("min", "max", "value", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        if isinstance(value, bool) or (value is not None and not isinstance(value, int | float)):
            raise ValueError(f"must be a number, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):  # an int is finite (and may be past a float)
            raise ValueError(f"must be a finite number, got {value!r}")
        if value is not None and value < 0:
            raise ValueError(f"must not be negative, got {value!r}")
        if value is not None and value >= MAX_AMOUNT:
            raise ValueError(f"must be less than {MAX_AMOUNT:,.0f}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _shape(self) -> SalaryIn:
        has_range = self.min is not None or self.max is not None
        if self.value is not None and has_range:
            raise ValueError("give either value or min/max, not both")
        if self.value is None and not has_range:
            raise ValueError("needs value, or min and/or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        return self


def _datetime(value: Any, tz: tzinfo, end_of_day: bool) -> datetime:
    """An aware UTC datetime. A value without an offset is read in ``tz``; every result is
    UTC, so a posting is the same object whether parsed now or rebuilt from the cache."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"must be an ISO 8601 date or datetime, got {value!r}") from None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=tz)
    elif isinstance(value, date):
        aware = datetime.combine(value, time(23, 59, 59) if end_of_day else time(0), tzinfo=tz)
    else:
        raise ValueError(f"must be an ISO 8601 date or datetime, got {value!r}")
    try:
        return aware.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, or 9999-12-31 west of it
        raise ValueError(f"must be a date between the years 1 and 9999 in UTC, got {value.isoformat()!r}") from None


class FrontMatter(BaseModel):
    """The validated, normalised keys of one posting file."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    title: OneLine
    company: CompanyIn
    location: list[AddressIn] = []
    remote: Remote = Remote.NO
    applicant_locations: list[ApplicantLocationIn] = []
    employment_type: list[str] = []
    salary: SalaryIn | None = None
    date_posted: datetime | None = None
    valid_through: datetime | None = None
    apply_url: Url | None = None
    direct_apply: StrictBool | None = None
    status: Status = Status.OPEN
    tags: list[Text] = []
    department: Text | None = None
    experience: Text | None = None
    education: Text | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _slug(cls, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not SLUG.match(value):
            raise ValueError(
                f"must be a URL-safe slug (lowercase letters, digits, '-'; "
                f"starting with a letter or digit), got {value!r}"
            )
        if len(value) > MAX_ID_LENGTH:
            raise ValueError(f"must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
        return value

    @field_validator("company", mode="before")
    @classmethod
    def _company(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("location", "applicant_locations", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return [] if value is None else _one_or_many(value)

    @field_validator("remote", mode="before")
    @classmethod
    def _remote(cls, value: Any) -> Remote:
        key = value.strip().lower() if isinstance(value, str) else value
        if (isinstance(key, (bool, str))) and key in REMOTE_SPELLINGS:
            return REMOTE_SPELLINGS[key]
        raise ValueError(f"must be true, false or only, got {value!r}")

    @field_validator("employment_type", mode="before")
    @classmethod
    def _employment(cls, value: Any) -> list[str]:
        result = []
        for item in _one_or_many(value):
            if not isinstance(item, str):
                raise ValueError(f"must be a string or a list of strings, got {item!r}")
            key = re.sub(r"[\s-]+", "_", item.strip()).upper()
            key = EMPLOYMENT_ALIASES.get(key.replace("_", ""), key)
            if key not in EMPLOYMENT_TYPES:
                raise ValueError(f"unknown employment type {item!r}; use one of {', '.join(EMPLOYMENT_TYPES)}")
            if key not in result:
                result.append(key)
        return result

    @field_validator("date_posted", "valid_through", mode="before")
    @classmethod
    def _dates(cls, value: Any, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        tz = (info.context or {}).get("tz")
        return _datetime(value, tz, end_of_day=info.field_name == "valid_through")

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [t for t in value.split(",") if t.strip()]
        if isinstance(value, list):
            # a dict keeps the first of each in order, in linear time (a list's ``in`` was quadratic);
            # what cannot be a key (a mapping) stays for the type check to name
            if not all(isinstance(tag, str | int | float | bool) or tag is None for tag in value):
                return value
            return list(dict.fromkeys(tag.strip().lower() if isinstance(tag, str) else tag for tag in value))
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> FrontMatter:
        if self.valid_through and self.date_posted and self.valid_through < self.date_posted:
            raise ValueError(
                f"valid_through ({self.valid_through.isoformat()}) is before "
                f"date_posted ({self.date_posted.isoformat()})"
            )
        return self


def _field_name(loc: tuple[Any, ...]) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif not str(part).startswith(("function-", "list[", "nullable")):
            name += f".{part}" if name else str(part)
    return name


_TYPE_WORDS = {
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "extra_forbidden": "is not a known key here",
    "datetime_type": "must be a date or datetime",
}


def _message(error: dict[str, Any]) -> tuple[str, str]:
    field = _field_name(error["loc"])
    kind = error["type"]
    if kind == "value_error":
        text = str(error["ctx"]["error"])
        if not field and text.startswith("valid_through"):
            field = "valid_through"
        return field, text
    if kind == "missing":
        return field, "is required"
    if kind == "enum":
        return field, f"must be one of {error['ctx']['expected']}, got {error['input']!r}"
    word = _TYPE_WORDS.get(kind, error["msg"])
    return field, f"{word}, got {error['input']!r}"


def validate_front_matter(data: dict[str, Any], tz: tzinfo) -> FrontMatter | list[FieldProblem]:
    """Clean values, or every problem found, each naming its field."""
    try:
        return FrontMatter.model_validate(data, context={"tz": tz})
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field, message = _message(error)
            problems.append(FieldProblem(field or "front matter", message))
        return problems
