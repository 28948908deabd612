"""httpx2 (the maintained fork) handed to the SDK: an ``httpx2.AsyncClient`` against
``Emulator.serve()`` (real loopback sockets, so httpx2's own network layer raises the
errors), and the backend seam's rules (detection, no silent switch, no mix).

These tests do not use respx (it patches httpx only): the failures come from real
sockets, a port nobody listens on, and the emulator's injected faults.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from smartsender_async import RateLimit, RetryPolicy, SmartSender
from smartsender_async.client import BackendMismatchError, ConfigurationError
from smartsender_async.errors import APIConnectionError, APITimeoutError, NotFoundError
from smartsender_async.ratelimit import InMemoryRateLimiter
from smartsender_async.testing import Emulator, Faults

httpx2 = pytest.importorskip("httpx2")

TOKEN = "secret-token-httpx2-0123456789"
NO_BACKOFF = RetryPolicy(max_attempts=3, backoff_base=0.0)


def _all_text(obj: Any, seen: set[int] | None = None, depth: int = 0) -> str:
    """Everything reachable from an exception (attributes, requests, causes), as text."""
    seen = set() if seen is None else seen
    if obj is None or id(obj) in seen or depth > 8:
        return ""
    seen.add(id(obj))
    parts = [repr(obj), str(obj)]
    for module in (httpx, httpx2):
        if isinstance(obj, module.Request):
            parts += [repr(dict(obj.headers)), repr(obj.headers.raw), str(obj.url)]
        if isinstance(obj, module.Response):
            parts.append(_all_text(obj.request, seen, depth + 1))
    if isinstance(obj, BaseException):
        parts.append(_all_text(obj.__cause__, seen, depth + 1))
        parts.append(_all_text(obj.__context__, seen, depth + 1))
        with contextlib.suppress(AttributeError, RuntimeError):
            parts.append(_all_text(obj.request, seen, depth + 1))  # type: ignore[attr-defined]
    for name, value in getattr(obj, "__dict__", {}).items():
        # A response's body stream keeps the library's internal request (the same on
        # httpx and httpx2; left to errors.py's owner, see the report), not ours to show.
        if name != "stream":
            parts.append(_all_text(value, seen, depth + 1))
    return "\n".join(parts)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


@pytest.fixture
def free_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --------------------------------------------------------------------------- detection


async def test_httpx2_client_is_used_as_given_and_reports_its_backend() -> None:
    emulator = Emulator(chats=5, rate_limit=None, token=TOKEN)
    with emulator.serve() as url:
        async with httpx2.AsyncClient() as http:
            async with SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=None) as c:
                assert c.http_backend == "httpx2"
                page = await c.chats.list(limitation=2)
                assert len(page.items) == 2
                with pytest.raises(NotFoundError) as info:
                    await c.chats.get(999_999_999)
            assert not http.is_closed  # never closed by the SDK
    assert emulator.stats.by_token[TOKEN] == 2
    response = info.value.response
    assert isinstance(response, httpx2.Response)
    assert isinstance(response.request, httpx2.Request)  # redacted copy, same library
    assert response.request.headers["authorization"] == "[redacted]"
    assert TOKEN not in _all_text(info.value)


async def test_http_argument_builds_an_httpx2_client() -> None:
    emulator = Emulator(chats=3, rate_limit=None, token=TOKEN)
    with emulator.serve() as url:
        async with SmartSender(TOKEN, base_url=url, http="httpx2", rate_limit=None) as c:
            assert isinstance(c._http, httpx2.AsyncClient)
            assert len((await c.chats.list()).items) == 3
            assert c._http.timeout.connect == 10.0  # DEFAULT_TIMEOUT carried over


def test_httpx_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMARTSENDER_HTTP", raising=False)
    client = SmartSender(TOKEN, rate_limit=None)
    assert client.http_backend == "httpx"
    assert type(client._http) is httpx.AsyncClient
    client._closed = True  # never used: nothing to close


def test_environment_names_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSENDER_HTTP", "httpx2")
    client = SmartSender(TOKEN, rate_limit=None)
    assert client.http_backend == "httpx2"
    client._closed = True
    # ...but never over the library of what the user passed
    explicit = SmartSender(TOKEN, http_client=httpx.AsyncClient(), rate_limit=None)
    assert explicit.http_backend == "httpx"
    monkeypatch.setenv("SMARTSENDER_HTTP", "requests")
    with pytest.raises(BackendMismatchError, match="SMARTSENDER_HTTP"):
        SmartSender(TOKEN)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (lambda: {"http_client": httpx2.AsyncClient(), "http": "httpx"}, "belongs to httpx2"),
        (lambda: {"http_client": httpx.AsyncClient(), "http": "httpx2"}, "belongs to httpx"),
        (lambda: {"transport": httpx.MockTransport(print), "http": "httpx2"}, "transport"),
        (
            lambda: {"http_client": httpx2.AsyncClient(transport=httpx.MockTransport(print))},
            "httpx transport",
        ),
        (
            lambda: {"http_client": httpx.AsyncClient(transport=httpx2.MockTransport(print))},
            "httpx2 transport",
        ),
        (
            lambda: {
                "http_client": httpx2.AsyncClient(
                    mounts={"http://proxy.invalid": httpx.AsyncHTTPTransport()}
                )
            },
            "httpx transport",
        ),
        (lambda: {"http": "aiohttp"}, "'httpx' or 'httpx2'"),
    ],
)
def test_a_mix_is_refused_before_anything_is_sent(
    kwargs: Callable[[], dict[str, Any]], message: str
) -> None:
    with pytest.raises(BackendMismatchError, match=message) as info:
        SmartSender(TOKEN, **kwargs())
    assert isinstance(info.value, ConfigurationError)
    assert isinstance(info.value, ValueError)
    assert TOKEN not in _all_text(info.value)


def test_http_argument_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="http"):
        SmartSender(TOKEN, http=httpx2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="http_client"):
        SmartSender(TOKEN, http_client=object())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- typed errors


async def test_connect_error_is_typed_and_redacted(free_port: int) -> None:
    """A refused connection: httpx2.ConnectError, retried (never sent), then typed."""
    url = f"http://127.0.0.1:{free_port}/v1"
    async with httpx2.AsyncClient() as http:
        c = SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=None, retry=NO_BACKOFF)
        with pytest.raises(APIConnectionError) as info:
            await c.contacts.send(1, "hi")  # a send: retried only because never sent
    error = info.value
    assert not isinstance(error, APITimeoutError)
    assert error.retries_taken == 2
    assert "ConnectError" in str(error)
    assert isinstance(error.__cause__, httpx2.ConnectError)
    assert TOKEN not in _all_text(error)
    cause_request = error.__cause__.request
    assert cause_request.headers["authorization"] == "[redacted]"


async def test_read_timeout_is_typed_and_redacted() -> None:
    emulator = Emulator(chats=3, rate_limit=None, token=TOKEN, faults=Faults(slow_rate=1.0))
    emulator.faults.slow_seconds = 0.3  # the server thread finishes it before stopping
    with emulator.serve() as url:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(5.0, read=0.05)) as http:
            c = SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=None, retry=None)
            with pytest.raises(APITimeoutError) as info:
                await c.chats.get(emulator.chat_ids()[0])
    error = info.value
    assert isinstance(error, APIConnectionError)
    assert isinstance(error.__cause__, httpx2.ReadTimeout)
    assert "timed out" in str(error)
    assert TOKEN not in _all_text(error)
    assert emulator.stats.faults["slow"] == 1


async def test_read_timeout_of_an_own_httpx2_client() -> None:
    """``http="httpx2"`` with the SDK's ``timeout=``: the client it builds enforces it."""
    emulator = Emulator(chats=3, rate_limit=None, token=TOKEN, faults=Faults(slow_rate=1.0))
    emulator.faults.slow_seconds = 0.3
    with emulator.serve() as url:
        async with SmartSender(
            TOKEN,
            base_url=url,
            http="httpx2",
            timeout=httpx2.Timeout(5.0, read=0.05),
            rate_limit=None,
            retry=None,
        ) as c:
            with pytest.raises(APITimeoutError) as info:
                await c.chats.list()
    assert TOKEN not in _all_text(info.value)


