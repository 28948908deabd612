"""Hostile review of issue 13 ("Core trust"), written as a user reading the issue would
try it: public API only, real sockets (``Emulator.serve()`` and raw socket servers that
misbehave), respx, and in-process.  One test (or parametrized family) per defect."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import json
import logging
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import threading
import traceback
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import respx

import smartsender_async
from smartsender_async import (
    APIConnectionError,
    APITimeoutError,
    Chat,
    NotFoundError,
    Page,
    RateLimitedError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    SmartSender,
    SmartSenderError,
    errors,
)
from smartsender_async.testing import Emulator, Faults

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "attack-TOKEN-5f3a9c1e77"
NO_RETRY = RetryPolicy(max_attempts=1)
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.0, backoff_max=0.0)


# --------------------------------------------------------------------------- helpers


def walk(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        todo.extend(e for e in (cur.__cause__, cur.__context__) if e is not None)
        todo.extend(e for e in getattr(cur, "exceptions", ()) if isinstance(e, BaseException))


def shown_chain(exc: BaseException) -> Iterator[BaseException]:
    """The chain a traceback prints: ``__cause__``, else ``__context__`` unless suppressed."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)


def _requests(obj: Any) -> Iterator[httpx.Request]:
    for name in ("request", "response", "_request"):
        try:
            value = getattr(obj, name, None)
        except RuntimeError:
            continue
        if isinstance(value, httpx.Request):
            yield value
        if isinstance(value, httpx.Response):
            with contextlib.suppress(RuntimeError):
                yield value.request
    for value in list(getattr(obj, "__dict__", {}).values()):
        if isinstance(value, httpx.Request):
            yield value
        elif isinstance(value, httpx.Response):
            with contextlib.suppress(RuntimeError):
                yield value.request
            # httpx keeps response.history, next_request, ...
            for old in value.history:
                with contextlib.suppress(RuntimeError):
                    yield old.request


