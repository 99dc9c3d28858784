"""Absolute URLs of every output, from one base (``SYNDICATE_BASE_URL`` or the request's)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from syndicate.outputs.filters import NO_FILTER, Filter

FEED_PATHS = {
    "rss": "/feed.rss",
    "atom": "/feed.atom",
    "json": "/feed.json",
    "indeed": "/feeds/indeed.xml",
}


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