async def test_pool_timeout_is_a_timeout() -> None:
    """One connection and two calls at once, the first answer slow: whichever call gets
    the connection succeeds, the other times out waiting for the pool."""
    import anyio

    emulator = Emulator(chats=3, rate_limit=None, token=TOKEN, faults=Faults(slow_rate=1.0))
    emulator.faults.slow_seconds = 0.4
    with emulator.serve() as url:
        limits = httpx2.Limits(max_connections=1)
        timeout = httpx2.Timeout(5.0, pool=0.05)
        async with httpx2.AsyncClient(limits=limits, timeout=timeout) as http:
            c = SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=None, retry=None)
            errors: list[BaseException] = []
            answered: list[int] = []

            async def call() -> None:
                try:
                    answered.append(len((await c.chats.list()).items))
                except APITimeoutError as exc:
                    errors.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                tg.start_soon(call)
    assert answered == [3]
    assert len(errors) == 1
    assert isinstance(errors[0].__cause__, httpx2.PoolTimeout)
    assert emulator.stats.requests == 1  # the other never left this host
    assert TOKEN not in _all_text(errors[0])


async def test_dropped_connection_is_retried_for_a_read_then_typed() -> None:
    emulator = Emulator(chats=3, rate_limit=None, token=TOKEN, faults=Faults(drop_rate=1.0))
    with emulator.serve() as url:
        async with httpx2.AsyncClient() as http:
            c = SmartSender(
                TOKEN, base_url=url, http_client=http, rate_limit=None, retry=NO_BACKOFF
            )
            with pytest.raises(APIConnectionError) as info:
                await c.chats.list()
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.retries_taken == 2
    assert emulator.stats.requests == 3  # GET is idempotent: retried
    assert isinstance(info.value.__cause__, httpx2.RemoteProtocolError)
    assert TOKEN not in _all_text(info.value)