def assert_clean(exc: BaseException, token: str = TOKEN) -> None:
    """The token is nowhere on ``exc``: text, args, attributes, chained errors, requests,
    the formatted traceback, nor its pickle."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    assert token not in text
    for cur in walk(exc):
        assert token not in str(cur), type(cur)
        assert token not in repr(cur), type(cur)
        for arg in cur.args:
            assert token not in repr(arg), type(cur)
        for name, value in list(getattr(cur, "__dict__", {}).items()):
            if isinstance(value, (str, bytes)):
                assert token not in (value if isinstance(value, str) else value.decode("latin1")), (
                    type(cur),
                    name,
                )
        assert token not in repr(getattr(cur, "body", None)), type(cur)
        response = getattr(cur, "response", None)
        if isinstance(response, httpx.Response):
            with contextlib.suppress(httpx.ResponseNotRead):
                assert token.encode() not in response.content, type(cur)
            assert token not in repr(response.headers.multi_items()), type(cur)
        for request in _requests(cur):
            for key, value in request.headers.raw:
                assert token.encode() not in value, (type(cur), key)
            assert token not in repr(request.headers)
            assert token not in str(request.url)
    try:
        blob = pickle.dumps(exc)
    except Exception:  # unpicklable is another test's failure
        blob = b""
    assert token.encode() not in blob


async def expect_failure(coro: Any) -> BaseException:
    try:
        await coro
    except BaseException as exc:
        return exc
    raise AssertionError("no exception")


class RawServer:
    """A loopback TCP server answering each connection with canned bytes (or nothing)."""

    def __init__(self, payload: bytes | None, *, close: bool = True) -> None:
        self.payload = payload
        self.close = close
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.held: list[socket.socket] = []
        self.connections = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with contextlib.suppress(OSError):
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if self.payload is not None:
                    conn.sendall(self.payload)
            if self.payload is None or not self.close:
                self.held.append(conn)  # never answer / keep open
            else:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()

    def stop(self) -> None:
        self._stop = True
        self.sock.close()
        for c in self.held:
            with contextlib.suppress(OSError):
                c.close()


@contextlib.contextmanager
def raw_server(payload: bytes | None, *, close: bool = True) -> Iterator[RawServer]:
    server = RawServer(payload, close=close)
    try:
        yield server
    finally:
        server.stop()


def http_response(status: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------- 2: tokens


HOSTILE_TOKENS = [
    TOKEN + "\n",
    TOKEN + "\r\n",
    TOKEN + "\t",
    "\t" + TOKEN,
    TOKEN + " ",
    " " + TOKEN,
    TOKEN + "\u00a0",
    TOKEN + "\u2003",
    TOKEN + "\u3000",
    TOKEN[:5] + "\u200b" + TOKEN[5:],
    "\ufeff" + TOKEN,
    TOKEN + "\x00",
    TOKEN + "\x7f",
    TOKEN + "\x0b",
    TOKEN[:5] + "\r" + TOKEN[5:],
    TOKEN + "é",
]


@pytest.mark.parametrize("token", HOSTILE_TOKENS, ids=lambda t: repr(t[-3:]))
def test_hostile_token_refused_without_repeating_it(token: str) -> None:
    with pytest.raises(ValueError) as info:
        SmartSender(token=token, base_url="http://127.0.0.1:9/v1")
    assert_clean(info.value, TOKEN)
    assert TOKEN[:8] not in str(info.value)


@pytest.mark.parametrize("token", [TOKEN + "\n", TOKEN + "\r\n"])
def test_hostile_token_from_environment_refused(
    token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTSENDER_TOKEN", token)
    monkeypatch.setenv("SMARTSENDER_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(ValueError) as info:
        SmartSender()
    assert_clean(info.value, TOKEN)


@pytest.mark.parametrize("token", [b"abc", 123, ["abc"]])
def test_non_string_token_is_a_type_error(token: Any) -> None:
    with pytest.raises(TypeError) as info:
        SmartSender(token=token, base_url="http://127.0.0.1:9/v1")
    assert "token" in str(info.value)


def test_repr_of_client_and_resources_hide_token() -> None:
    client = SmartSender(token=TOKEN, base_url="http://127.0.0.1:9/v1")
    try:
        for obj in (client, client.chats, client.contacts, client.rate_limiter, client.gates):
            assert TOKEN not in repr(obj) and TOKEN not in str(obj)
    finally:
        asyncio.run(client.aclose())


# --------------------------------------------------------------------------- 1: redaction


def _gzip_garbage_body() -> bytes:
    return b"\x1f\x8b\x08\x00garbage-not-gzip" * 4


SOCKET_CASES: dict[str, tuple[bytes | None, type[BaseException]]] = {
    "h11-garbage": (b"garbage that is not HTTP at all\r\n\r\n", APIConnectionError),
    "h11-bad-status-line": (b"HTTP/1.1 abc\r\n\r\n", APIConnectionError),
    "h11-truncated": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", APIConnectionError),
    "bad-gzip-200": (
        http_response("200 OK", _gzip_garbage_body(), {"Content-Encoding": "gzip"}),
        ResponseDecodeError,
    ),
    "bad-deflate-200": (
        http_response("200 OK", b"\x00\x01\x02notdeflate", {"Content-Encoding": "deflate"}),
        ResponseDecodeError,
    ),
    "br-200": (
        http_response("200 OK", b"\x8b\x02\x80garbage", {"Content-Encoding": "br"}),
        ResponseDecodeError,
    ),
    "invalid-json-200": (http_response("200 OK", b"{not json"), ResponseDecodeError),
    "404": (
        http_response(
            "404 Not Found",
            b'{"error":{"code":404,"message":"Not found ' + TOKEN.encode() + b'"}}',
        ),
        NotFoundError,
    ),
    "503": (http_response("503 Service Unavailable", b"<html>down</html>"), ServerError),
    "423": (
        http_response(
            "423 Locked",
            b'{"error":{"code":423,"message":"Too many requests. Please, try again in 3600 '
            b'seconds"}}',
        ),
        RateLimitedError,
    ),
    "401-echoing-token": (
        http_response(
            "401 Unauthorized", b'{"message":"bad token Bearer ' + TOKEN.encode() + b'"}'
        ),
        errors.AuthenticationError,
    ),
}


@pytest.mark.parametrize("retry", [NO_RETRY, FAST_RETRY], ids=["once", "retried"])
@pytest.mark.parametrize("case", list(SOCKET_CASES))
async def test_no_token_over_raw_sockets(case: str, retry: RetryPolicy) -> None:
    payload, expected = SOCKET_CASES[case]
    with raw_server(payload) as server:
        async with SmartSender(token=TOKEN, base_url=server.url, retry=retry) as client:
            exc = await expect_failure(client.chats.get(1))
    assert isinstance(exc, expected), repr(exc)
    assert isinstance(exc, SmartSenderError)
    assert_clean(exc)


async def test_no_token_on_connect_error_closed_port() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    async with SmartSender(token=TOKEN, base_url=url, retry=FAST_RETRY) as client:
        exc = await expect_failure(client.chats.list())
    assert isinstance(exc, APIConnectionError)
    assert_clean(exc)
    # httpx's or httpx2's ConnectError (the suite also runs with --http-backend=httpx2)
    assert any(type(e).__name__ == "ConnectError" for e in walk(exc))


async def test_no_token_on_read_timeout_raw_socket() -> None:
    with raw_server(None) as server:
        async with SmartSender(
            token=TOKEN, base_url=server.url, timeout=0.3, retry=NO_RETRY
        ) as client:
            exc = await expect_failure(client.chats.get(1))
    assert isinstance(exc, APITimeoutError)
    assert_clean(exc)


async def test_no_token_on_send_post_read_timeout_not_resent() -> None:
    """A send that timed out after the request left is not repeated (it may have landed)."""
    with raw_server(None) as server:
        async with SmartSender(
            token=TOKEN, base_url=server.url, timeout=0.3, retry=FAST_RETRY
        ) as client:
            exc = await expect_failure(client.contacts.send(1, "hello"))
        assert server.connections == 1
    assert isinstance(exc, APITimeoutError)
    assert_clean(exc)


@pytest.mark.parametrize("case", ["404", "401", "503", "423", "timeout"])
async def test_no_token_against_served_emulator(case: str) -> None:
    emulator = Emulator(seed=1, chats=3, token=TOKEN, rate_limit=(1, 60.0))
    if case == "503":
        emulator.quota = None
        emulator.faults = Faults(error_rate=1.0, error_statuses=(503,))
    if case == "timeout":
        emulator.quota = None
        emulator.faults = Faults(slow_rate=1.0, slow_seconds=3.0)
    with emulator.serve() as url:
        token = "wrong-" + TOKEN if case == "401" else TOKEN
        async with SmartSender(
            token=token, base_url=url, retry=NO_RETRY, rate_limit=None, timeout=0.5
        ) as client:
            chat_id = emulator.chat_ids()[0]
            if case == "423":
                await client.chats.get(chat_id)
            exc = await expect_failure(client.chats.get(999_999 if case == "404" else chat_id))
    expected = {
        "404": NotFoundError,
        "401": errors.AuthenticationError,
        "503": ServerError,
        "423": RateLimitedError,
        "timeout": APITimeoutError,
    }[case]
    assert isinstance(exc, expected), repr(exc)
    assert_clean(exc)
    assert_clean(exc, "wrong-" + TOKEN)
    if case == "423":
        assert exc.status_code == 423 and exc.retry_after is not None


RESPX_SIDE_EFFECTS: dict[str, Any] = {
    "connect": httpx.ConnectError("refused"),
    "read-timeout": httpx.ReadTimeout("slow"),
    "decode": httpx.DecodingError("bad gzip"),
    "protocol": httpx.RemoteProtocolError("h11 said no"),
    "bad-gzip": httpx.Response(
        200, stream=httpx.ByteStream(_gzip_garbage_body()), headers={"Content-Encoding": "gzip"}
    ),
    "404": httpx.Response(404, json={"error": {"code": 404, "message": "nope"}}),
    "503": httpx.Response(503, text="down"),
    "423": httpx.Response(
        423, json={"error": {"code": 423, "message": "Too many requests. try again in 999 sec"}}
    ),
}


@pytest.mark.parametrize("case", list(RESPX_SIDE_EFFECTS))
async def test_no_token_respx(case: str) -> None:
    base = "https://api.smartsender.com/v1"
    with respx.mock(base_url=base, assert_all_called=False) as mock:
        mock.get("/chats/1").mock(side_effect=[RESPX_SIDE_EFFECTS[case]] * 5)
        async with SmartSender(token=TOKEN, base_url=base, retry=FAST_RETRY) as client:
            exc = await expect_failure(client.chats.get(1))
    assert isinstance(exc, SmartSenderError), repr(exc)
    assert_clean(exc)


async def test_no_token_from_a_user_event_hook() -> None:
    async def hook(request: httpx.Request) -> None:
        raise RuntimeError(f"hook saw {request.headers['authorization']}")

    base = "https://api.smartsender.com/v1"
    http = httpx.AsyncClient(
        event_hooks={"request": [hook]},
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})),
    )
    async with SmartSender(token=TOKEN, base_url=base, http_client=http) as client:
        exc = await expect_failure(client.chats.get(1))
    await http.aclose()
    assert_clean(exc)


async def test_debug_logging_never_shows_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root: smartsender_async, httpx, httpcore, asyncio
    emulator = Emulator(seed=1, chats=3, token=TOKEN, rate_limit=(2, 60.0))
    with emulator.serve() as url:
        async with SmartSender(token=TOKEN, base_url=url, retry=NO_RETRY, rate_limit=None) as c:
            for _ in range(3):
                with contextlib.suppress(SmartSenderError):
                    await c.chats.get(emulator.chat_ids()[0])
            with contextlib.suppress(SmartSenderError):
                await c.chats.get(999_999)
    with raw_server(b"garbage\r\n\r\n") as server:
        async with SmartSender(token=TOKEN, base_url=server.url, retry=FAST_RETRY) as c:
            with contextlib.suppress(SmartSenderError):
                await c.chats.get(1)
    assert caplog.records
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        if record.exc_info:
            assert TOKEN not in "".join(traceback.format_exception(*record.exc_info))


# --------------------------------------------------------------------------- hostile bodies


def _gzip_bomb(size: int) -> bytes:
    return gzip.compress(b" " * size)


HOSTILE_BODIES: dict[str, tuple[str, bytes, dict[str, str], type[SmartSenderError]]] = {
    "bad-gzip-200": (
        "200 OK",
        _gzip_garbage_body(),
        {"Content-Encoding": "gzip"},
        ResponseDecodeError,
    ),
    "truncated-gzip-200": (
        "200 OK",
        gzip.compress(b'{"id": 1}' * 50)[:-12],
        {"Content-Encoding": "gzip"},
        ResponseDecodeError,
    ),
    "bad-brotli-200": (
        "200 OK",
        b"\xff\xfe\xfd not brotli",
        {"Content-Encoding": "br"},
        ResponseDecodeError,
    ),
    "bad-gzip-503": (
        "503 Service Unavailable",
        _gzip_garbage_body(),
        {"Content-Encoding": "gzip"},
        ServerError,
    ),
    "nest-200": ("200 OK", b"[" * 50_000, {}, ResponseDecodeError),
    "nest-closed-200": ("200 OK", b"[" * 50_000 + b"]" * 50_000, {}, ResponseDecodeError),
    "nest-object-200": ("200 OK", b'{"a":' * 50_000, {}, ResponseDecodeError),
    "nest-503": ("503 Service Unavailable", b"[" * 50_000, {}, ServerError),
    "nest-404": ("404 Not Found", b'{"error":' * 50_000, {}, NotFoundError),
    "invalid-utf8-200": ("200 OK", b'{"id": 1, "name": "\xff\xfe\xc3"}', {}, ResponseDecodeError),
    "invalid-utf8-404": ("404 Not Found", b'{"error": {"message": "\xff\xfe"}}', {}, NotFoundError),
    "huge-int-200": ("200 OK", b'{"id": 1' + b"0" * 100_000 + b"}", {}, ResponseDecodeError),
    "huge-float-200": ("200 OK", b'{"id": 1e999999}', {}, ResponseDecodeError),
    "huge-int-id-small": ("200 OK", b'{"id": ' + b"9" * 5000 + b"}", {}, ResponseDecodeError),
    "too-large-200": (
        "200 OK",
        b'{"id": 1, "name": "' + b"x" * 200_000 + b'"}',
        {},
        ResponseDecodeError,
    ),
    "gzip-bomb-200": (
        "200 OK",
        _gzip_bomb(5_000_000),
        {"Content-Encoding": "gzip"},
        ResponseDecodeError,
    ),
    "too-large-503": ("503 Service Unavailable", b"x" * 200_000, {}, ServerError),
    "empty-200": ("200 OK", b"", {}, ResponseDecodeError),
    "wrong-shape-200": ("200 OK", b'{"id": "not-an-int", "gates": 5}', {}, ResponseDecodeError),
    "list-200": ("200 OK", b"[1, 2, 3]", {}, ResponseDecodeError),
    "null-200": ("200 OK", b"null", {}, ResponseDecodeError),
    "nan-200": ("200 OK", b'{"id": NaN}', {}, ResponseDecodeError),
}


def _assert_typed_with_body(exc: BaseException, expected: type[SmartSenderError]) -> None:
    assert isinstance(exc, expected), repr(exc)
    for cur in shown_chain(exc):
        assert not isinstance(cur, (RecursionError, json.JSONDecodeError, zlib.error)), repr(cur)
    raw = exc.raw_body  # type: ignore[attr-defined]
    assert isinstance(raw, str)
    assert len(raw) <= 10_000
    str(exc), repr(exc)  # both must work and be bounded
    assert len(str(exc)) < 5_000
    pickle.loads(pickle.dumps(exc))


@pytest.mark.parametrize("case", list(HOSTILE_BODIES))
async def test_hostile_body_over_sockets(case: str) -> None:
    status, body, headers, expected = HOSTILE_BODIES[case]
    with raw_server(http_response(status, body, headers)) as server:
        async with SmartSender(
            token=TOKEN, base_url=server.url, retry=NO_RETRY, max_response_bytes=100_000
        ) as client:
            exc = await expect_failure(client.chats.get(1))
    _assert_typed_with_body(exc, expected)
    if case.startswith(("too-large-200", "gzip-bomb")):
        assert isinstance(exc, errors.ResponseTooLargeError)
    assert_clean(exc)


@pytest.mark.parametrize("case", ["nest-200", "nest-503", "invalid-utf8-200", "bad-gzip-200"])
async def test_hostile_body_raw_request_and_respx(case: str) -> None:
    """Also through ``client.request()`` without a model, and through respx."""
    status, body, headers, expected = HOSTILE_BODIES[case]
    base = "https://api.smartsender.com/v1"
    with respx.mock(base_url=base) as mock:
        mock.get("/anything").mock(
            return_value=httpx.Response(
                int(status[:3]), stream=httpx.ByteStream(body), headers=headers
            )
        )
        async with SmartSender(token=TOKEN, base_url=base, retry=NO_RETRY) as client:
            exc = await expect_failure(client.request("GET", "/anything"))
    if case == "invalid-utf8-200":
        # JSON text must be UTF-8; lenient decoding is acceptable only if it is typed.
        assert isinstance(exc, ResponseDecodeError)
    assert isinstance(exc, expected), repr(exc)
    assert_clean(exc)


def test_max_response_bytes_default_and_validation() -> None:
    for bad in (0, -1, 1.5, "10", True):
        with pytest.raises((TypeError, ValueError)):
            SmartSender(token=TOKEN, base_url="http://127.0.0.1:9/v1", max_response_bytes=bad)


def test_response_too_large_error_exported_at_root() -> None:
    assert smartsender_async.ResponseTooLargeError is errors.ResponseTooLargeError


async def test_max_response_bytes_exact_boundary() -> None:
    body = b'{"id": 7}'
    for limit, ok in ((len(body), True), (len(body) - 1, False)):
        with raw_server(http_response("200 OK", body)) as server:
            async with SmartSender(
                token=TOKEN, base_url=server.url, retry=NO_RETRY, max_response_bytes=limit
            ) as client:
                if ok:
                    assert (await client.chats.get(7)).id == 7
                else:
                    exc = await expect_failure(client.chats.get(7))
                    assert isinstance(exc, errors.ResponseTooLargeError)


async def test_chunked_body_over_limit_without_content_length() -> None:
    chunk = b"x" * 4096
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(100)) + b"0\r\n\r\n"
    payload = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body
    with raw_server(payload) as server:
        async with SmartSender(
            token=TOKEN, base_url=server.url, retry=NO_RETRY, max_response_bytes=10_000
        ) as client:
            exc = await expect_failure(client.chats.get(1))
    assert isinstance(exc, errors.ResponseTooLargeError)
    assert len(exc.raw_body) <= 10_000


# --------------------------------------------------------------------------- 3: threads

THREAD_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, threading
    from smartsender_async import Chat, Message, Page, converter
    from smartsender_async.testing import Emulator

    emulator = Emulator(seed=3, chats=40, rate_limit=None)
    barrier = threading.Barrier(8)
    failures = []

    async def use(i):
        async with emulator.client() as client:
            barrier.wait()
            if i % 2:
                page = await client.chats.list(limitation=20)
                assert len(page.collection if hasattr(page, "collection") else page) > 0
                chat = page.collection[0] if hasattr(page, "collection") else list(page)[0]
                await client.chats.messages(chat.id)
            else:
                await client.chats.messages(emulator.chat_ids()[i])

    def run(i):
        try:
            asyncio.run(use(i))
        except BaseException as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    print("FAILURES", failures)
    sys.exit(1 if failures else 0)
    """
)


