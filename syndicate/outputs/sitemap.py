"""``/sitemap.xml`` (the index and every open posting, with ``lastmod``) and ``/robots.txt``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from xml.sax.saxutils import escape

from syndicate.outputs.present import iso_text

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
MAX_URLS = 50_000  # the sitemap protocol's limit per file


def render_sitemap(urls: Iterable[tuple[str, datetime | None]]) -> bytes:
    """``urls`` are (absolute URL, last change) pairs; at most ``MAX_URLS`` are written."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<urlset xmlns="{SITEMAP_NS}">']
    for count, (url, lastmod) in enumerate(urls):
        if count == MAX_URLS:
            break
        modified = f"<lastmod>{iso_text(lastmod)}</lastmod>" if lastmod else ""
        lines.append(f"<url><loc>{escape(url)}</loc>{modified}</url>")
    lines.append("</urlset>\n")
    return "\n".join(lines).encode()


def render_robots(sitemap_url: str) -> bytes:
    rules = [
        "User-agent: *",
        "Allow: /",
        "Disallow: /api/",
        "Disallow: /metrics",
        "Disallow: /healthz",
        "Disallow: /readyz",
    ]
    return "\n".join([*rules, "", f"Sitemap: {sitemap_url}", ""]).encode()