async def test_dropped_send_is_not_retried() -> None:
    emulator = Emulator(chats=3, rate_limit=None, token=TOKEN)
    contact = emulator.contact_id_of(emulator.chat_ids()[0])
    emulator.faults.drop_rate = 1.0
    with emulator.serve() as url:
        async with httpx2.AsyncClient() as http:
            c = SmartSender(
                TOKEN, base_url=url, http_client=http, rate_limit=None, retry=NO_BACKOFF
            )
            with pytest.raises(APIConnectionError):
                await c.contacts.send(contact, "hello")
    assert emulator.stats.requests == 1  # may have reached the server: never repeated


# --------------------------------------------------------------------------- streams, limiter


async def test_stream_over_an_httpx2_client() -> None:
    emulator = Emulator(chats=45, rate_limit=None, token=TOKEN)
    with emulator.serve() as url:
        async with httpx2.AsyncClient() as http:
            c = SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=None)
            ids = [chat.id async for chat in c.chats.stream(concurrency=4)]
    assert sorted(ids) == sorted(emulator.chat_ids())
    assert len(ids) == len(set(ids)) == 45


class _FakeTime:
    """One clock for the emulator and the SDK's limiter; sleeping advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_limiter_and_lock_gate_with_an_httpx2_client() -> None:
    """The emulator's quota (3 per 60 s) locks the token; the SDK's limiter closes its gate
    for the lock's time, waits it out (on a fake clock shared with the emulator) and the
    call then succeeds: one 423, no second one, nothing lost."""
    clock = _FakeTime()
    emulator = Emulator(chats=5, rate_limit=(3, 60.0), token=TOKEN, clock=clock)
    limiter = InMemoryRateLimiter(
        RateLimit(requests=1000, period=1.0, burst=1000, margin=0.0),
        clock=clock,
        sleep=clock.sleep,
    )
    with emulator.serve() as url:
        async with httpx2.AsyncClient() as http:
            c = SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=limiter)
            for _ in range(4):
                await c.chats.list(limitation=1)
    assert emulator.stats.by_status[423] == 1
    assert emulator.stats.by_status[200] == 4
    assert clock.slept and sum(clock.slept) >= 60.0
    assert limiter is c.rate_limiter


@pytest.mark.parametrize("runner", ["asyncio", "trio"])
def test_httpx2_client_under_both_event_loops(runner: str) -> None:
    import anyio

    emulator = Emulator(chats=4, rate_limit=None, token=TOKEN)

    async def main() -> int:
        async with httpx2.AsyncClient() as http:
            c = SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=None)
            return len([chat async for chat in c.chats.stream(concurrency=2)])

    with emulator.serve() as url:
        assert anyio.run(main, backend=runner) == 4


async def test_cancelled_calls_leave_the_httpx2_client_usable() -> None:
    """A storm of cancelled calls mid-response; then the client still answers."""
    import anyio

    emulator = Emulator(chats=5, rate_limit=None, token=TOKEN, faults=Faults(latency=0.05))
    sent = [anyio.Event()]

    async def on_request(_request: Any) -> None:
        sent[0].set()

    with emulator.serve() as url:
        limits = httpx2.Limits(max_connections=4)
        hooks = {"request": [on_request]}
        async with httpx2.AsyncClient(limits=limits, event_hooks=hooks) as http:
            c = SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=None)
            for _ in range(3):
                sent[0] = anyio.Event()
                async with anyio.create_task_group() as tg:
                    for _ in range(8):
                        tg.start_soon(c.chats.list)
                    await sent[0].wait()
                    tg.cancel_scope.cancel()
            emulator.faults.latency = 0.0
            assert len((await c.chats.list()).items) == 5


# --------------------------------------------------------------------------- in-process emulator


async def test_emulator_in_process_transport_on_httpx2() -> None:
    """The emulator's in-process transport, httpx2 flavour: typed, with read timeouts."""
    emulator = Emulator(chats=6, rate_limit=None, token=TOKEN)
    transport = emulator.transport(http="httpx2")
    assert isinstance(transport, httpx2.AsyncBaseTransport)
    async with emulator.client(http="httpx2") as c:
        assert c.http_backend == "httpx2"
        assert len([chat async for chat in c.chats.stream(concurrency=3)]) == 6
    async with SmartSender(
        TOKEN, base_url=emulator.base_url, transport=transport, rate_limit=None
    ) as c:
        assert c.http_backend == "httpx2"  # from the transport
    emulator.faults.slow_rate = 1.0
    async with emulator.http_client(http="httpx2", timeout=httpx.Timeout(5.0, read=0.01)) as raw:
        assert isinstance(raw, httpx2.AsyncClient)
        with pytest.raises(httpx2.ReadTimeout):
            await raw.get("/chats")
    async with emulator.client(
        http="httpx2", retry=None, timeout=httpx2.Timeout(5.0, read=0.01)
    ) as c:
        with pytest.raises(APITimeoutError) as info:
            await c.chats.list()
    assert isinstance(info.value.__cause__, httpx2.ReadTimeout)
    assert TOKEN not in _all_text(info.value)