def test_eight_threads_first_decode_in_cold_processes() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", THREAD_SCRIPT],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    bad = [o for p, o in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert not bad, bad[0][-3000:]


CONVERTER_THREAD_SCRIPT = textwrap.dedent(
    """
    import sys, threading, json
    from smartsender_async import Chat, Message, Page, Contact, Operator, converter
    raw = json.loads(sys.argv[1])
    barrier = threading.Barrier(8)
    failures = []
    def run(i):
        try:
            barrier.wait()
            kind = [Page[Chat], Chat, Page[Chat], Chat][i % 4]
            data = raw if kind is not Chat else raw["collection"][0]
            out = converter.structure(data, kind)
            assert out is not None
        except BaseException as exc:
            failures.append(repr(exc))
    ts = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print(failures); sys.exit(1 if failures else 0)
    """
)


async def test_eight_threads_public_converter_cold() -> None:
    emulator = Emulator(seed=3, chats=5, rate_limit=None)
    async with emulator.http_client() as http:
        raw = (await http.get("/chats", params={"page": 1, "limitation": 20})).text
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 - the test's loop has nothing else to do
            [sys.executable, "-c", CONVERTER_THREAD_SCRIPT, raw],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    bad = [o for p, o in zip(procs, outs, strict=True) if p.returncode != 0]
    assert not bad, bad[0][-3000:]


