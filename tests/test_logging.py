"""Logging: with every logger at DEBUG for this whole module, real traffic against the
emulator over loopback (successes, 5xx retries, a 423 lock, error statuses, connection
failures) writes one DEBUG line per attempt and INFO lines for the lock gate, and no
record anywhere (ours, httpx's, httpcore's, uvicorn's) holds the token or the
``Authorization`` header.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator

import pytest

from smartsender_async import (
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    RateLimit,
    RetryPolicy,
    SmartSender,
    UnprocessableEntityError,
)
from smartsender_async.models.common import ResponseInfo
from smartsender_async.retry import RequestEvent
from smartsender_async.testing import Emulator, Faults

pytest.importorskip("uvicorn")

TOKEN = "sk-live-LOGGING-7f3a91c0d2"
WRONG_TOKEN = "sk-live-WRONG-0b4e22aa91"
#: Nothing in any log record may contain these (case-insensitive).
FORBIDDEN = (TOKEN, WRONG_TOKEN, "authorization", "bearer")
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.01)
#: A limiter that never holds a request back, so only the lock gate makes anyone wait.
NO_PACING = RateLimit(1000, 1.0, burst=1000, margin=0.0)

#: The DEBUG line of one attempt: method, path, status (or error), elapsed, retry, wait.
ATTEMPT = re.compile(
    r"^(?P<method>[A-Z]+) (?P<path>/\S*) -> (?P<outcome>\d{3}|[A-Za-z]+) "
    r"in (?P<elapsed>\d+\.\d) ms \(retry (?P<retry>\d+), rate-limit wait (?P<wait>\d+\.\d{3}) s\)$"
)


def _record_text(record: logging.LogRecord) -> str:
    formatted = logging.Formatter("%(name)s %(levelname)s %(message)s").format(record)
    return "\n".join((formatted, str(record.msg), repr(record.args), record.exc_text or ""))


@pytest.fixture(autouse=True)
def debug_logging_everywhere(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger at DEBUG (the root level) for every test of this module; afterwards,
    no record captured in any phase may contain a secret."""
    caplog.set_level(logging.DEBUG)
    assert logging.getLogger("smartsender_async").isEnabledFor(logging.DEBUG)
    yield
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]
    assert records
    for record in records:
        text = _record_text(record).lower()
        for secret in FORBIDDEN:
            assert secret.lower() not in text, f"{secret!r} in log record: {text}"


def attempts(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    """The parsed DEBUG attempt lines of logger ``smartsender_async``."""
    found = []
    for record in caplog.records:
        if record.name == "smartsender_async" and record.levelno == logging.DEBUG:
            match = ATTEMPT.match(record.getMessage())
            if match:
                found.append(match.groupdict())
    return found


def info_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "smartsender_async" and r.levelno == logging.INFO
    ]


async def test_one_debug_line_per_attempt_with_retries_and_response_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = Emulator(seed=1, chats=5, token=TOKEN, rate_limit=None)
    emulator.faults = Faults(error_rate=1.0, error_statuses=(503,))

    def heal_after_first_503(event: RequestEvent) -> None:
        if event.kind == "response" and event.status == 503:
            emulator.faults.error_rate = 0.0

    with emulator.serve() as url:
        async with SmartSender(
            TOKEN, base_url=url, retry=FAST_RETRY, rate_limit=None, observer=heal_after_first_503
        ) as client:
            page = await client.chats.list(state="open")

    assert page.response_info == ResponseInfo(retries_taken=1, rate_limit_wait=0.0)
    lines = attempts(caplog)
    assert [(a["method"], a["path"], a["outcome"], a["retry"]) for a in lines] == [
        ("GET", "/chats", "503", "0"),
        ("GET", "/chats", "200", "1"),
    ]
    assert all(float(a["elapsed"]) >= 0 and float(a["wait"]) == 0 for a in lines)
    retry_lines = [m for m in caplog.messages if m.startswith("GET /chats: retry 1 after")]
    assert len(retry_lines) == 1 and retry_lines[0].endswith("(HTTP 503)")
    # The query string (search terms, ids) stays out of the line: only the path.
    assert not [m for m in caplog.messages if "state=open" in m and "smartsender" in m]