async def test_httpx_transport_answers_httpx_requests_whatever_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``SMARTSENDER_HTTP=httpx2`` changes defaults only: an explicit httpx client on the
    emulator's transport still gets httpx responses."""
    monkeypatch.setenv("SMARTSENDER_HTTP", "httpx2")
    emulator = Emulator(chats=2, rate_limit=None)
    async with httpx.AsyncClient(
        transport=emulator.transport(http="httpx"), base_url=emulator.base_url
    ) as raw:
        response = await raw.get("/chats", headers={"Authorization": f"Bearer {emulator.token}"})
    assert isinstance(response, httpx.Response) and response.status_code == 200
    async with emulator.client() as c:
        assert c.http_backend == "httpx2"
        assert len((await c.chats.list()).items) == 2


def test_after_alias_httpx_both_names_are_one_library(tmp_path: Any) -> None:
    """``httpx2.alias_httpx()`` before the SDK is imported: ``import httpx`` is httpx2, and
    the SDK runs on it with the same typed, redacted errors (a fresh interpreter, since
    this one imported httpx already)."""
    import subprocess
    import sys

    script = f"""
import asyncio, httpx2
httpx2.alias_httpx()
import httpx
assert httpx is httpx2
from smartsender_async import SmartSender, RetryPolicy
from smartsender_async.errors import APIConnectionError, APITimeoutError
from smartsender_async.testing import Emulator, Faults

async def main():
    emulator = Emulator(chats=3, rate_limit=None, token={TOKEN!r})
    async with emulator.client() as c:
        assert c.http_backend in ("httpx", "httpx2"), c.http_backend
        assert len((await c.chats.list()).items) == 3
    emulator.faults.slow_rate = 1.0
    async with emulator.client(retry=None, timeout=httpx2.Timeout(5.0, read=0.01)) as c:
        try:
            await c.chats.list()
        except APITimeoutError as exc:
            assert {TOKEN!r} not in repr(exc.__cause__.request.headers)
            print("ok")

asyncio.run(main())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


# --------------------------------------------------------------------------- the pool on httpcore2


def _pool_of(client: Any) -> Any:
    return client._transport._pool


async def test_the_sdk_pool_runs_over_httpcore2_and_reuses_connections() -> None:
    """The client ``http="httpx2"`` builds sits on the SDK's pool (over httpcore2): a
    stream at concurrency 4 opens at most 4 connections, and keeps them."""
    emulator = Emulator(chats=200, rate_limit=None, token=TOKEN)
    with emulator.serve() as url:
        async with SmartSender(TOKEN, base_url=url, http="httpx2", rate_limit=None) as c:
            pool = _pool_of(c._http)
            assert type(pool).__module__ == "smartsender_async._pool_httpcore2"
            assert type(pool).__name__ == "ConnectionPool"
            ids = [chat.id async for chat in c.chats.stream(concurrency=4)]
            assert len(set(ids)) == 200
            assert 1 <= len(pool.connections) <= 4
            assert all(conn.is_idle() for conn in pool.connections)
            opened = len(pool.connections)
            await c.chats.list()
            assert len(pool.connections) == opened  # reused, none opened
    assert emulator.stats.requests == 11


async def test_pooled_transport_for_httpx2_keeps_its_limit_and_times_out_typed() -> None:
    """``pooled_transport(http="httpx2", limits=...)``: 8 calls at once on 2 connections
    all get answers, never more than 2 sockets; a pool wait past the pool timeout is an
    ``APITimeoutError`` from ``httpx2.PoolTimeout``."""
    import anyio

    from smartsender_async import pooled_transport

    emulator = Emulator(chats=5, rate_limit=None, token=TOKEN, faults=Faults(latency=0.02))
    peak = 0
    with emulator.serve() as url:
        transport = pooled_transport(http="httpx2", limits=httpx2.Limits(max_connections=2))
        assert isinstance(transport, httpx2.AsyncHTTPTransport)
        async with httpx2.AsyncClient(transport=transport) as http:
            c = SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=None)
            pool = _pool_of(http)

            async def call() -> None:
                nonlocal peak
                await c.chats.list()
                peak = max(peak, len(pool.connections))

            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(call)
            assert emulator.stats.requests == 8
            assert peak <= 2 and len(pool.connections) <= 2

            emulator.faults.latency = 0.0
            emulator.faults.slow_rate = 1.0
            emulator.faults.slow_seconds = 0.4
            strict = SmartSender(
                TOKEN,
                base_url=url,
                http_client=httpx2.AsyncClient(
                    transport=pooled_transport(
                        http="httpx2", limits=httpx2.Limits(max_connections=1)
                    ),
                    timeout=httpx2.Timeout(5.0, pool=0.05),
                ),
                rate_limit=None,
                retry=None,
            )
            errors: list[BaseException] = []

            async def waiting() -> None:
                try:
                    await strict.chats.list()
                except APITimeoutError as exc:
                    errors.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(waiting)
                tg.start_soon(waiting)
            await strict._http.aclose()
    assert len(errors) == 1
    assert isinstance(errors[0].__cause__, httpx2.PoolTimeout)
    assert TOKEN not in _all_text(errors[0])


async def test_cancellation_storm_on_the_httpcore2_pool_leaks_no_slot() -> None:
    """Calls cancelled while waiting for, or holding, one of 2 connections: afterwards the
    pool still serves 2 calls at once, and holds no more than 2 connections."""
    import anyio

    emulator = Emulator(chats=3, rate_limit=None, token=TOKEN, faults=Faults(latency=0.05))
    sent = [anyio.Event()]

    async def on_request(_request: Any) -> None:
        sent[0].set()

    from smartsender_async import pooled_transport

    with emulator.serve() as url:
        transport = pooled_transport(http="httpx2", limits=httpx2.Limits(max_connections=2))
        hooks = {"request": [on_request]}
        async with httpx2.AsyncClient(transport=transport, event_hooks=hooks) as http:
            c = SmartSender(TOKEN, base_url=url, http_client=http, rate_limit=None)
            for _ in range(4):
                sent[0] = anyio.Event()
                async with anyio.create_task_group() as tg:
                    for _ in range(10):
                        tg.start_soon(c.chats.list)
                    await sent[0].wait()
                    tg.cancel_scope.cancel()
            emulator.faults.latency = 0.0
            async with anyio.create_task_group() as tg:
                tg.start_soon(c.chats.list)
                tg.start_soon(c.chats.list)
            assert len(_pool_of(http).connections) <= 2
            assert len((await c.chats.list()).items) == 3


async def test_emulator_client_with_an_httpx2_client_on_its_transport() -> None:
    """``emulator.client(http_client=...)``: an httpx2 client built on the emulator's
    httpx2 transport is used as given (no second transport is forced on it)."""
    emulator = Emulator(chats=4, rate_limit=None, token=TOKEN)
    http = httpx2.AsyncClient(transport=emulator.transport(http="httpx2"))
    async with http, emulator.client(http_client=http) as c:
        assert c.http_backend == "httpx2"
        assert len((await c.chats.list()).items) == 4
    with pytest.raises(BackendMismatchError):
        emulator.client(http_client=httpx2.AsyncClient(transport=emulator.transport(http="httpx")))