# --------------------------------------------------------------------------- 4: pickle


def _exported_exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in (smartsender_async, errors):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                found[value.__qualname__] = value
    return [found[k] for k in sorted(found)]


def _instance(cls: type[BaseException]) -> BaseException:
    request = httpx.Request(
        "GET",
        "https://api.smartsender.com/v1/chats/1",
        headers={"Authorization": "Bearer " + TOKEN},
    )
    if issubclass(cls, errors.RateLimitedError):
        response = httpx.Response(
            423,
            json={"error": {"code": 423, "message": "try again in 42 seconds"}},
            request=request,
            headers={"Retry-After": "42"},
        )
        return errors.from_response(response)
    if issubclass(cls, errors.APIError):
        status = getattr(cls, "status", None) or (503 if cls is ServerError else 418)
        response = httpx.Response(
            status,
            json={"error": {"code": 7000 + status, "message": f"msg {status}"}},
            request=request,
        )
        built = errors.from_response(response)
        if type(built) is not cls:
            built = cls(
                f"msg {status}", status_code=status, response=response, raw_body="x", code=9
            )
        return built
    if issubclass(cls, ResponseDecodeError):
        response = httpx.Response(200, content=b"<html>", request=request)
        return cls("bad body", status_code=200, raw_body="<html>", response=response)
    if cls.__name__ == "LockGateClosedError":
        return cls(12.5)  # type: ignore[call-arg]
    try:
        return cls("something went wrong")
    except TypeError:
        return cls()


@pytest.mark.parametrize("cls", _exported_exception_classes(), ids=lambda c: c.__name__)
def test_every_exported_exception_pickles(cls: type[BaseException]) -> None:
    exc = _instance(cls)
    assert type(exc) is cls
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(exc, protocol=protocol))
        assert type(back) is cls
        assert str(back) == str(exc)
        assert back.args == exc.args
        for attr in (
            "status_code",
            "message",
            "code",
            "retry_after",
            "status",
            "raw_body",
            "retries_taken",
        ):
            assert getattr(back, attr, None) == getattr(exc, attr, None), attr
    assert TOKEN.encode() not in pickle.dumps(exc)


async def test_real_raised_errors_pickle_across_processes() -> None:
    """What a multiprocessing pool does: pickle what the client raised, unpickle elsewhere."""
    emulator = Emulator(seed=1, chats=2, rate_limit=None)
    raised: list[BaseException] = []
    async with emulator.client(retry=NO_RETRY) as client:
        raised.append(await expect_failure(client.chats.get(999_999)))
        raised.append(await expect_failure(client.contacts.get(999_999)))
    with raw_server(b"garbage\r\n\r\n") as server:
        async with SmartSender(token=TOKEN, base_url=server.url, retry=NO_RETRY) as c:
            raised.append(await expect_failure(c.chats.get(1)))
    with raw_server(http_response("200 OK", b"[" * 50_000)) as server:
        async with SmartSender(token=TOKEN, base_url=server.url, retry=NO_RETRY) as c:
            raised.append(await expect_failure(c.chats.get(1)))
    blob = pickle.dumps(raised)
    code = (
        "import pickle, sys; errs = pickle.loads(sys.stdin.buffer.read()); "
        "print([(type(e).__name__, getattr(e, 'status_code', None)) for e in errs])"
    )
    out = subprocess.run(  # noqa: ASYNC221
        [sys.executable, "-c", code],
        input=blob,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=60,
    ).stdout.decode()
    assert "NotFoundError" in out and "ResponseDecodeError" in out and "APIConnectionError" in out


