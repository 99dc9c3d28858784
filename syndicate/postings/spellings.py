"""How authors may spell the front matter: the known keys, their aliases, and the accepted spellings
of addresses, employment types, salary units and remote work (the schema maps them to the contract's)."""

from __future__ import annotations

from syndicate.model import Remote

KNOWN_KEYS = frozenset(
    {
        "id", "title", "company", "location", "remote", "applicant_locations",
        "employment_type", "salary", "date_posted", "valid_through", "apply_url",
        "direct_apply", "status", "tags", "department", "experience", "education",
    }
)  # fmt: skip
# alias -> the key it stands for (the contract names ``role``; the rest are common spellings)
KEY_ALIASES = {
    "role": "title",
    "locations": "location",
    "employment_types": "employment_type",
    "type": "employment_type",
    "date": "date_posted",
    "expires": "valid_through",
    "apply": "apply_url",
}
ADDRESS_ALIASES = {
    "street_address": "street",
    "locality": "city",
    "state": "region",
    "province": "region",
    "zip": "postal_code",
    "postcode": "postal_code",
    "postalcode": "postal_code",
}
EMPLOYMENT_ALIASES = {
    "FULLTIME": "FULL_TIME",
    "PARTTIME": "PART_TIME",
    "CONTRACT": "CONTRACTOR",
    "FREELANCE": "CONTRACTOR",
    "TEMP": "TEMPORARY",
    "INTERNSHIP": "INTERN",
    "PERDIEM": "PER_DIEM",
}
UNIT_ALIASES = {
    "HOURLY": "HOUR",
    "DAILY": "DAY",
    "WEEKLY": "WEEK",
    "MONTHLY": "MONTH",
    "YEARLY": "YEAR",
    "ANNUAL": "YEAR",
    "ANNUALLY": "YEAR",
    "ANNUM": "YEAR",
}
REMOTE_SPELLINGS = {
    True: Remote.ALLOWED,
    False: Remote.NO,
    "only": Remote.ONLY,
    "fully": Remote.ONLY,
    "full": Remote.ONLY,
    "remote-only": Remote.ONLY,
    "yes": Remote.ALLOWED,
    "true": Remote.ALLOWED,
    "hybrid": Remote.ALLOWED,
    "allowed": Remote.ALLOWED,
    "no": Remote.NO,
    "false": Remote.NO,
    "onsite": Remote.NO,
    "on-site": Remote.NO,
}
