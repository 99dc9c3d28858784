"""The WSGI app the server benchmarks run: the real app plus reference routes in the same server.

    gunicorn --workers 2 --bind 127.0.0.1:PORT bench.serve_app:app

Settings come from the environment as for ``app.py`` (``SYNDICATE_POSTINGS_DIR``,
``SYNDICATE_INSTANCE_DIR``, ``SYNDICATE_BASE_URL``). At import, every measured
path is fetched once through ``app.test_client()``, and its exact response
(bytes and headers) is kept in a variable. Added routes:

- ``/_bench/trivial``: ``ok`` (like any route of the app that is not served from
  the render cache, it passes through the app's conditional fallback);
- ``/_bench/ceiling/<name>``: the kept response of the measured path ``name``,
  returned as is (the ceiling for that payload: no lookup, no render);
- ``/_bench/pid``: the worker's process id (how the driver knows every worker has loaded);
- ``/_bench/paths``: JSON ``{name: path}`` of the measured paths, and the
  ETag of each kept response, so the driver asks for the same things.
"""

from __future__ import annotations

import os

from flask import Response, jsonify

from syndicate.web.app import create_app

app = create_app()

# headers a cached answer carries; the ceiling sends the same ones (an ETag also keeps
# the app's conditional fallback from hashing the body, which the real route does not do)
KEPT_HEADERS = ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Vary", "Link", "Content-Encoding")


def _measured_paths() -> dict[str, str]:
    with app.test_client() as client:
        listed = client.get("/api/postings").get_json()["postings"]
    paths = {
        "rss": "/feed.rss",
        "atom": "/feed.atom",
        "json": "/feed.json",
        "indeed": "/feeds/indeed.xml",
        "sitemap": "/sitemap.xml",
        "api": "/api/postings",
        "index": "/",
    }
    if listed:  # the newest open posting
        paths["job"] = f"/jobs/{listed[0]['id']}"
        paths["jsonld"] = f"/jobs/{listed[0]['id']}.jsonld"
    return paths


def _keep(path: str, gzip: bool) -> tuple[bytes, list[tuple[str, str]]]:
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    with app.test_client() as client:
        response = client.get(path, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code}")
    if gzip and response.headers.get("Content-Encoding") != "gzip":
        raise RuntimeError(f"{path}: not gzipped")
    kept = [(name, response.headers[name]) for name in KEPT_HEADERS if name in response.headers]
    return response.get_data(), kept


@app.get("/_bench/trivial")
def bench_trivial() -> Response:
    return Response("ok", content_type="text/plain; charset=utf-8")


@app.get("/_bench/ceiling/<name>")
def bench_ceiling(name: str) -> Response:
    body, headers = CEILINGS[name]
    return Response(body, headers=headers)


@app.get("/_bench/pid")
def bench_pid() -> Response:
    return Response(str(os.getpid()), content_type="text/plain; charset=utf-8")


@app.get("/_bench/paths")
def bench_paths() -> Response:
    return jsonify(
        {
            "paths": PATHS,
            "etags": {name: dict(headers).get("ETag") for name, (_, headers) in CEILINGS.items()},
            "sizes": {name: len(body) for name, (body, _) in CEILINGS.items()},
        }
    )


# after the routes: Flask takes no new route once it has answered a request
PATHS = _measured_paths()
CEILINGS: dict[str, tuple[bytes, list[tuple[str, str]]]] = {name: _keep(path, False) for name, path in PATHS.items()}
for _name in ("atom", "indeed"):
    CEILINGS[f"{_name}.gz"] = _keep(PATHS[_name], True)