# --------------------------------------------------------------------------- 5: loops

LOOP_SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, os, sys, warnings
    warnings.simplefilter("error")
    from smartsender_async import SmartSender
    url, token = sys.argv[1], sys.argv[2]

    def sockets():
        n = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                    n += 1
            except OSError:
                pass
        return n

    before = sockets()
    client = SmartSender(token=token, base_url=url, rate_limit=None)

    async def use():
        await asyncio.gather(*(client.chats.list() for _ in range(4)))

    async def use_trio():
        import trio
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(client.chats.list)

    if len(sys.argv) > 3 and sys.argv[3] == "trio":
        import trio
        trio.run(use_trio)
    else:
        asyncio.run(use())
    during = sockets()
    asyncio.run(client.aclose())
    gc.collect()
    after = sockets()
    print("SOCKETS", before, during, after)
    assert during > before, (before, during)
    assert after <= before, (before, during, after)
    """
)


@pytest.mark.parametrize("first", ["asyncio", "trio"])
def test_aclose_in_a_second_asyncio_run_closes_sockets_no_warnings(first: str) -> None:
    if first == "trio":
        pytest.importorskip("trio")
    emulator = Emulator(seed=1, chats=5, rate_limit=None)
    with emulator.serve() as url:
        proc = subprocess.run(
            [
                sys.executable,
                "-W",
                "error",
                "-X",
                "dev",
                "-c",
                LOOP_SCRIPT,
                url,
                emulator.token,
                first,
            ],
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "error"},
            timeout=60,
        )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err[-3000:]
    assert "ResourceWarning" not in err and "Exception ignored" not in err, err[-3000:]
    assert "RuntimeError" not in err


def test_aclose_from_new_loop_in_process() -> None:
    emulator = Emulator(seed=1, chats=5, rate_limit=None)
    with emulator.serve() as url:
        client = SmartSender(token=emulator.token, base_url=url, rate_limit=None)

        async def use() -> None:
            await client.chats.list()

        asyncio.run(use())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            asyncio.run(client.aclose())
        assert client.is_closed
        asyncio.run(client.aclose())  # idempotent


def test_client_used_in_two_loops_raises_clear_error() -> None:
    emulator = Emulator(seed=1, chats=5, rate_limit=None)
    with emulator.serve() as url:
        client = SmartSender(token=emulator.token, base_url=url, rate_limit=None)

        async def use() -> None:
            await client.chats.list()

        asyncio.run(use())
        with pytest.raises(SmartSenderError) as info:
            asyncio.run(use())
        assert not isinstance(info.value, RecursionError)
        assert "loop" in str(info.value).lower()
        assert isinstance(info.value, RuntimeError)  # EventLoopMismatchError is one
        asyncio.run(client.aclose())


def test_client_used_in_two_threads_concurrently_raises_clear_error() -> None:
    emulator = Emulator(seed=1, chats=5, rate_limit=None)
    client = emulator.client()
    started = threading.Event()
    release = threading.Event()
    outcome: list[BaseException | None] = []

    async def first() -> None:
        await client.chats.list()
        started.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait)

    async def second() -> None:
        try:
            await client.chats.list()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=lambda: asyncio.run(first()))
    t.start()
    started.wait(10)
    asyncio.run(second())
    release.set()
    t.join()
    assert isinstance(outcome[0], smartsender_async.EventLoopMismatchError)
    asyncio.run(client.aclose())


def test_trio_then_asyncio_is_a_clear_error() -> None:
    trio = pytest.importorskip("trio")
    emulator = Emulator(seed=1, chats=5, rate_limit=None)
    with emulator.serve() as url:
        client = SmartSender(token=emulator.token, base_url=url, rate_limit=None)

        async def use() -> None:
            await client.chats.list()

        trio.run(use)
        with pytest.raises(smartsender_async.EventLoopMismatchError):
            asyncio.run(use())
        asyncio.run(client.aclose())


# --------------------------------------------------------------------------- 7: subclasses


@attrs.frozen
class ScoredChat(Chat):
    score: int = attrs.field(default=0, converter=int, validator=attrs.validators.ge(0))


@attrs.frozen
class ShoutyChat(Chat):
    name: str | None = attrs.field(
        default=None, converter=lambda v: v.upper() if isinstance(v, str) else v
    )


@attrs.frozen(kw_only=True)
class KwChat(Chat):
    tag: str = attrs.field(default="none", validator=attrs.validators.instance_of(str))


def _chat_body(**extra: Any) -> dict[str, Any]:
    return {"id": 12, "name": "Anna", "unreadMessages": 3, "gates": [], **extra}


@pytest.mark.parametrize(
    ("model", "body", "check"),
    [
        (ScoredChat, _chat_body(score="5"), lambda c: c.score == 5 and c.name == "Anna"),
        (ScoredChat, _chat_body(), lambda c: c.score == 0 and c.id == 12),
        (ShoutyChat, _chat_body(), lambda c: c.name == "ANNA" and c.id == 12),
        (KwChat, _chat_body(tag="vip"), lambda c: c.tag == "vip" and c.unread_messages == 3),
    ],
)
async def test_user_subclass_of_a_model_decodes(model: type, body: Any, check: Any) -> None:
    base = "https://api.smartsender.com/v1"
    with respx.mock(base_url=base) as mock:
        mock.get("/chats/12").mock(return_value=httpx.Response(200, json=body))
        async with SmartSender(token=TOKEN, base_url=base) as client:
            chat = await client.request("GET", "/chats/12", model=model)
    assert type(chat) is model
    assert check(chat), chat
    assert chat.unread_messages == 3


async def test_user_subclass_validator_failure_is_typed() -> None:
    base = "https://api.smartsender.com/v1"
    with respx.mock(base_url=base) as mock:
        mock.get("/chats/12").mock(return_value=httpx.Response(200, json=_chat_body(score=-4)))
        async with SmartSender(token=TOKEN, base_url=base) as client:
            exc = await expect_failure(client.request("GET", "/chats/12", model=ScoredChat))
    assert isinstance(exc, (ResponseDecodeError, TypeError)), repr(exc)


async def test_user_subclass_in_a_page() -> None:
    base = "https://api.smartsender.com/v1"
    body = {
        "collection": [_chat_body(score=1), _chat_body(id=13, score=2)],
        "cursor": {"page": 1, "pages": 1, "limitation": 20, "total": 2},
    }
    with respx.mock(base_url=base) as mock:
        mock.get("/chats").mock(return_value=httpx.Response(200, json=body))
        async with SmartSender(token=TOKEN, base_url=base) as client:
            page = await client.request("GET", "/chats", model=Page[ScoredChat])
    items = list(page)
    assert [type(c) for c in items] == [ScoredChat, ScoredChat]
    assert [c.score for c in items] == [1, 2]


# --------------------------------------------------------------------------- 8: query merge


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/contacts/5/fire?name=x", {"name": "y"}, {"name": ["y"]}),
        ("/contacts/5/fire?name=x", {"b": 2}, {"name": ["x"], "b": ["2"]}),
        (
            "/contacts/5/fire?name=x&a=1",
            {"a": "2", "c": "3"},
            {"name": ["x"], "a": ["2"], "c": ["3"]},
        ),
        ("/contacts/5/fire?name=x", None, {"name": ["x"]}),
        ("/contacts/5/fire?name=x", {}, {"name": ["x"]}),
        ("/contacts/5/fire?name=a%20b", {"z": 1}, {"name": ["a b"], "z": ["1"]}),
        ("/contacts/5/fire", {"name": "y"}, {"name": ["y"]}),
    ],
)
async def test_query_in_path_is_merged_params_win(
    path: str, params: Any, expected: dict[str, list[str]]
) -> None:
    from urllib.parse import parse_qs

    base = "https://api.smartsender.com/v1"
    with respx.mock(base_url=base) as mock:
        route = mock.post("/contacts/5/fire").mock(
            return_value=httpx.Response(200, json={"state": True})
        )
        async with SmartSender(token=TOKEN, base_url=base) as client:
            await client.request("POST", path, params=params)
    url = route.calls.last.request.url
    assert url.path == "/v1/contacts/5/fire"
    assert parse_qs(url.query.decode()) == expected


async def test_query_merge_over_real_sockets_twice() -> None:
    """The URL cache must not keep one call's params for the next."""
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    with emulator.serve() as url:
        async with emulator.client(base_url=url) as client:
            a = await client.request("GET", "/chats?limitation=1", params={"page": 1})
            b = await client.request("GET", "/chats?limitation=1", params={"limitation": 2})
    assert len(a["collection"]) == 1
    assert len(b["collection"]) == 2


