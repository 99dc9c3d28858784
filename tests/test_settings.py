"""Settings: defaults, environment, overrides, and the table in docs/settings.md that documents them."""

from __future__ import annotations

import pytest
from conftest import REPO_ROOT

from syndicate.settings import SETTINGS, SettingsError, load_settings, settings_table


def test_defaults() -> None:
    settings = load_settings(environ={})
    assert settings.postings_dir == REPO_ROOT / "postings"
    assert settings.resolved_database_url == f"sqlite:///{REPO_ROOT / 'instance' / 'syndicate.db'}"
    assert settings.max_posting_bytes == 1024 * 1024
    assert settings.timezone == "UTC"


def test_environment_then_overrides() -> None:
    env = {"SYNDICATE_MAX_POSTING_BYTES": "2048", "SYNDICATE_TIMEZONE": "Europe/Berlin"}
    settings = load_settings(environ=env, overrides={"max_posting_bytes": 10})
    assert settings.max_posting_bytes == 10
    assert settings.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SYNDICATE_MAX_POSTING_BYTES": "-1"}, "SYNDICATE_MAX_POSTING_BYTES: must be a positive integer, got '-1'"),
        ({"SYNDICATE_TIMEZONE": "Mars/Olympus"}, "SYNDICATE_TIMEZONE: unknown IANA time zone 'Mars/Olympus'"),
        ({"SYNDICATE_RELOAD_INTERVAL": "soon"}, "SYNDICATE_RELOAD_INTERVAL: could not convert string to float"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ=env)


def test_database_password_is_not_in_the_repr() -> None:
    settings = load_settings(environ={"DATABASE_URL": "postgresql://app:s3cret@db/jobs"})
    assert "s3cret" not in repr(settings)


def test_every_setting_has_help_and_is_in_the_docs() -> None:
    assert all(s.help and s.env for s in SETTINGS.values())
    page = (REPO_ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert settings_table() in page, (
        "regenerate the table in docs/settings.md: replace it with the output of python -m syndicate.settings"
    )
