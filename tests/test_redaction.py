"""No token on any path (issue 13): every exception the SDK raises, everything chained under
it and every request hanging off them is free of the token, against respx and against real
sockets; tokens that could leak through the HTTP layer's own errors are refused."""

from __future__ import annotations

import contextlib
import gzip
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from smartsender_async import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    NotFoundError,
    RateLimitedError,
    ResponseDecodeError,
    ServerError,
    SmartSender,
    SmartSenderError,
)
from smartsender_async.testing import Emulator

BASE = "https://api.smartsender.com/v1"
TOKEN = "tok-SECRET-1234567890"


def chained(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable through ``__cause__`` / ``__context__``."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        stack.extend(getattr(current, "exceptions", ()))


def requests_of(exc: BaseException) -> Iterator[httpx.Request]:
    """Every request an exception carries: ``.request``, ``.response.request`` and any
    attribute holding one."""
    for name in ("request", "response"):
        try:
            value = getattr(exc, name, None)
        except RuntimeError:  # httpx: "The .request property has not been set."
            value = None
        if isinstance(value, httpx.Request):
            yield value
        elif isinstance(value, httpx.Response):
            with contextlib.suppress(RuntimeError):
                yield value.request
    for value in vars(exc).values():
        if isinstance(value, httpx.Request):
            yield value
        elif isinstance(value, httpx.Response):
            with contextlib.suppress(RuntimeError):
                yield value.request


def assert_no_token(exc: BaseException, token: str = TOKEN) -> int:
    """Fail if the token shows anywhere on ``exc``'s chain; returns the chain's length."""
    count = 0
    for current in chained(exc):
        count += 1
        assert token not in str(current), type(current)
        assert token not in repr(current), type(current)
        assert all(token not in repr(arg) for arg in current.args), type(current)
        for value in vars(current).values():
            if isinstance(value, str):
                assert token not in value, type(current)
        for request in requests_of(current):
            for name, value in request.headers.items():
                assert token not in value, (type(current), name)
    return count


async def failure(call: Callable[[], Awaitable[Any]]) -> SmartSenderError:
    with pytest.raises(SmartSenderError) as info:
        await call()
    return info.value


# ------------------------------------------------------------------ the helper itself


def test_the_helper_finds_a_token_deep_in_a_chain() -> None:
    request = httpx.Request("GET", BASE, headers={"Authorization": f"Bearer {TOKEN}"})
    inner = httpx.ConnectError("boom", request=request)
    try:
        try:
            raise inner
        except httpx.ConnectError:
            raise ValueError("outer") from None
    except ValueError as outer:
        with pytest.raises(AssertionError):
            assert_no_token(outer)  # found on __context__.request, despite "from None"


def test_scrub_walks_cycles_groups_and_every_request_attribute() -> None:
    from smartsender_async.errors import scrub

    if sys.version_info < (3, 11):  # pragma: no cover
        pytest.skip("ExceptionGroup is 3.11+")
    request = httpx.Request("GET", BASE, headers={"Authorization": f"Bearer {TOKEN}"})
    response = httpx.Response(500, request=request)
    inner = httpx.ReadError(f"read failed for Bearer {TOKEN}", request=request)
    status = httpx.HTTPStatusError("bad", request=request, response=response)
    group = ExceptionGroup("many", [inner, status])  # noqa: F821 - 3.11+
    outer = RuntimeError("outer", TOKEN)
    outer.__cause__ = group
    inner.__context__ = outer  # a cycle
    assert scrub(outer, (TOKEN,)) is outer
    assert_no_token(outer)
    for exc in (inner, status):
        assert_no_token(exc)
    assert inner.request.headers["authorization"] == "[redacted]"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"  # copies, not the original


# ------------------------------------------------------------------ tokens refused


@pytest.mark.parametrize(
    "token",
    [TOKEN + "\n", TOKEN + "\r\n", " " + TOKEN, "tok SECRET", TOKEN + "\t", "tok\x00x", "tök"],
    ids=["lf", "crlf", "space-lead", "space", "tab", "nul", "non-ascii"],
)
def test_tokens_with_whitespace_or_control_characters_are_refused(token: str) -> None:
    with pytest.raises(ValueError) as info:
        SmartSender(token)
    assert isinstance(info.value, ConfigurationError)
    assert token.strip() not in str(info.value) and "SECRET" not in str(info.value)
    assert "token" in str(info.value)


def test_a_token_from_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSENDER_TOKEN", TOKEN + "\n")
    with pytest.raises(ConfigurationError) as info:
        SmartSender()
    assert "SECRET" not in str(info.value)


# ------------------------------------------------------------------ respx


def _gzip_garbage() -> httpx.Response:
    return httpx.Response(
        200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip at all")
    )


RESPX_CASES: dict[str, tuple[Any, type[SmartSenderError]]] = {
    "connect-error": (httpx.ConnectError("connection refused"), APIConnectionError),
    "read-timeout": (httpx.ReadTimeout("timed out"), APITimeoutError),
    "decode-error": (httpx.Response(200, content=b"<html>not json</html>"), ResponseDecodeError),
    "bad-gzip": (_gzip_garbage(), ResponseDecodeError),
    # An h11 error whose text quotes the header (what a token with "\n" once produced).
    "h11-protocol-error": (
        httpx.LocalProtocolError(f"Illegal header value b'Bearer {TOKEN}'"),
        APIConnectionError,
    ),
    "remote-protocol-error": (httpx.RemoteProtocolError("peer closed"), APIConnectionError),
    "4xx": (
        httpx.Response(404, json={"error": {"code": 404, "message": "Not found"}}),
        NotFoundError,
    ),
    "5xx": (httpx.Response(503, text="<html>503</html>"), ServerError),
    "423": (
        httpx.Response(
            423,
            json={
                "error": {
                    "code": 423,
                    "message": "Too many requests. Please, try again in 600 seconds",
                }
            },
        ),
        RateLimitedError,
    ),
}


@pytest.mark.parametrize("case", list(RESPX_CASES))
@pytest.mark.parametrize("retries", [False, True], ids=["no-retry", "retry"])
async def test_no_token_on_any_failure_respx(case: str, retries: bool) -> None:
    effect, expected = RESPX_CASES[case]
    kwargs: dict[str, Any] = {"rate_limit": None}
    if not retries:
        kwargs["retry"] = None
    else:
        from smartsender_async import RetryPolicy

        kwargs["retry"] = RetryPolicy(max_attempts=2, backoff_base=0.0)
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/chats/5")
        if isinstance(effect, httpx.Response):
            # A fresh response per attempt (a stream reads once).
            content = effect.content if effect.is_stream_consumed else None
            if content is None:
                route.side_effect = lambda request: _gzip_garbage()
            else:
                route.side_effect = lambda request: httpx.Response(
                    effect.status_code, headers=effect.headers, content=content
                )
        else:
            route.side_effect = effect
        async with SmartSender(TOKEN, **kwargs) as client:
            exc = await failure(lambda: client.chats.get(5))
        assert route.called
        assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"
    assert isinstance(exc, expected), exc
    assert_no_token(exc)


async def test_no_token_from_an_event_hook_error() -> None:
    """Whatever a user's own http_client raises on the way is scrubbed as it passes."""

    async def hook(request: httpx.Request) -> None:
        raise RuntimeError(f"hook saw {request.headers['authorization']}")

    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        route = mock.get("/chats/5").respond(200, json={"id": 5})
        async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
            client = SmartSender(TOKEN, http_client=http, rate_limit=None, retry=None)
            with pytest.raises(RuntimeError) as info:
                await client.chats.get(5)
            await client.aclose()
    assert not route.called
    assert_no_token(info.value)


# ------------------------------------------------------------------ real sockets


class CannedServer:
    """A loopback TCP server that answers every connection with fixed bytes (or nothing)."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.stop = threading.Event()
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                if self.answer is not None:
                    conn.sendall(self.answer)
                    conn.shutdown(socket.SHUT_WR)

    def __enter__(self) -> CannedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        for conn in self.connections:
            conn.close()
        self.thread.join(5)


def _http(status: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


CANNED: dict[str, tuple[bytes, type[SmartSenderError]]] = {
    "decode-error": (_http("200 OK", {}, b"<html>hi</html>"), ResponseDecodeError),
    "bad-gzip": (_http("200 OK", {"Content-Encoding": "gzip"}, b"garbage!"), ResponseDecodeError),
    "truncated-gzip": (
        _http("200 OK", {"Content-Encoding": "gzip"}, gzip.compress(b'{"id": 5}')[:-6]),
        ResponseDecodeError,
    ),
    "h11-protocol-error": (b"this is not HTTP\r\n\r\n", APIConnectionError),
}


@pytest.mark.parametrize("case", list(CANNED))
async def test_no_token_on_hostile_socket_answers(case: str) -> None:
    answer, expected = CANNED[case]
    with CannedServer(answer) as server:
        async with SmartSender(TOKEN, base_url=server.url, rate_limit=None, retry=None) as client:
            exc = await failure(lambda: client.chats.get(5))
    assert isinstance(exc, expected), exc
    assert assert_no_token(exc) >= 1


async def test_no_token_on_connect_error_over_sockets() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    async with SmartSender(TOKEN, base_url=url, rate_limit=None, retry=None) as client:
        exc = await failure(lambda: client.chats.get(5))
    assert isinstance(exc, APIConnectionError)
    assert assert_no_token(exc) >= 2  # the httpx error is kept as the cause


async def test_no_token_on_read_timeout_over_sockets() -> None:
    with CannedServer(None) as server:  # accepts, never answers
        async with SmartSender(
            TOKEN, base_url=server.url, rate_limit=None, retry=None, timeout=0.2
        ) as client:
            exc = await failure(lambda: client.chats.get(5))
    assert isinstance(exc, APITimeoutError)
    assert_no_token(exc)


@pytest.mark.parametrize("case", ["4xx", "5xx", "423", "dropped", "read-timeout"])
async def test_no_token_on_emulator_errors_over_sockets(case: str) -> None:
    emulator = Emulator(
        seed=1, chats=2, token=TOKEN, rate_limit=(1, 60.0) if case == "423" else None
    )
    if case == "5xx":
        emulator.faults.error_rate = 1.0
    if case == "dropped":
        emulator.faults.drop_rate = 1.0
    if case == "read-timeout":
        emulator.faults.slow_rate = 1.0
        emulator.faults.slow_seconds = 2.0
    chat_id = emulator.chat_ids()[0]
    with emulator.serve() as url:
        async with SmartSender(
            TOKEN,
            base_url=url,
            rate_limit=None,
            retry=None,
            timeout=0.3 if case == "read-timeout" else 30.0,
        ) as client:
            if case == "423":
                await client.chats.get(chat_id)  # uses the quota of 1
            target = 999_999 if case == "4xx" else chat_id
            exc = await failure(lambda: client.chats.get(target))
    expected = {
        "4xx": NotFoundError,
        "5xx": ServerError,
        "423": RateLimitedError,
        "dropped": APIConnectionError,
        "read-timeout": APITimeoutError,
    }[case]
    assert isinstance(exc, expected), exc
    assert_no_token(exc)