# --------------------------------------------------------------------------- 9: strict args

BAD_IDS = [
    "١٢",
    "１２",
    "12 ",
    " 12",
    "+12",
    "-12",
    "1e3",
    "",
    "0x10",
    1.0,
    12.0,
    True,
    False,
    None,
    0,
    -1,
    b"12",
    [12],
]
BAD_BOOLS = ["no", "false", "", 0, 1, None, "True", 1.0, []]


def _id_calls(bad: Any) -> list[tuple[str, Any]]:
    return [
        ("chats.get", lambda c: c.chats.get(bad)),
        ("chats.read", lambda c: c.chats.read(bad)),
        ("chats.close", lambda c: c.chats.close(bad)),
        ("chats.assign chat", lambda c: c.chats.assign(bad, 101)),
        ("chats.assign operator", lambda c: c.chats.assign(1, bad)),
        ("chats.messages", lambda c: c.chats.messages(bad)),
        ("chats.stream_messages", lambda c: _first(c.chats.stream_messages(bad))),
        ("chats.stream_all_messages", lambda c: _first(c.chats.stream_all_messages([bad]))),
        ("chats.list operator", lambda c: c.chats.list(selector="private", operator_id=bad)),
        ("contacts.get", lambda c: c.contacts.get(bad)),
        ("contacts.chat", lambda c: c.contacts.chat(bad)),
        ("contacts.messages", lambda c: c.contacts.messages(bad)),
        ("contacts.stream_messages", lambda c: _first(c.contacts.stream_messages(bad))),
        ("contacts.send", lambda c: c.contacts.send(bad, "hi")),
        ("gates.edit_message gate", lambda c: c.gates.edit_message(bad, 1, "x")),
        ("gates.edit_message message", lambda c: c.gates.edit_message(1, bad, "x")),
        ("gates.delete_messages gate", lambda c: c.gates.delete_messages(bad, [1])),
        ("gates.delete_messages message", lambda c: c.gates.delete_messages(1, [bad])),
    ]


def _bool_calls(bad: Any) -> list[tuple[str, Any]]:
    return [
        ("chats.messages", lambda c: c.chats.messages(1, activities=bad)),
        ("chats.stream_messages", lambda c: _first(c.chats.stream_messages(1, activities=bad))),
        (
            "chats.stream_all_messages",
            lambda c: _first(c.chats.stream_all_messages([1], activities=bad)),
        ),
        ("contacts.messages", lambda c: c.contacts.messages(1, activities=bad)),
        (
            "contacts.stream_messages",
            lambda c: _first(c.contacts.stream_messages(1, activities=bad)),
        ),
    ]


async def _first(stream: Any) -> Any:
    async for item in stream:
        return item
    return None


async def _run_refused(call: Any) -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    async with emulator.client(retry=NO_RETRY) as client:
        with pytest.raises((TypeError, ValueError)):  # noqa: PT012 - at call or at await
            result = call(client)
            if asyncio.iscoroutine(result):
                await result
    assert emulator.stats.requests == 0


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_bad_ids_refused_everywhere_before_io(bad: Any) -> None:
    for name, call in _id_calls(bad):
        try:
            await _run_refused(call)
        except BaseException as exc:  # name the method in the failure
            raise AssertionError(f"{name}({bad!r}): {exc!r}") from exc


@pytest.mark.parametrize("bad", BAD_BOOLS, ids=repr)
async def test_bad_bools_refused_everywhere_before_io(bad: Any) -> None:
    for name, call in _bool_calls(bad):
        try:
            await _run_refused(call)
        except BaseException as exc:
            raise AssertionError(f"{name}(activities={bad!r}): {exc!r}") from exc


async def test_ascii_digit_string_ids_still_work() -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    chat_id = emulator.chat_ids()[0]
    async with emulator.client() as client:
        assert (await client.chats.get(str(chat_id))).id == chat_id


# --------------------------------------------------------------------------- 11/12: plugin


