"""The retry step: what is retried, how often, how long it waits, and what it reports."""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import respx
import trio.testing

from smartsender_async import errors
from smartsender_async.errors import parse_retry_after
from smartsender_async.ratelimit import InMemoryRateLimiter, LockGateClosedError, RateLimit
from smartsender_async.retry import (
    AttemptResult,
    RequestEvent,
    RetryPolicy,
    send_with_retry,
)
from tests.test_ratelimit import VirtualTime

BASE = "https://api.test/v1"
KEY = "f" * 64
TOKEN = "SECRET-TOKEN-do-not-log"
SEND = "/contacts/7/send"
LOCKED_5 = {"error": {"code": 423, "message": "Too many requests. Please, try again in 5 seconds"}}
LOCKED_120 = {
    "error": {"code": 423, "message": "Too many requests. Please, try again in 120 seconds"}
}


class Sleeps:
    """A fake sleep that records what it was asked for and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class RecordingLimiter:
    """A limiter that never waits but records every call."""

    def __init__(self, waits: list[float] | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._waits = list(waits or [])

    async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
        self.calls.append(("acquire", key))
        return self._waits.pop(0) if self._waits else 0.0

    async def lock(self, key: str, seconds: float) -> None:
        self.calls.append(("lock", seconds))

    async def aclose(self) -> None:
        pass


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


async def call(
    method: str,
    path: str,
    sleeps: Sleeps,
    *,
    idempotent: bool | None = None,
    policy: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - frozen, safe to share
    limiter: Any = None,
    observer: Any = None,
    random: float = 1.0,
) -> AttemptResult:
    if idempotent is None:
        idempotent = method in ("GET", "PUT", "DELETE")
    async with httpx.AsyncClient(base_url=BASE, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        request = c.build_request(method, path)
        return await send_with_retry(
            lambda: c.send(request),
            method=method,
            path=path,
            idempotent=idempotent,
            policy=policy,
            limiter=limiter,
            key=KEY,
            observer=observer,
            sleep=sleeps,
            random=lambda: random,
        )


# --------------------------------------------------------------------------- policy


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.backoff_base, policy.backoff_max, policy.max_wait) == (
        4,
        0.5,
        8.0,
        60.0,
    )
    assert RetryPolicy(max_wait=math.inf).max_wait == math.inf


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 1.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"backoff_base": -1}, "backoff_base"),
        ({"backoff_base": math.nan}, "backoff_base"),
        ({"backoff_base": math.inf}, "backoff_base"),
        ({"backoff_max": -0.5}, "backoff_max"),
        ({"max_wait": -1}, "max_wait"),
        ({"max_wait": math.nan}, "max_wait"),
        ({"max_wait": "60"}, "max_wait"),
    ],
)
def test_policy_validation_names_the_argument(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RetryPolicy(**kwargs)


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0)
    assert [policy.backoff(n, lambda: 1.0) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert [policy.backoff(n, lambda: 0.5) for n in range(3)] == [0.5, 1.0, 2.0]
    assert policy.backoff(0, lambda: 0.0) == 0.0
    assert policy.backoff(10_000, lambda: 1.0) == 5.0  # no overflow


# --------------------------------------------------------------------------- success


async def test_success_takes_no_retry(api: respx.MockRouter, sleeps: Sleeps) -> None:
    route = api.get("/chats").respond(200, json={})
    result = await call("GET", "/chats", sleeps)
    assert (result.response.status_code, result.retries_taken, result.rate_limit_wait) == (
        200,
        0,
        0.0,
    )
    assert route.call_count == 1
    assert sleeps.calls == []


@pytest.mark.parametrize("status", [200, 201, 204, 400, 401, 403, 404, 422, 501, 505])
async def test_other_statuses_are_returned_at_once(
    api: respx.MockRouter, sleeps: Sleeps, status: int
) -> None:
    route = api.get("/chats").respond(status)
    result = await call("GET", "/chats", sleeps)
    assert result.response.status_code == status and result.retries_taken == 0
    assert route.call_count == 1


# --------------------------------------------------------------------------- transport errors

NEVER_SENT = [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout]
MAYBE_SENT = [
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.WriteTimeout,
    httpx.WriteError,
    httpx.RemoteProtocolError,
]


@pytest.mark.parametrize("exc", NEVER_SENT)
@pytest.mark.parametrize(("method", "path"), [("GET", "/chats"), ("POST", SEND)])
async def test_errors_before_sending_are_retried_for_every_call(
    api: respx.MockRouter, sleeps: Sleeps, exc: type[Exception], method: str, path: str
) -> None:
    route = api.route(method=method, path=path).mock(
        side_effect=[exc("boom"), exc("boom"), httpx.Response(200, json={})]
    )
    result = await call(method, path, sleeps)
    assert result.retries_taken == 2
    assert route.call_count == 3
    assert sleeps.calls == [0.5, 1.0]  # backoff, random() == 1.0


@pytest.mark.parametrize("exc", MAYBE_SENT)
async def test_errors_after_sending_are_retried_for_idempotent_calls(
    api: respx.MockRouter, sleeps: Sleeps, exc: type[Exception]
) -> None:
    route = api.get("/chats").mock(side_effect=[exc("boom"), httpx.Response(200, json={})])
    result = await call("GET", "/chats", sleeps)
    assert result.retries_taken == 1
    assert route.call_count == 2


@pytest.mark.parametrize("exc", MAYBE_SENT)
@pytest.mark.parametrize("path", [SEND, "/chats/9/forward/3"])
async def test_a_send_is_never_repeated_after_it_may_have_landed(
    api: respx.MockRouter, sleeps: Sleeps, exc: type[Exception], path: str
) -> None:
    route = api.post(path).mock(side_effect=[exc("boom"), httpx.Response(200, json={})])
    expected = errors.APITimeoutError if exc.__name__.endswith("Timeout") else None
    with pytest.raises(errors.APIConnectionError) as info:
        await call("POST", path, sleeps, idempotent=False)
    if expected is not None:
        assert isinstance(info.value, expected)
    else:
        assert not isinstance(info.value, errors.APITimeoutError)
    assert info.value.retries_taken == 0
    assert isinstance(info.value.__cause__, exc)
    assert route.call_count == 1
    assert sleeps.calls == []


async def test_unknown_transport_errors_are_not_retried(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get("/chats").mock(side_effect=httpx.ProxyError("no proxy"))
    with pytest.raises(errors.APIConnectionError):
        await call("GET", "/chats", sleeps)
    assert route.call_count == 1


async def test_exhausted_connect_errors_raise_with_the_retry_count(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get("/chats").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(errors.APIConnectionError) as info:
        await call("GET", "/chats", sleeps, policy=RetryPolicy(max_attempts=3))
    error = info.value
    assert error.retries_taken == 2
    assert route.call_count == 3
    assert "GET /chats" in str(error) and "ConnectError" in str(error) and "2 retries" in str(error)
    assert TOKEN not in str(error) and "Bearer" not in str(error) and TOKEN not in repr(error)
    cause = error.__cause__
    assert isinstance(cause, httpx.ConnectError)
    assert cause.request.headers["authorization"] == "[redacted]"  # the cause is kept, safely


async def test_exhausted_timeouts_raise_timeout_error(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    api.get("/chats").mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(errors.APITimeoutError) as info:
        await call("GET", "/chats", sleeps, policy=RetryPolicy(max_attempts=2))
    assert info.value.retries_taken == 1
    assert "timed out" in str(info.value)


async def test_backoff_grows_and_is_capped(api: respx.MockRouter, sleeps: Sleeps) -> None:
    api.get("/chats").mock(side_effect=httpx.ConnectError("refused"))
    policy = RetryPolicy(max_attempts=6, backoff_base=1.0, backoff_max=5.0)
    with pytest.raises(errors.APIConnectionError):
        await call("GET", "/chats", sleeps, policy=policy, random=0.5)
    assert sleeps.calls == [0.5, 1.0, 2.0, 2.5, 2.5]


# --------------------------------------------------------------------------- 5xx


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_server_errors_are_retried_for_idempotent_calls_then_returned(
    api: respx.MockRouter, sleeps: Sleeps, status: int, method: str
) -> None:
    route = api.route(method=method, path="/chats/1/read").respond(status)
    result = await call(method, "/chats/1/read", sleeps)
    assert result.response.status_code == status
    assert result.retries_taken == 3
    assert route.call_count == 4
    assert sleeps.calls == [0.5, 1.0, 2.0]


async def test_server_error_then_success(api: respx.MockRouter, sleeps: Sleeps) -> None:
    api.get("/chats").mock(side_effect=[httpx.Response(502), httpx.Response(200, json={})])
    result = await call("GET", "/chats", sleeps)
    assert (result.response.status_code, result.retries_taken) == (200, 1)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_send_is_never_repeated_after_a_server_error(
    api: respx.MockRouter, sleeps: Sleeps, status: int
) -> None:
    route = api.post(SEND).mock(side_effect=[httpx.Response(status), httpx.Response(200)])
    result = await call("POST", SEND, sleeps, idempotent=False)
    assert result.response.status_code == status
    assert result.retries_taken == 0
    assert route.call_count == 1
    assert sleeps.calls == []


async def test_server_retry_after_is_honoured_when_short(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    api.get("/chats").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "3"}),
            httpx.Response(503, headers={"Retry-After": "3600"}),  # over max_wait: back off
            httpx.Response(200, json={}),
        ]
    )
    result = await call("GET", "/chats", sleeps)
    assert result.retries_taken == 2
    assert sleeps.calls == [3.0, 1.0]
    assert result.rate_limit_wait == 0.0  # an overload is not a rate limit


# --------------------------------------------------------------------------- 423 / 429


@pytest.mark.parametrize(("method", "path"), [("GET", "/chats"), ("POST", SEND)])
async def test_short_lock_is_waited_out_without_a_limiter(
    api: respx.MockRouter, sleeps: Sleeps, method: str, path: str
) -> None:
    route = api.route(method=method, path=path).mock(
        side_effect=[httpx.Response(423, json=LOCKED_5), httpx.Response(200, json={})]
    )
    result = await call(method, path, sleeps)
    assert (result.response.status_code, result.retries_taken) == (200, 1)
    assert result.rate_limit_wait == 5.0
    assert sleeps.calls == [5.0]
    assert route.call_count == 2


@pytest.mark.parametrize(("method", "path"), [("GET", "/chats"), ("POST", SEND)])
async def test_short_lock_closes_the_gate_and_waits_there(
    api: respx.MockRouter, sleeps: Sleeps, method: str, path: str
) -> None:
    api.route(method=method, path=path).mock(
        side_effect=[httpx.Response(423, json=LOCKED_5), httpx.Response(200, json={})]
    )
    limiter = RecordingLimiter(waits=[0.25, 5.0])
    result = await call(method, path, sleeps, limiter=limiter)
    assert limiter.calls == [("acquire", KEY), ("lock", 5.0), ("acquire", KEY)]
    assert sleeps.calls == []  # the wait happened in the limiter, at the gate
    assert result.retries_taken == 1
    assert result.rate_limit_wait == 5.25


async def test_long_lock_is_returned_at_once_and_still_closes_the_gate(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.post(SEND).respond(423, json=LOCKED_120)
    limiter = RecordingLimiter()
    result = await call("POST", SEND, sleeps, idempotent=False, limiter=limiter)
    assert result.response.status_code == 423 and result.retries_taken == 0
    assert route.call_count == 1
    assert limiter.calls == [("acquire", KEY), ("lock", 120.0)]
    assert sleeps.calls == []
    error = errors.from_response(result.response)
    assert isinstance(error, errors.RateLimitedError) and error.retry_after == 120.0


async def test_lock_without_a_delay_is_raised_at_once_without_a_gate(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get("/chats").mock(
        side_effect=[httpx.Response(423, json={"error": {"code": 423, "message": "Locked"}})]
    )
    limiter = RecordingLimiter()
    result = await call("GET", "/chats", sleeps, limiter=limiter)
    assert result.response.status_code == 423 and result.retries_taken == 0
    assert route.call_count == 1
    assert limiter.calls == [("acquire", KEY)]  # no guessed lock held over other tasks
    assert sleeps.calls == []


async def test_429_with_retry_after_header_seconds_and_date(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    future = email.utils.formatdate(time.time() + 3600, usegmt=True)  # over max_wait
    api.get("/chats").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(429, headers={"Retry-After": future}),
        ]
    )
    result = await call("GET", "/chats", sleeps)
    assert sleeps.calls == [7.0]
    assert result.response.status_code == 429 and result.retries_taken == 1


async def test_429_without_a_delay_backs_off_without_closing_the_gate(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    api.post(SEND).mock(side_effect=[httpx.Response(429), httpx.Response(200, json={})])
    limiter = RecordingLimiter()
    result = await call("POST", SEND, sleeps, idempotent=False, limiter=limiter)
    assert limiter.calls == [("acquire", KEY), ("acquire", KEY)]
    assert sleeps.calls == [0.5]
    assert result.retries_taken == 1 and result.rate_limit_wait == 0.5


async def test_a_token_that_stays_locked_ends_after_max_attempts(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get("/chats").respond(423, json=LOCKED_5)
    result = await call("GET", "/chats", sleeps, policy=RetryPolicy(max_attempts=5))
    assert route.call_count == 5
    assert result.response.status_code == 423 and result.retries_taken == 4
    assert result.rate_limit_wait == 20.0


async def test_gate_closed_longer_than_max_wait_raises_before_sending(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get("/chats").respond(200, json={})
    limiter = InMemoryRateLimiter()
    await limiter.lock(KEY, 600.0)
    with pytest.raises(errors.RateLimitedError) as info:
        await call("GET", "/chats", sleeps, limiter=limiter)
    error = info.value
    assert route.call_count == 0
    assert error.response is None and error.status_code == 423
    assert error.retry_after is not None and 590 < error.retry_after <= 600
    assert error.retries_taken == 0
    assert "GET /chats not sent" in str(error)


async def test_gate_extended_by_another_task_raises_with_retries(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    api.get("/chats").respond(423, json=LOCKED_5)

    class ExtendedElsewhere(RecordingLimiter):
        async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
            if self.calls:
                raise LockGateClosedError(300.0)
            return await super().acquire(key, max_wait=max_wait)

    with pytest.raises(errors.RateLimitedError) as info:
        await call("GET", "/chats", sleeps, limiter=ExtendedElsewhere())
    assert info.value.retries_taken == 1 and info.value.retry_after == 300.0


async def test_limiter_failures_propagate_with_the_retry_count(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    api.get("/chats").mock(side_effect=[httpx.ConnectError("x"), httpx.Response(200)])

    class Broken(RecordingLimiter):
        async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
            if self.calls:
                raise errors.SmartSenderError("limiter backend is down")
            return await super().acquire(key, max_wait=max_wait)

    with pytest.raises(errors.SmartSenderError, match="down") as info:
        await call("GET", "/chats", sleeps, limiter=Broken())
    assert info.value.retries_taken == 1


def test_lock_pauses_other_tasks_sharing_the_limiter() -> None:
    """Task A's 423 at t=0 holds task B (same limiter) until the lock ends."""
    vt = VirtualTime()
    limiter = InMemoryRateLimiter(
        RateLimit(requests=60, period=60.0), clock=vt.clock, sleep=vt.sleep
    )
    arrivals: list[tuple[str, float]] = []

    def server(request: httpx.Request) -> httpx.Response:
        arrivals.append((request.url.path, vt.now))
        if len(arrivals) == 1:
            locked.set()  # now let task b start
            return httpx.Response(423, json={"error": {"message": "try again in 30 seconds"}})
        return httpx.Response(200, json={})

    results: dict[str, AttemptResult] = {}
    locked = anyio.Event()

    async def task(name: str) -> None:
        if name == "b":
            await locked.wait()
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as c:
            request = c.build_request("GET", f"https://api.test/v1/{name}")
            results[name] = await send_with_retry(
                lambda: c.send(request),
                method="GET",
                path=f"/{name}",
                idempotent=True,
                policy=RetryPolicy(),
                limiter=limiter,
                key=KEY,
                sleep=vt.sleep,
            )

    async def a() -> None:
        await task("a")

    async def b() -> None:
        await task("b")

    anyio.run(vt.run, a, b)
    assert arrivals[0] == ("/v1/a", 0.0)
    assert all(at >= 30.0 for _, at in arrivals[1:])
    assert {path for path, _ in arrivals[1:]} == {"/v1/a", "/v1/b"}
    assert results["a"].retries_taken == 1 and results["a"].rate_limit_wait == 30.0
    assert results["b"].retries_taken == 0 and results["b"].rate_limit_wait >= 30.0


