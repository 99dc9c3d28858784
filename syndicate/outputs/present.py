"""Human-readable text for a posting's fields.

Two wordings: the module functions keep codes as written (``DE``, ``US-CA``,
``EUR 70,000 per year``), for the feeds and the Indeed XML that machines read;
``Words`` names places and writes salaries in the site's language, for the HTML
pages (Babel's CLDR data for countries, numbers and currencies, pycountry's
ISO 3166-2 for regions). Every function returns '' for a field the posting does
not give, so templates never print "None" and nothing is made up.
"""

from __future__ import annotations

import copy
import decimal
import gettext
import re
from collections.abc import Iterable
from datetime import datetime, tzinfo
from functools import cache, cached_property

import pycountry
from babel import Locale
from babel.numbers import get_currency_precision, parse_pattern

from syndicate.model import Address, ApplicantLocation, Posting, Remote, Salary

EMPLOYMENT_WORDS = {
    "FULL_TIME": "Full-time",
    "PART_TIME": "Part-time",
    "CONTRACTOR": "Contract",
    "TEMPORARY": "Temporary",
    "INTERN": "Internship",
    "VOLUNTEER": "Volunteer",
    "PER_DIEM": "Per diem",
    "OTHER": "Other",
}
UNIT_WORDS = {"HOUR": "hour", "DAY": "day", "WEEK": "week", "MONTH": "month", "YEAR": "year"}
REMOTE_WORDS = {Remote.NO: "On site", Remote.ALLOWED: "Remote possible", Remote.ONLY: "Fully remote"}


def address_text(a: Address) -> str:
    if a.text is not None:
        return a.text
    return ", ".join(x for x in (a.street, a.city, a.region, a.postal_code, a.country) if x)


def place_text(a: Address) -> str:
    """A short place name for lists: city, region, country."""
    if a.text is not None:
        return a.text
    return ", ".join(x for x in (a.city, a.region, a.country) if x) or address_text(a)


def locations_text(posting: Posting) -> str:
    """Each place once: two sites in one city read as that city."""
    return "; ".join(dict.fromkeys(place_text(a) for a in posting.locations))


def applicant_locations_text(posting: Posting) -> str:
    return ", ".join(a.name for a in posting.applicant_locations)


def remote_text(posting: Posting) -> str:
    """'Fully remote (DE, AT, CH)', 'Remote possible' or 'On site'."""
    words = REMOTE_WORDS[posting.remote]
    where = applicant_locations_text(posting)
    return f"{words} ({where})" if where and posting.remote is not Remote.NO else words


def where_text(posting: Posting) -> str:
    """One line for a list: places, then how remote."""
    places = locations_text(posting)
    if posting.remote is Remote.NO:
        return places
    return f"{places} · {remote_text(posting)}" if places else remote_text(posting)


def employment_text(posting: Posting) -> str:
    return ", ".join(EMPLOYMENT_WORDS[t] for t in posting.employment_types)


def amount_text(amount: float) -> str:
    """70,000 or 19.5: the amount as written, with thousands separated."""
    return f"{json_number(amount):,}"


def salary_text(salary: Salary | None) -> str:
    """'EUR 70,000–90,000 per year', 'GBP 48,500 per year', 'from USD 20 per hour'."""
    if salary is None:
        return ""
    per = f"per {UNIT_WORDS[salary.unit]}"
    if salary.value is not None:
        return f"{salary.currency} {amount_text(salary.value)} {per}"
    if salary.min is not None and salary.max is not None:
        return f"{salary.currency} {amount_text(salary.min)}–{amount_text(salary.max)} {per}"
    if salary.min is not None:
        return f"from {salary.currency} {amount_text(salary.min)} {per}"
    if salary.max is not None:
        return f"up to {salary.currency} {amount_text(salary.max)} {per}"
    return ""


def date_text(value: datetime | None, tz: tzinfo | None = None) -> str:
    """'27 November 2026' in ``tz`` (the zone the posting files are written in), or ''."""
    if value is None:
        return ""
    local = value.astimezone(tz) if tz else value
    return f"{local.day} {local:%B %Y}"


def iso_text(value: datetime | None) -> str:
    """ISO 8601 in UTC with a 'Z', to the second, as schema.org, sitemaps and JSON Feed want it."""
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z") if value else ""