PLUGIN_TESTS = textwrap.dedent(
    """
    import pytest
    from smartsender_async import SmartSender

    @pytest.mark.smartsender_emulator(3)
    def test_positional(smartsender_emulator):
        pass

    @pytest.mark.smartsender_emulator(3, chats=4)
    def test_positional_and_kw(smartsender_emulator):
        pass

    @pytest.mark.smartsender_emulator(chats=4)
    def test_keyword(smartsender_emulator):
        assert len(smartsender_emulator.chat_ids()) == 4

    @pytest.mark.smartsender_emulator(rate_limit=(30, 2.0), chats=30)
    async def test_fixture_client_paces_at_quota(smartsender_client):
        rate = smartsender_client.rate_limiter.rate
        assert (rate.requests, rate.period) == (30, 2.0)
        for _ in range(12):  # never locked by its own emulator
            await smartsender_client.chats.list(limitation=1)

    async def test_default_fixture_client_has_no_pacing(smartsender_client):
        assert smartsender_client.rate_limiter is None
        for _ in range(12):
            page = await smartsender_client.chats.list(limitation=1)
            assert page.response_info.rate_limit_wait == 0.0

    @pytest.mark.smartsender_emulator(rate_limit=(30, 2.0))
    async def test_emulator_client_over_url_paces_at_quota(smartsender_emulator,
                                                          smartsender_emulator_url):
        async with smartsender_emulator.client(base_url=smartsender_emulator_url) as client:
            rate = client.rate_limiter.rate
            assert (rate.requests, rate.period) == (30, 2.0)
            for _ in range(12):
                page = await client.chats.list(limitation=1)
                assert page.response_info.retries_taken == 0
        assert smartsender_emulator.stats.locked == 0

    async def test_url_fixture_works(smartsender_emulator, smartsender_emulator_url):
        async with SmartSender(token=smartsender_emulator.token,
                               base_url=smartsender_emulator_url, rate_limit=None) as c:
            await c.chats.list()
    """
)


