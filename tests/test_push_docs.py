"""docs/push.md stays true to what the worker sends: its receiver snippet, run as written, handles a real
``ping`` and real posting events; its ``ping`` example has the headers and the body a real ping has."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT, posting_text, write
from processes import run_cli, service_env
from standardwebhooks.webhooks import WebhookVerificationError

from bench.sink import DEMO_SECRET, Sink

PAGE = REPO_ROOT / "docs" / "push.md"
SITE = "http://127.0.0.1:5000"  # the demo's, which the page's examples show
TRANSPORT = {"host", "accept", "accept-encoding", "connection", "content-length"}  # what the examples leave out


def section(heading: str) -> str:
    """The text of docs/push.md under ``heading``, up to the next heading of its level or above."""
    text = PAGE.read_text(encoding="utf-8")
    assert f"\n{heading}\n" in text, f"docs/push.md has no heading {heading!r}"
    level = len(heading.split(" ", 1)[0])
    lines, fenced = [], False
    for line in text.split(f"\n{heading}\n", 1)[1].splitlines(keepends=True):
        fenced ^= line.startswith("```")
        if not fenced and re.match(rf"#{{1,{level}}} ", line):
            break
        lines.append(line)
    return "".join(lines)


def block(heading: str, language: str, nth: int = 0) -> str:
    """The ``nth`` ``language`` code block under ``heading`` in docs/push.md."""
    found = re.findall(rf"^```{language}\n(.*?)^```", section(heading), re.M | re.S)
    assert len(found) > nth, f"no {language} block {nth} under {heading!r}"
    return found[nth]


def documented_request(heading: str, nth: int = 0) -> tuple[str, dict[str, str], str]:
    """The request line, the headers (lower-case names) and the body of an ``http`` example."""
    head, _, body = block(heading, "http", nth).partition("\n\n")
    request, *lines = head.splitlines()
    return request, {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}, body


def shown_and_sent_headers_agree(
    shown: dict[str, str], sent: dict[str, str], site: str, sent_site: str, varying: tuple[str, ...] = ()
) -> None:
    """The example shows every header a real request has (but transport ones), with the same values
    but for the version in the User-Agent, the site's address and the ``varying`` ones."""
    real = {name.lower(): value for name, value in sent.items() if name.lower() not in TRANSPORT}
    assert sorted(shown) == sorted(real)
    version = r"syndicate/[0-9][\w.+-]* "
    assert re.fullmatch(version + re.escape(f"(+{site})"), shown["user-agent"]), shown["user-agent"]
    assert re.sub(version, "", real["user-agent"]) == f"(+{sent_site})"
    for name in set(shown) - {"user-agent", "authorization", *varying}:
        assert shown[name] == real[name], name


@pytest.fixture
def received(tmp_path: Path, postings_dir: Path, database_url: str, sink: Sink) -> list[dict[str, Any]]:
    """What a board received from real CLI runs: posting.created v1, posting.updated v2, then a ping."""
    boards = tmp_path / "boards.toml"
    boards.write_text(
        f'[[boards]]\nname = "demo-board"\nurl = "{sink.url}"\nsecret = "{DEMO_SECRET}"\n', encoding="utf-8"
    )
    env = service_env(tmp_path, postings_dir, database_url, SYNDICATE_BOARDS=str(boards), SYNDICATE_BASE_URL=SITE)
    assert run_cli(env, "migrate").returncode == 0
    write(postings_dir, "a.md", posting_text("a"))
    assert run_cli(env, "push").returncode == 0
    write(postings_dir, "a.md", posting_text("a", title="Backend Engineer, edited"))
    assert run_cli(env, "push").returncode == 0
    pinged = run_cli(env, "boards", "ping", "demo-board")
    assert pinged.returncode == 0, pinged.stderr
    assert [(e["payload"]["type"], e["payload"]["data"].get("version")) for e in sink.events] == [
        ("posting.created", 1),
        ("posting.updated", 2),
        ("ping", None),
    ]
    return list(sink.events)


def documented_receiver() -> Any:
    """``receive`` from the page's snippet, executed as written; only the placeholder secret is filled in."""
    code = block("## Receiving it", "python")
    assert code.count('"whsec_..."') == 1
    namespace: dict[str, Any] = {}
    exec(compile(code.replace('"whsec_..."', repr(DEMO_SECRET)), str(PAGE), "exec"), namespace)
    return namespace["receive"]


def test_the_documented_receiver_handles_a_ping_and_drops_what_is_stale(received: list[dict[str, Any]]) -> None:
    receive = documented_receiver()
    created, updated, ping = ((e["body"], e["headers"]) for e in received)
    assert receive(*ping) is None, "a ping is answered, and carries nothing to do"
    assert receive(*created)["type"] == "posting.created"
    assert receive(*updated)["data"]["posting"]["title"] == "Backend Engineer, edited"
    assert receive(*created) is None, "an older version arriving late is dropped"
    assert receive(*updated) is None, "so is one already handled (a retry: the same webhook-id)"
    with pytest.raises(WebhookVerificationError):
        receive(ping[0].replace(b"demo-board", b"other-board"), ping[1])


def test_the_documented_ping_is_what_a_board_receives(received: list[dict[str, Any]]) -> None:
    request, shown, body = documented_request("### The `ping` event")
    assert request == "POST /hooks/jobs HTTP/1.1"
    ping = received[-1]
    signed = ("webhook-id", "webhook-timestamp", "webhook-signature")  # each request's own
    shown_and_sent_headers_agree(shown, ping["headers"], SITE, SITE, varying=signed)
    assert re.fullmatch(r"msg_[0-9a-f]{32}", shown["webhook-id"]) and shown["webhook-timestamp"].isdigit()
    assert shown["webhook-signature"].startswith("v1,")
    documented, sent = json.loads(body), json.loads(ping["body"])
    assert {**documented, "timestamp": sent["timestamp"]} == sent, "the same body, but for the time it was sent"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", documented["timestamp"])