async def test_a_423_closes_and_reopens_the_lock_gate_with_info_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 3 requests per 0.5 s: the 4th is refused with "try again in 1 seconds".
    emulator = Emulator(seed=2, chats=5, token=TOKEN, rate_limit=(3, 0.5))
    chat_id = emulator.chat_ids()[0]
    with emulator.serve() as url:
        async with SmartSender(
            TOKEN, base_url=url, retry=FAST_RETRY, rate_limit=NO_PACING
        ) as client:
            for _ in range(3):
                first = await client.chats.get(chat_id)
            locked = await client.chats.get(chat_id)

    assert first.response_info == ResponseInfo(0, 0.0, 200)
    info = locked.response_info
    assert info is not None
    assert info.retries_taken == 1
    assert info.status_code == 200
    assert info.rate_limit_wait >= 0.9  # waited out the 1 s lock at the gate
    assert emulator.stats.locked == 1

    gate = info_lines(caplog)
    assert len(gate) == 2, gate
    assert gate[0].startswith("rate-limit lock gate closed for token ")
    assert gate[0].endswith("every request waits 1.0 s")
    assert gate[1].startswith("rate-limit lock gate open again for token ")
    last_two = [(a["outcome"], a["retry"]) for a in attempts(caplog)][-2:]
    assert last_two == [("423", "0"), ("200", "1")]
    assert float(attempts(caplog)[-1]["wait"]) >= 0.9


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_errors_and_their_logging_never_show_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = Emulator(seed=3, chats=5, token=TOKEN, rate_limit=None)
    app_log = logging.getLogger("my_app")
    caught: list[Exception] = []
    with emulator.serve() as url:
        async with SmartSender(TOKEN, base_url=url, retry=FAST_RETRY, rate_limit=None) as client:
            with pytest.raises(NotFoundError) as not_found:
                await client.chats.get(1)
            caught.append(not_found.value)
            with pytest.raises(UnprocessableEntityError) as invalid:
                await client.request("GET", "/chats", params={"limitation": 100})
            caught.append(invalid.value)
            # A connection dropped mid-response: retried (a GET), then given up.
            emulator.faults = Faults(drop_rate=1.0)
            with pytest.raises(APIConnectionError) as dropped:
                await client.chats.list()
            caught.append(dropped.value)
            emulator.faults = Faults()
        async with SmartSender(WRONG_TOKEN, base_url=url, rate_limit=None) as stranger:
            with pytest.raises(AuthenticationError) as unauthenticated:
                await stranger.chats.list()
            caught.append(unauthenticated.value)
    # Nobody listens on this port: connection refused, retried, then given up.
    async with SmartSender(
        TOKEN, base_url=f"http://127.0.0.1:{free_port()}/v1", retry=FAST_RETRY, rate_limit=None
    ) as offline:
        with pytest.raises(APIConnectionError) as refused:
            await offline.chats.list()
        caught.append(refused.value)

    for exc in caught:
        # What an application typically does with an SDK error: log it with its traceback.
        app_log.error("Smart Sender call failed: %r (%s)", exc, exc, exc_info=exc)
    assert dropped.value.retries_taken == FAST_RETRY.max_attempts - 1
    assert refused.value.retries_taken == FAST_RETRY.max_attempts - 1

    outcomes = [(a["path"], a["outcome"], a["retry"]) for a in attempts(caplog)]
    assert ("/chats/1", "404", "0") in outcomes
    assert ("/chats", "422", "0") in outcomes
    assert ("/chats", "401", "0") in outcomes
    assert ("/chats", "RemoteProtocolError", "2") in outcomes
    assert ("/chats", "ConnectError", "2") in outcomes
    # httpx's and httpcore's own DEBUG/INFO records were captured too (and checked).
    # (httpx2 and httpcore2 under --http-backend=httpx2.)
    names = {r.name for r in caplog.records}
    assert {"httpx", "httpcore.http11"} <= names or {"httpx2", "httpcore2.http11"} <= names


async def test_the_redis_limiter_logs_the_gate_closing_and_reopening(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("redis")
    from smartsender_async.ratelimit_redis import RedisRateLimiter
    from tests._redis_server import redis_server

    emulator = Emulator(seed=2, chats=5, token=TOKEN, rate_limit=(3, 0.5))
    chat_id = emulator.chat_ids()[0]
    with redis_server() as redis_url, emulator.serve() as url:
        limiter = RedisRateLimiter(redis_url, NO_PACING)
        try:
            async with SmartSender(
                TOKEN, base_url=url, retry=FAST_RETRY, rate_limit=limiter
            ) as client:
                for _ in range(4):
                    last = await client.chats.get(chat_id)
        finally:
            await limiter.aclose()

    assert last.response_info is not None and last.response_info.retries_taken == 1
    gate = info_lines(caplog)
    assert [line.split(" for token ")[0] for line in gate] == [
        "rate-limit lock gate closed",
        "rate-limit lock gate open again",
    ], gate