def json_number(value: float) -> int | float:
    """70000.0 as 70000: amounts read as written."""
    return int(value) if value == int(value) else value


_HEADING = re.compile(r"<(/?)h([1-5])\b")


def page_description(html: str) -> str:
    """The description under the page's own ``h1``: every heading one level down (h6 stays)."""
    return _HEADING.sub(lambda m: f"<{m.group(1)}h{int(m.group(2)) + 1}", html)


# --- the pages' wording, in the site's language -----------------------------------------------

UNIT_PHRASES = {"HOUR": "an hour", "DAY": "a day", "WEEK": "a week", "MONTH": "a month", "YEAR": "a year"}
_COUNTRY = re.compile(r"[A-Z]{2}\Z|[0-9]{3}\Z")  # ISO 3166-1 alpha-2, or a UN M49 area such as 150 (Europe)
_REGION = re.compile(r"(?:([A-Z]{2})-)?([A-Z0-9]{1,3})\Z")  # US-CA, or CA under the address's country
_WORD = re.compile(r"[^\W_]+")
INITIALS_COLOURS = 8  # .initials-0 .. .initials-7 in style.css


class Words:
    """The pages' wording in one language (a BCP 47 tag such as ``en``, ``de``, ``fr-CA``).

    Countries are named from CLDR (``GB`` is "United Kingdom", in German
    "Vereinigtes Königreich"), ISO 3166-2 regions from pycountry, translated
    through its gettext catalogues and else in English (``US-CA`` is
    "California"). A value that is no known code is shown as written.
    """

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = Locale.parse(language, sep="-")

    @cached_property
    def _regions(self) -> gettext.NullTranslations:
        loc = self.locale
        candidates = [str(loc)] + [f"{loc.language}_{part}" for part in (loc.territory, loc.script) if part]
        return gettext.translation(
            "iso3166-2", pycountry.LOCALES_DIR, languages=[*dict.fromkeys([*candidates, loc.language])], fallback=True
        )

    # places

    def country(self, value: str) -> str:
        """'United Kingdom' for GB; anything that is not a known code as written."""
        code = value.strip().upper()
        return self.locale.territories.get(code, value) if _COUNTRY.match(code) else value

    def region_code(self, value: str, country: str | None = None) -> str | None:
        """The ISO 3166-2 code ``value`` names (``US-CA``, or ``CA`` in the US), or None."""
        found = _REGION.match(value.strip().upper())
        if not found:
            return None
        prefix = found.group(1) or (country or "").strip().upper()
        code = f"{prefix}-{found.group(2)}"
        return code if prefix and pycountry.subdivisions.get(code=code) is not None else None

    def region(self, value: str, country: str | None = None) -> str:
        """'California' for US-CA (or CA in the US); anything else as written."""
        code = self.region_code(value, country)
        if code is None:
            return value
        return self._regions.gettext(pycountry.subdivisions.get(code=code).name)

    def _parts(self, a: Address, *, street: bool) -> list[str]:
        region = self.region(a.region, a.country) if a.region else None
        country = self.country(a.country) if a.country else None
        parts = (a.street if street else None, a.city, region, a.postal_code if street else None, country)
        return [x for x in parts if x]

    def address(self, a: Address) -> str:
        """'14 Quayside Road, Bristol, England, BS1 6QA, United Kingdom'; free text as written."""
        return a.text if a.text is not None else ", ".join(self._parts(a, street=True))

    def place(self, a: Address) -> str:
        """A short place name for lists: 'Bristol, England, United Kingdom'."""
        if a.text is not None:
            return a.text
        return ", ".join(self._parts(a, street=False)) or self.address(a)

    def locations(self, posting: Posting) -> str:
        """Each place once: two sites in one city read as that city."""
        return "; ".join(dict.fromkeys(self.place(a) for a in posting.locations))

    def applicant_locations(self, places: Iterable[ApplicantLocation]) -> str:
        """'Germany, Austria, Switzerland'; regions with their country:
        'California, Oregon, United States; British Columbia, Canada'."""
        groups: dict[str, list[str]] = {}  # country (or a name as written) -> its regions, in order
        whole: set[str] = set()
        for place in places:
            code = self.region_code(place.name) if place.kind == "AdministrativeArea" else None
            if code is None:
                groups.setdefault(place.name, [])
                whole.add(place.name)
            else:
                groups.setdefault(code[:2], []).append(self.region(code))
        texts = [
            ", ".join([*(() if key in whole else dict.fromkeys(regions)), self.country(key)])
            for key, regions in groups.items()
        ]
        with_regions = any(regions and key not in whole for key, regions in groups.items())
        return ("; " if with_regions else ", ").join(texts)

    def remote(self, posting: Posting) -> str:
        """'Fully remote (Germany, Austria, Switzerland)', 'Remote possible' or 'On site'."""
        words = REMOTE_WORDS[posting.remote]
        where = self.applicant_locations(posting.applicant_locations)
        return f"{words} ({where})" if where and posting.remote is not Remote.NO else words

    def where(self, posting: Posting) -> str:
        """One line for a list: places, then how remote."""
        places = self.locations(posting)
        if posting.remote is Remote.NO:
            return places
        return f"{places} · {self.remote(posting)}" if places else self.remote(posting)

    # money

    def money(self, amounts: tuple[float, ...], currency: str) -> str:
        """'€70,000', '$19.50–22.00', '70.000–90.000 €': the currency's own decimals (none for JPY), and
        none at all when every amount is whole; a range names its currency once, an en dash between.

        Never raises: an amount Babel cannot format (past ~1e28 its decimal context gives up) is written
        as the feeds write it, 'USD 1e+30', so that no page answers 500 for one posting's salary."""
        try:
            return self._money(amounts, currency)
        except (decimal.InvalidOperation, ValueError, OverflowError):
            return f"{currency} {'–'.join(amount_text(a) for a in amounts)}"

    def _money(self, amounts: tuple[float, ...], currency: str) -> str:
        digits = get_currency_precision(currency)
        if all(a == int(a) for a in amounts):
            digits = 0
        pattern = copy.copy(parse_pattern(self.locale.currency_formats["standard"].pattern))
        pattern.frac_prec = (digits, digits)
        number = copy.copy(pattern)
        number.prefix, number.suffix = ("", "-"), ("", "")

        def whole(value: float) -> str:
            return pattern.apply(value, self.locale, currency=currency, currency_digits=False)

        def bare(value: float) -> str:
            return number.apply(value, self.locale, currency=currency, currency_digits=False)

        if len(amounts) == 1:
            return whole(amounts[0])
        low, high = amounts
        before, found, after = whole(high).partition(bare(high))
        if not found:  # a pattern that writes the number in pieces: both ends in full
            return f"{whole(low)} – {whole(high)}"
        return f"{before}{bare(low)}–{bare(high)}{after}"

    def salary(self, salary: Salary | None) -> str:
        """'€70,000–90,000 a year', '£48,500 a year', 'from $20.50 an hour', 'up to ¥9,000,000 a year'."""
        if salary is None:
            return ""
        per = UNIT_PHRASES[salary.unit]
        if salary.value is not None:
            return f"{self.money((salary.value,), salary.currency)} {per}"
        if salary.min is not None and salary.max is not None:
            if salary.min == salary.max:
                return f"{self.money((salary.min,), salary.currency)} {per}"
            return f"{self.money((salary.min, salary.max), salary.currency)} {per}"
        if salary.min is not None:
            return f"from {self.money((salary.min,), salary.currency)} {per}"
        if salary.max is not None:
            return f"up to {self.money((salary.max,), salary.currency)} {per}"
        return ""


@cache
def words(language: str) -> Words:
    """The wording of one language, made once per process (languages are few: one per site)."""
    return Words(language)


def initials(name: str) -> str:
    """What stands in for a logo: 'VG' for Verdant Grid, 'RF' for RustFoundation, 'L' for Ledgerly."""
    found = _WORD.findall(name)
    if not found:
        return name.strip()[:1].upper()
    if len(found) == 1:
        word = found[0]
        capitals = [c for c in word[1:] if c.isupper()]
        return (word[0] + (capitals[0] if capitals else "")).upper()
    return (found[0][0] + found[1][0]).upper()


def initials_colour(name: str) -> int:
    """A stable colour number for a company's initials (the same name, the same colour, in every process)."""
    return sum(name.encode()) % INITIALS_COLOURS
