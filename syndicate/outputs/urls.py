"""Absolute URLs of every output, from one base (``SYNDICATE_BASE_URL`` or the request's)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from syndicate.outputs.filters import NO_FILTER, Filter, fold

FEED_PATHS = {
    "rss": "/feed.rss",
    "atom": "/feed.atom",
    "json": "/feed.json",
    "indeed": "/feeds/indeed.xml",
}

_NOT_SLUG = re.compile(r"[\W_]+")
# signs that make a name of their own ('C++' is not 'C', 'C#' neither), spelled out; '&' and the rest
# stay separators ('Rise & Crumb' and 'Rise Crumb' are one company, and the URLs already out stay)
_SPELLED = {"+": "-plus-", "#": "-sharp-"}


def company_slug(name: str) -> str:
    """The company's path segment, never empty: its name as the ``company`` filter compares it (case- and
    width-folded), '+' and '#' spelled out, runs of anything else but letters and digits as one hyphen:
    'Rise & Crumb Bakehouse' -> 'rise-crumb-bakehouse', 'C++ Shop' -> 'c-plus-plus-shop'. A name with
    no letter or digit at all ('???') is 'company-' and the first 8 hex digits of its folded form's
    SHA-256: the same name, the same page, in every process."""
    folded = fold(name)
    spelled = "".join(_SPELLED.get(c, c) for c in folded)
    slug = _NOT_SLUG.sub("-", spelled).strip("-")
    return slug or "company-" + hashlib.sha256(folded.encode()).hexdigest()[:8]


def is_site_path(value: str) -> bool:
    """A path on this site ('/static/logos/x.svg'), as opposed to an absolute URL."""
    return value.startswith("/") and not value.startswith("//")


def site_url(value: str, job_url: str) -> str:
    """``value`` as an absolute URL, for outputs that know only a posting's page URL (``Links.job``):
    a site path is taken from the site's base (a mount prefix kept); an absolute URL stays as it is."""
    if not is_site_path(value):
        return value
    base = job_url.rsplit("/jobs/", 1)[0] if "/jobs/" in urlsplit(job_url).path else job_url.rstrip("/")
    return base + value


@dataclass(frozen=True, slots=True)
class Links:
    """URL builder for one origin; ``base`` has no trailing slash."""

    base: str

    @classmethod
    def from_base(cls, base: str) -> Links:
        return cls(base.rstrip("/"))

    def path(self, path: str, flt: Filter = NO_FILTER, page: int = 1) -> str:
        query = flt.query(page)
        return f"{self.base}{path}?{query}" if query else f"{self.base}{path}"

    @property
    def home(self) -> str:
        return self.base + "/"

    def index(self, flt: Filter = NO_FILTER, page: int = 1) -> str:
        return self.path("/", flt, page)

    def job(self, posting_id: str) -> str:
        return f"{self.base}/jobs/{quote(posting_id)}"

    def company(self, slug: str, page: int = 1) -> str:
        url = f"{self.base}/companies/{quote(slug)}"
        return f"{url}?page={page}" if page > 1 else url

    def asset(self, value: str) -> str:
        """An absolute URL as written; a site path ('/static/logos/x.svg') under this base."""
        return self.base + value if is_site_path(value) else value

    def job_jsonld(self, posting_id: str) -> str:
        return f"{self.base}/jobs/{quote(posting_id)}.jsonld"

    def api_posting(self, posting_id: str) -> str:
        return f"{self.base}/api/postings/{quote(posting_id)}"

    def api_list(self, flt: Filter = NO_FILTER, page: int = 1) -> str:
        return self.path("/api/postings", flt, page)

    def feed(self, fmt: str, flt: Filter = NO_FILTER, page: int = 1) -> str:
        return self.path(FEED_PATHS[fmt], flt, page)

    @property
    def sitemap(self) -> str:
        return f"{self.base}/sitemap.xml"

    @property
    def stylesheet(self) -> str:
        return f"{self.base}/static/style.css"
