"""What the logs say about broken files: one line per file and change, in one process, never forged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import migrate, posting_text, write
from processes import Web, service_env, wait_for

from syndicate.logs import configure_logging, safe


def test_control_characters_in_a_message_are_escaped(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging()
    caplog.set_level(logging.INFO)
    logging.getLogger("syndicate.test").warning("posting %s: broken", "a\n2026-12-02 ERROR forged\x1b[2J.md")
    [line] = caplog.text.splitlines()
    assert line.endswith("posting a\\n2026-12-02 ERROR forged\\x1b[2J.md: broken")
    assert safe("tab\there\u2028") == "tab\\there\\u2028"


@pytest.mark.slow
def test_a_broken_file_is_logged_once_per_change_by_one_process(
    tmp_path: Path, postings_dir: Path, database_url: str
) -> None:
    write(postings_dir, "good.md", posting_text("good"))
    migrate(database_url)
    env = service_env(tmp_path, postings_dir, database_url, SYNDICATE_RELOAD_INTERVAL="0.1")
    web = Web(env, tmp_path / "web.log", workers=3)
    try:
        unknown = "\n".join(f"extra_{i}: 1" for i in range(60))
        write(postings_dir, "broken.md", f"---\ntitle: T\ncompany: C\n{unknown}\nemployment_type: sometimes\n---\nB\n")
        forged = "forged\n2026-12-02 00:00:00 ERROR syndicate: all is lost.md"
        write(postings_dir, forged, posting_text())  # a name that is not printable: refused, and reported
        assert wait_for(lambda: web.all_healthy(lambda body: body["postings"]["rejected_files"] == 2), 20)
        write(postings_dir, "broken.md", "---\ntitle: [\n---\n")  # changed, and broken another way
        assert wait_for(lambda: "invalid YAML" in web.output(), 10), web.output()
        wait_for(lambda: False, 1)  # the other workers have had time to log it too, if they were going to
    finally:
        web.stop()
    output = web.output().splitlines()
    broken = [line for line in output if "broken.md" in line]
    assert len(broken) == 2, "one line per change of the file, by one of the three workers:\n" + "\n".join(broken)
    assert "employment_type: error: unknown employment type 'sometimes'" in broken[0]
    assert "warning: 60 unknown keys: extra_0, extra_1" in broken[0] and broken[0].count("unknown key") == 1
    named = [line for line in output if "forged" in line]
    assert len(named) == 1, "\n".join(named)
    assert "posting forged\\n2026-12-02 00:00:00 ERROR syndicate: all is lost.md: file: error" in named[0]
    assert not any(line.startswith("2026-12-02 00:00:00 ERROR") for line in output), "no line was forged"