# --------------------------------------------------------------------------- retry=None


async def test_no_policy_means_one_attempt(api: respx.MockRouter, sleeps: Sleeps) -> None:
    route = api.get("/chats").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(errors.APIConnectionError) as info:
        await call("GET", "/chats", sleeps, policy=None)
    assert info.value.retries_taken == 0 and route.call_count == 1
    route = api.get("/chats/2").respond(503)
    assert (await call("GET", "/chats/2", sleeps, policy=None)).response.status_code == 503
    assert route.call_count == 1
    assert sleeps.calls == []


async def test_no_policy_still_uses_the_limiter_and_the_gate(
    api: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = api.get("/chats").respond(423, json=LOCKED_5)
    limiter = RecordingLimiter()
    result = await call("GET", "/chats", sleeps, policy=None, limiter=limiter)
    assert result.response.status_code == 423 and route.call_count == 1
    assert limiter.calls == [("acquire", KEY), ("lock", 5.0)]


# --------------------------------------------------------------------------- observer, logs


async def test_observer_sees_every_step(api: respx.MockRouter, sleeps: Sleeps) -> None:
    api.get("/chats").mock(side_effect=[httpx.ConnectError("x"), httpx.Response(200, json={})])
    events: list[RequestEvent] = []
    await call(
        "GET", "/chats", sleeps, observer=events.append, limiter=RecordingLimiter(waits=[0.0, 2.0])
    )
    assert [(e.kind, e.attempt) for e in events] == [
        ("attempt", 1),
        ("error", 1),
        ("retry", 1),
        ("wait", 2),
        ("attempt", 2),
        ("response", 2),
    ]
    assert events[1].error == "ConnectError"
    assert events[2].wait == 0.5 and events[2].reason == "ConnectError"
    assert events[3].wait == 2.0
    assert events[5].status == 200 and events[5].elapsed >= 0
    assert all(e.method == "GET" and e.path == "/chats" for e in events)


async def test_a_failing_observer_cannot_break_the_request(
    api: respx.MockRouter, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    api.get("/chats").respond(200, json={})

    def observer(event: RequestEvent) -> None:
        raise RuntimeError("metrics backend down")

    with caplog.at_level(logging.WARNING, logger="smartsender_async"):
        result = await call("GET", "/chats", sleeps, observer=observer)
    assert result.response.status_code == 200
    assert any("observer raised" in r.getMessage() for r in caplog.records)


async def test_debug_log_has_one_line_per_attempt_and_no_secrets(
    api: respx.MockRouter, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    api.post(SEND).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(423, json=LOCKED_5),
            httpx.Response(200, json={}),
        ]
    )
    with caplog.at_level(logging.DEBUG, logger="smartsender_async"):
        await call("POST", SEND, sleeps, idempotent=False)
    attempts = [r.getMessage() for r in caplog.records if " -> " in r.getMessage()]
    assert len(attempts) == 3
    assert "POST /contacts/7/send -> ConnectError" in attempts[0] and "retry 0" in attempts[0]
    assert "-> 423" in attempts[1] and "retry 1" in attempts[1]
    assert "-> 200" in attempts[2] and "retry 2" in attempts[2]
    assert any(
        r.levelno == logging.INFO and "rate-limited" in r.getMessage() for r in caplog.records
    )
    for record in caplog.records:
        assert TOKEN not in record.getMessage() and "Bearer" not in record.getMessage()


async def test_nothing_is_formatted_when_debug_is_off(
    api: respx.MockRouter, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    api.get("/chats").respond(200, json={})
    with caplog.at_level(logging.INFO, logger="smartsender_async"):
        await call("GET", "/chats", sleeps)
    assert caplog.records == []


# --------------------------------------------------------------------------- trio


def test_works_under_trio() -> None:
    responses: Iterator[Exception | httpx.Response] = iter(
        [httpx.ConnectError("x"), httpx.Response(423, json=LOCKED_5)]
    )

    async def send() -> httpx.Response:
        item = next(responses, httpx.Response(200))
        if isinstance(item, Exception):
            raise item
        return item

    async def main() -> AttemptResult:
        return await send_with_retry(
            send,
            method="GET",
            path="/chats",
            idempotent=True,
            policy=RetryPolicy(backoff_base=0.0),
            limiter=InMemoryRateLimiter(RateLimit(requests=1000, period=1.0, margin=0.0)),
            key=KEY,
        )

    clock = trio.testing.MockClock(autojump_threshold=0)
    result = anyio.run(main, backend="trio", backend_options={"clock": clock})
    assert result.response.status_code == 200 and result.retries_taken == 2


# --------------------------------------------------------------------------- Retry-After parsing


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "120"}, None, 120.0),
        ({"Retry-After": " 7 "}, None, 7.0),
        ({"Retry-After": "1.5"}, None, 1.5),
        ({"Retry-After": "0"}, None, 0.0),
        ({"retry-after": "30"}, None, 30.0),
        ({}, "Too many requests. Please, try again in 120 seconds", 120.0),
        ({}, '{"error":{"code":423,"message":"Try again in 60 sec"}}', 60.0),
        ({"Retry-After": "10"}, "try again in 120 seconds", 10.0),  # the header wins
        ({"Retry-After": "soon"}, "try again in 45 seconds", 45.0),  # junk header: the body
        ({}, None, None),
        ({}, "Too many requests", None),
        ({}, "", None),
    ],
)
def test_parse_retry_after(
    headers: dict[str, str], body: str | None, expected: float | None
) -> None:
    assert parse_retry_after(httpx.Headers(headers), body) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    in_90 = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after({"retry-after": in_90}, None, now=now) == pytest.approx(90.0)
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert parse_retry_after({"retry-after": past}, None, now=now) == 0.0
    far = email.utils.formatdate(now + 3 * 86400, usegmt=True)
    assert parse_retry_after({"retry-after": far}, None, now=now) is None


@pytest.mark.parametrize(
    "value", ["-1", "inf", "-inf", "nan", "1e10", "90000", "999999999999", "Thu, 99 Foo 2024"]
)
def test_parse_retry_after_ignores_absurd_values(value: str) -> None:
    assert parse_retry_after({"retry-after": value}, None) is None


def test_parse_retry_after_ignores_absurd_body_values() -> None:
    assert parse_retry_after({}, "try again in 99999999 seconds") is None
