"""What follows one webhook attempt, rule by rule: ``decide``, ``retry_after_delay`` and ``classify``.

Every row runs at a fixed ``NOW``. The jitter is pinned with a stub rng whose ``random()``
returns the extremes (0.0, and the largest float below 1.0), and checked with seeded
``random.Random`` instances.
"""

from __future__ import annotations

import random
import socket
import ssl
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from urllib3.exceptions import NameResolutionError

from syndicate.push.delivery import (
    JITTER,
    RETRY_AFTER_CAP,
    Answer,
    Decision,
    Policy,
    classify,
    decide,
    retry_after_delay,
)
from syndicate.settings import load_settings

NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
# SYNDICATE_RETRY_SCHEDULE's default: seconds before attempt 1, 2, ... 10
SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
POLICY = Policy(SCHEDULE, connect_timeout=2.0, total_timeout=10.0)
LAST = len(SCHEDULE)
TOP = 1.0 - 2.0**-53  # the largest float random() can return


class Fixed(random.Random):
    """An rng whose ``random()`` always returns ``value`` (``uniform`` is built on it)."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


LOW, HIGH = Fixed(0.0), Fixed(TOP)


def http(status: int, retry_after: str | None = None) -> Answer:
    return Answer(status, 12.0, None if 200 <= status < 300 else "http", "body", retry_after)


def no_answer(error_class: str) -> Answer:
    return Answer(None, 12.0, error_class, "ConnectionError: ...")


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def date_header(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def test_the_test_schedule_is_the_shipped_default() -> None:
    assert load_settings(environ={}).retry_schedule == SCHEDULE
    assert (0.2, timedelta(hours=24)) == (JITTER, RETRY_AFTER_CAP)


# --- decide: one row per rule --------------------------------------------------------------------

DECIDE_RULES = [
    pytest.param(http(200), 1, LOW, Decision("succeeded", None), id="200 succeeds: nothing is scheduled"),
    pytest.param(http(204), 3, LOW, Decision("succeeded", None), id="204 succeeds"),
    pytest.param(http(299), 1, LOW, Decision("succeeded", None), id="any 2xx succeeds"),
    pytest.param(
        http(200), LAST + 5, LOW, Decision("succeeded", None), id="a success past the schedule still succeeds"
    ),
    pytest.param(
        http(410),
        1,
        LOW,
        Decision("pending", NOW, disable_reason="410 Gone at 2031-05-06T07:08:09+00:00", count=False),
        id="410 disables the board; the delivery waits, due now, the attempt not counted",
    ),
    pytest.param(
        http(410),
        LAST,
        LOW,
        Decision("pending", NOW, disable_reason="410 Gone at 2031-05-06T07:08:09+00:00", count=False),
        id="410 on the last attempt still waits for the board: not failed",
    ),
    pytest.param(http(500), 1, LOW, Decision("pending", at(4)), id="500 retries on the schedule"),
    pytest.param(http(502), 1, LOW, Decision("pending", at(4)), id="502 retries on the schedule"),
    pytest.param(http(400), 1, LOW, Decision("pending", at(4)), id="400 retries on the schedule"),
    pytest.param(http(404), 1, LOW, Decision("pending", at(4)), id="404 retries on the schedule"),
    pytest.param(http(307), 1, LOW, Decision("pending", at(4)), id="a redirect is not followed: retried"),
    pytest.param(no_answer("timeout"), 1, LOW, Decision("pending", at(4)), id="a timeout retries on the schedule"),
    pytest.param(
        no_answer("connect"), 1, LOW, Decision("pending", at(4)), id="a connection error retries on the schedule"
    ),
    pytest.param(no_answer("dns"), 1, LOW, Decision("pending", at(4)), id="a dns error retries on the schedule"),
    pytest.param(no_answer("tls"), 1, LOW, Decision("pending", at(4)), id="a tls error retries on the schedule"),
    pytest.param(http(500), LAST, LOW, Decision("failed", None), id="a failure on the last step gives up: failed"),
    pytest.param(no_answer("timeout"), LAST, LOW, Decision("failed", None), id="a timeout on the last step: failed"),
    pytest.param(http(429, "120"), LAST, LOW, Decision("failed", None), id="Retry-After does not add attempts: failed"),
    pytest.param(
        http(500, "3600"), 1, LOW, Decision("pending", at(4)), id="Retry-After is ignored on statuses but 429 and 503"
    ),
    pytest.param(http(429, "120"), 1, HIGH, Decision("pending", at(120)), id="429 Retry-After in seconds is waited"),
    pytest.param(http(503, "120"), 1, HIGH, Decision("pending", at(120)), id="503 Retry-After in seconds is waited"),
    pytest.param(
        http(429, " 120 "), 1, HIGH, Decision("pending", at(120)), id="Retry-After seconds may have blanks around"
    ),
    pytest.param(
        http(503, date_header(at(600))),
        1,
        HIGH,
        Decision("pending", at(600)),
        id="503 Retry-After as an HTTP date waits until then",
    ),
    pytest.param(
        http(429, "Tue, 06 May 2031 09:18:09 +0200"),
        1,
        HIGH,
        Decision("pending", at(600)),
        id="Retry-After as a date with an offset is read in its zone",
    ),
    pytest.param(
        http(429, "1"), 2, LOW, Decision("pending", at(240)), id="a shorter Retry-After never shortens the schedule"
    ),
    pytest.param(
        http(503, date_header(at(-3600))),
        2,
        LOW,
        Decision("pending", at(240)),
        id="a Retry-After date in the past: the schedule",
    ),
    pytest.param(http(429, "0"), 1, LOW, Decision("pending", at(4)), id="Retry-After 0: the schedule's low bound"),
    pytest.param(http(429, "0"), 1, HIGH, Decision("pending", at(6)), id="Retry-After 0: the schedule's high bound"),
    pytest.param(
        http(429, "99999999"), 1, LOW, Decision("pending", at(86400)), id="Retry-After in seconds is capped at a day"
    ),
    pytest.param(
        http(429, "9" * 30), 1, LOW, Decision("pending", at(86400)), id="a Retry-After of many digits is capped too"
    ),
    pytest.param(
        http(503, date_header(at(3 * 86400))),
        1,
        LOW,
        Decision("pending", at(86400)),
        id="a Retry-After date is capped at a day",
    ),
    pytest.param(
        http(429, "90000"),
        9,
        HIGH,
        Decision("pending", at(86400 * 1.2)),
        id="the cap bounds Retry-After, not the schedule's own step",
    ),
    pytest.param(http(429, "soon"), 1, LOW, Decision("pending", at(4)), id="an unreadable Retry-After: the schedule"),
    pytest.param(http(429, "-5"), 1, LOW, Decision("pending", at(4)), id="a negative Retry-After: the schedule"),
    pytest.param(
        http(429, "Tue, 06 May 2031 09:18:09 -0000"),
        1,
        LOW,
        Decision("pending", at(4)),
        id="a Retry-After date of no known zone (-0000): the schedule",
    ),
    pytest.param(http(429), 1, LOW, Decision("pending", at(4)), id="429 without Retry-After: the schedule"),
]


@pytest.mark.parametrize("answer,attempts_done,rng,expected", DECIDE_RULES)
def test_decide(answer: Answer, attempts_done: int, rng: random.Random, expected: Decision) -> None:
    assert decide(answer, attempts_done, POLICY, NOW, rng) == expected


# --- the schedule: after attempt n the wait is step n, ±20% ---------------------------------------------

STEPS = [
    pytest.param(done, seconds, id=f"after attempt {done} wait {seconds:g} s")
    for done, seconds in [
        (1, 5),
        (2, 300),
        (3, 1800),
        (4, 7200),
        (5, 18000),
        (6, 36000),
        (7, 50400),
        (8, 72000),
        (9, 86400),
    ]
]


@pytest.mark.parametrize("attempts_done,seconds", STEPS)
def test_each_step_waits_its_seconds_within_the_jitter(attempts_done: int, seconds: int) -> None:
    failure = http(503)
    low = decide(failure, attempts_done, POLICY, NOW, LOW)
    high = decide(failure, attempts_done, POLICY, NOW, HIGH)
    assert low == Decision("pending", at(seconds * 0.8)), "the lowest draw waits 80% of the step"
    assert at(seconds * 1.2) - timedelta(milliseconds=1) <= high.next_attempt_at <= at(seconds * 1.2), "and 120%"
    for seed in range(20):
        drawn = decide(failure, attempts_done, POLICY, NOW, random.Random(seed)).next_attempt_at
        assert at(seconds * 0.8) <= drawn <= at(seconds * 1.2)
        expected = seconds * (1 + random.Random(seed).uniform(-0.2, 0.2))  # one uniform draw from the given rng
        assert drawn == at(expected)


def test_the_jitter_spreads_retries() -> None:
    waits = {decide(http(500), 2, POLICY, NOW, random.Random(seed)).next_attempt_at for seed in range(20)}
    assert len(waits) == 20, "twenty seeds, twenty different moments"


@pytest.mark.parametrize("seed", range(5))
def test_retry_after_zero_is_the_next_step_within_its_jitter(seed: int) -> None:
    decision = decide(http(429, "0"), 2, POLICY, NOW, random.Random(seed))
    assert decision.state == "pending" and decision.count
    assert at(300 * 0.8) <= decision.next_attempt_at <= at(300 * 1.2)
    assert decision.next_attempt_at == at(300 * (1 + random.Random(seed).uniform(-0.2, 0.2)))


def test_the_schedule_gives_up_after_its_last_step_whatever_its_length() -> None:
    short = Policy((0.0, 1.0), 2.0, 10.0)
    assert decide(http(500), 1, short, NOW, LOW) == Decision("pending", at(0.8))
    assert decide(http(500), 2, short, NOW, LOW) == Decision("failed", None)


# --- Retry-After on its own ------------------------------------------------------------------------

RETRY_AFTER_RULES = [
    pytest.param(None, None, id="absent"),
    pytest.param("", None, id="empty"),
    pytest.param("120", timedelta(seconds=120), id="seconds"),
    pytest.param("  120\t", timedelta(seconds=120), id="seconds with blanks around"),
    pytest.param("0", timedelta(0), id="zero"),
    pytest.param("86400", timedelta(days=1), id="exactly the cap"),
    pytest.param("86401", timedelta(days=1), id="one second over the cap is the cap"),
    pytest.param("9" * 40, timedelta(days=1), id="forty digits is the cap"),
    pytest.param("-5", None, id="negative is unreadable"),
    pytest.param("1.5", None, id="a fraction is unreadable"),
    pytest.param("soon", None, id="words are unreadable"),
    pytest.param(date_header(at(600)), timedelta(seconds=600), id="an HTTP date ten minutes on"),
    pytest.param("Tue, 06 May 2031 09:18:09 +0200", timedelta(seconds=600), id="a date with an offset"),
    pytest.param(date_header(at(-60)), timedelta(0), id="a date in the past is no wait"),
    pytest.param(date_header(at(2 * 86400)), timedelta(days=1), id="a date two days on is the cap"),
    pytest.param("Tue, 06 May 2031 09:18:09 -0000", None, id="a date without a known zone is unreadable"),
    pytest.param("Tue, 99 Foo 2031 09:18:09 GMT", None, id="a malformed date is unreadable"),
]


@pytest.mark.parametrize("value,expected", RETRY_AFTER_RULES)
def test_retry_after_delay(value: str | None, expected: timedelta | None) -> None:
    assert retry_after_delay(value, NOW) == expected


# --- classify: the error class of an attempt that got no answer ------------------------------------


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def _cycle() -> BaseException:
    one, two = OSError("one"), OSError("two")
    one.__context__, two.__context__ = two, one
    return one


CLASSIFY_RULES = [
    pytest.param(socket.gaierror(-2, "Name or service not known"), "dns", id="a resolver error is dns"),
    pytest.param(NameResolutionError("h", None, socket.gaierror(-2, "x")), "dns", id="urllib3's NameResolutionError"),
    pytest.param(
        requests.ConnectionError(NameResolutionError("h", None, socket.gaierror(-2, "x"))),
        "dns",
        id="dns wrapped as the first argument of requests' error",
    ),
    pytest.param(
        _caused(requests.ConnectionError("failed"), socket.gaierror(-3, "again")),
        "dns",
        id="dns as the cause of requests' error",
    ),
    pytest.param(ssl.SSLError(1, "bad handshake"), "tls", id="ssl's error is tls"),
    pytest.param(requests.exceptions.SSLError("certificate verify failed"), "tls", id="requests' SSLError is tls"),
    pytest.param(requests.Timeout("read timed out"), "timeout", id="requests' Timeout"),
    pytest.param(requests.ConnectTimeout("connect timed out"), "timeout", id="a connect timeout is a timeout"),
    pytest.param(TimeoutError("timed out"), "timeout", id="the builtin TimeoutError"),
    pytest.param(ConnectionRefusedError(111, "refused"), "connect", id="a refused connection is connect"),
    pytest.param(requests.ConnectionError("reset"), "connect", id="anything else before an answer is connect"),
    pytest.param(_cycle(), "connect", id="a cycle of causes ends: connect"),
]


@pytest.mark.parametrize("exc,expected", CLASSIFY_RULES)
def test_classify(exc: BaseException, expected: str) -> None:
    assert classify(exc) == expected