def test_plugin_marker_and_pacing(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(PLUGIN_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    out = proc.stdout.decode() + proc.stderr.decode()
    assert "ERROR test_user.py::test_positional " in out or "test_positional -" in out, out
    assert "ERROR test_user.py::test_positional_and_kw" in out, out
    assert "keyword" in out.lower(), out
    for name in (
        "test_keyword",
        "test_fixture_client_paces_at_quota",
        "test_default_fixture_client_has_no_pacing",
        "test_emulator_client_over_url_paces_at_quota",
        "test_url_fixture_works",
    ):
        assert f"PASSED test_user.py::{name}" in out, out


# --------------------------------------------------------------------------- extra attacks


@pytest.mark.parametrize("case", ["connect", "404", "decode", "protocol"])
async def test_no_token_with_a_user_owned_http_client(case: str) -> None:
    base = "https://api.smartsender.com/v1"
    with respx.mock(base_url=base, assert_all_called=False) as mock:
        mock.get("/chats/1").mock(side_effect=[RESPX_SIDE_EFFECTS[case]] * 5)
        async with (
            httpx.AsyncClient() as http,
            SmartSender(token=TOKEN, base_url=base, http_client=http, retry=FAST_RETRY) as c,
        ):
            exc = await expect_failure(c.chats.get(1))
            assert TOKEN not in repr(http.headers)
    assert isinstance(exc, SmartSenderError)
    assert_clean(exc)


@pytest.mark.parametrize(
    "retry_after", ["1e309", "-5", "nan", "inf", "Wed, 21 Oct 2099 07:28:00 GMT", "abc", "9" * 400]
)
async def test_hostile_retry_after_on_423(retry_after: str) -> None:
    payload = http_response(
        "423 Locked", b'{"error":{"code":423,"message":"locked"}}', {"Retry-After": retry_after}
    )
    with raw_server(payload) as server:
        async with SmartSender(
            token=TOKEN, base_url=server.url, retry=RetryPolicy(max_attempts=2, max_wait=1.0)
        ) as client:
            exc = await expect_failure(client.chats.get(1))
    assert isinstance(exc, RateLimitedError), repr(exc)
    assert exc.retry_after is None or 0 <= exc.retry_after <= 24 * 3600
    pickle.loads(pickle.dumps(exc))


def test_unclosed_client_warning_names_no_token() -> None:
    client = SmartSender(token=TOKEN, base_url="http://127.0.0.1:9/v1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    assert all(TOKEN not in str(w.message) for w in caught)


# --------------------------------------------------------------------------- 10: send ledger


class FakeRedis:
    """What send_once uses of redis.asyncio.Redis: get and set(ex=)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def set(self, key: str, value: str | bytes, ex: int | None = None) -> bool:
        self.data[key] = value.encode() if isinstance(value, str) else value
        return True


class HoldAfterSend(httpx.AsyncBaseTransport):
    """Delegates; a send that has been processed is then held (the answer never comes) or
    fails before reaching the server, once, so the job's task can be cancelled mid-send."""

    def __init__(self, inner: httpx.AsyncBaseTransport, mode: str) -> None:
        self.inner = inner
        self.mode = mode
        self.armed = 10 if mode == "before" else 1  # "before": fail every retry of run one
        self.processed = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        is_send = request.method == "POST" and request.url.path.endswith("/send")
        if is_send and self.armed:
            self.armed -= 1
            if self.mode == "before":
                raise httpx.ConnectError("worker stopped before sending", request=request)
            await self.inner.handle_async_request(request)  # the server took the message
            self.processed.set()
            await asyncio.Event().wait()  # the answer is held until the job is cancelled
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("mode", ["cancelled-after-processing", "before"])
async def test_send_once_rerun_delivers_exactly_once(mode: str) -> None:
    from smartsender_async.contrib.arq import CTX_KEY, send_once

    emulator = Emulator(seed=2, chats=2, rate_limit=None)
    chat_id = emulator.chat_ids()[0]
    contact_id = emulator.contact_id_of(chat_id)
    before = len(emulator.message_ids(chat_id))
    redis = FakeRedis()
    transport = HoldAfterSend(emulator.transport(), "before" if mode == "before" else "after")
    async with SmartSender(
        token=emulator.token, base_url=emulator.base_url, transport=transport, rate_limit=None
    ) as client:

        async def job() -> Any:
            ctx = {"redis": redis, "job_id": "job-1", CTX_KEY: client}
            first = await send_once(ctx, contact_id, "Your code is 4411")
            second = await send_once(ctx, contact_id, "Your code is 4411")  # same text again
            return first, second

        if mode == "before":
            with pytest.raises(APIConnectionError):
                await job()
            transport.armed = 0
        else:
            task = asyncio.create_task(job())
            await transport.processed.wait()
            task.cancel()  # arq cancels the job on SIGTERM
            with pytest.raises(asyncio.CancelledError):
                await task
        first, second = await job()  # the re-run, with a fresh ctx
        again = await job()  # and once more, all done: no request
    assert first.id != second.id
    assert (again[0].id, again[1].id) == (first.id, second.id)
    assert len(emulator.message_ids(chat_id)) == before + 2


def test_contrib_exceptions_pickle_too() -> None:
    from smartsender_async.contrib.arq import SendUncertainError

    exc = SendUncertainError("job 'j' send '1': may have been sent")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is SendUncertainError and back.message == exc.message


def test_aclose_from_main_while_first_loop_runs_in_a_thread() -> None:
    emulator = Emulator(seed=1, chats=5, rate_limit=None)
    with emulator.serve() as url:
        client = SmartSender(token=emulator.token, base_url=url, rate_limit=None)
        ready = threading.Event()
        closed = threading.Event()
        later: list[BaseException | None] = []

        async def first() -> None:
            await client.chats.list()
            ready.set()
            await asyncio.get_running_loop().run_in_executor(None, closed.wait)
            try:
                await client.chats.list()
                later.append(None)
            except BaseException as exc:
                later.append(exc)

        thread = threading.Thread(target=lambda: asyncio.run(first()))
        thread.start()
        assert ready.wait(10)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            asyncio.run(client.aclose())
        closed.set()
        thread.join(10)
    assert client.is_closed
    assert isinstance(later[0], SmartSenderError) and "closed" in str(later[0])


@pytest.mark.parametrize("status", ["404 Not Found", "503 Service Unavailable", "423 Locked"])
@pytest.mark.parametrize("depth", [300, 900])
async def test_deep_but_valid_error_body_still_pickles(status: str, depth: int) -> None:
    """JSON nested under the decoders' limits, but deeper than pickle can recurse: the
    exception a worker pickles must survive it (raw_body keeps the start of it)."""
    body = (
        b'{"error": {"code": %d, "message": "nope", "description": {"x": ' % int(status[:3])
        + b"[" * depth
        + b"]" * depth
        + b"}}}"
    )
    with raw_server(http_response(status, body)) as server:
        async with SmartSender(token=TOKEN, base_url=server.url, retry=NO_RETRY) as client:
            exc = await expect_failure(client.chats.get(1))
    assert isinstance(exc, errors.APIError), repr(exc)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert back.status_code == exc.status_code == int(status[:3])
    assert back.raw_body == exc.raw_body and back.raw_body.startswith('{"error"')
    repr(exc), str(exc)


async def test_deep_but_valid_unknown_field_in_a_success_decodes() -> None:
    body = b'{"id": 7, "weird": ' + b"[" * 900 + b"]" * 900 + b"}"
    with raw_server(http_response("200 OK", body)) as server:
        async with SmartSender(token=TOKEN, base_url=server.url, retry=NO_RETRY) as client:
            chat = await client.chats.get(7)
    assert chat.id == 7


@pytest.mark.parametrize("status", [404, 422, 423, 503, 200])
async def test_a_servers_huge_text_does_not_make_huge_exceptions(status: int) -> None:
    """A megabyte ``error.message`` (or a megabyte wrong-typed value on a 200) must not
    become a megabyte ``str(exc)``, log line and pickle."""
    if status == 200:
        body: Any = {"id": "x" * 1_000_000}
    else:
        body = {"error": {"code": status, "message": "m" * 1_000_000}}
    base = "https://api.smartsender.com/v1"
    with respx.mock(base_url=base) as mock:
        mock.get("/chats/1").mock(return_value=httpx.Response(status, json=body))
        async with SmartSender(token=TOKEN, base_url=base, retry=NO_RETRY) as client:
            exc = await expect_failure(client.chats.get(1))
    assert isinstance(exc, SmartSenderError), repr(exc)
    assert len(str(exc)) < 5_000
    assert len(repr(exc)) < 5_000
    assert all(len(repr(a)) < 5_000 for a in exc.args)
    assert len(exc.message) < 5_000


def test_token_and_base_url_swapped_does_not_repeat_the_token() -> None:
    with pytest.raises(ValueError) as info:
        SmartSender(token="https://api.smartsender.com/v1", base_url=TOKEN)
    assert TOKEN not in str(info.value) and "base_url" in str(info.value)


async def test_a_redirect_is_not_followed_and_typed() -> None:
    with raw_server(http_response("200 OK", b'{"id": 1}')) as elsewhere:
        location = elsewhere.url + "/chats/1"
        with raw_server(http_response("302 Found", b"", {"Location": location})) as server:
            async with SmartSender(token=TOKEN, base_url=server.url, retry=NO_RETRY) as client:
                exc = await expect_failure(client.chats.get(1))
        assert elsewhere.connections == 0  # the token never went to the other host
    assert isinstance(exc, SmartSenderError), repr(exc)
    assert_clean(exc)


@pytest.mark.parametrize("path", ["@127.0.0.2:9/steal", "chats", ".evil.example/x", ""])
async def test_a_path_cannot_leave_the_base_url(path: str) -> None:
    with raw_server(http_response("200 OK", b"{}")) as server:
        base = f"http://127.0.0.1:{server.port}"  # a base_url without a path
        async with SmartSender(token=TOKEN, base_url=base, retry=NO_RETRY) as client:
            with pytest.raises(ValueError, match="path"):
                await client.request("GET", path)
        assert server.connections == 0


SUBCLASS_THREAD_SCRIPT = textwrap.dedent(
    """
    import sys, threading, json
    import attrs
    from smartsender_async import Chat, Page, converter

    @attrs.frozen
    class Mine(Chat):
        score: int = attrs.field(default=0, converter=int, validator=attrs.validators.ge(0))

    raw = json.loads(sys.argv[1])
    for item in raw["collection"]:
        item["score"] = "3"
    barrier = threading.Barrier(8)
    failures = []
    def run(i):
        try:
            barrier.wait()
            page = converter.structure(raw, Page[Mine]) if i % 2 else None
            chat = converter.structure(raw["collection"][0], Mine)
            assert type(chat) is Mine and chat.score == 3, chat
            if page is not None:
                assert all(type(c) is Mine and c.score == 3 for c in page), page
        except BaseException as exc:
            failures.append(repr(exc))
    ts = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print(failures); sys.exit(1 if failures else 0)
    """
)


async def test_eight_threads_first_decode_of_a_user_subclass_cold() -> None:
    emulator = Emulator(seed=3, chats=5, rate_limit=None)
    async with emulator.http_client() as http:
        raw = (await http.get("/chats", params={"page": 1, "limitation": 20})).text
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-c", SUBCLASS_THREAD_SCRIPT, raw],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    bad = [o for p, o in zip(procs, outs, strict=True) if p.returncode != 0]
    assert not bad, bad[0][-3000:]
