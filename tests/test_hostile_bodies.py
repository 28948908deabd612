"""Hostile response bodies (issue 13): every one raises a typed SDK exception carrying the
(truncated) raw body, on success and error statuses alike, in-process and over sockets;
never a raw httpx, json, RecursionError or cattrs exception."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import httpx
import pytest
import respx

from smartsender_async import (
    APIError,
    ConfigurationError,
    ResponseDecodeError,
    ServerError,
    SmartSender,
    SmartSenderError,
)
from smartsender_async.errors import MAX_BODY_CHARS, ResponseTooLargeError
from smartsender_async.models import Chat, Page
from smartsender_async.testing import Emulator

BASE = "https://api.smartsender.com/v1"
TOKEN = "tok-hostile-123"
LIMIT = 64 * 1024

CHAT = b'{"id": 5, "name": "x"}'

BODIES: dict[str, tuple[dict[str, str], bytes]] = {
    "bad-gzip": ({"content-encoding": "gzip"}, b"\x1f\x8b\x08\x00garbage"),
    "truncated-gzip": ({"content-encoding": "gzip"}, gzip.compress(CHAT)[:-5]),
    "bad-deflate": ({"content-encoding": "deflate"}, b"\x78\x9cgarbage"),
    "bad-brotli": ({"content-encoding": "br"}, b"\xce\xb2\xcf\x81garbage"),
    "nesting-bomb": ({}, b"[" * 50_000),
    "nesting-bomb-closed": ({}, b"[" * 50_000 + b"]" * 50_000),
    "object-bomb": ({}, b'{"a":' * 30_000 + b"1" + b"}" * 30_000),
    "invalid-utf8": ({}, b'{"id": 5, "name": "\xff\xfe"}'),
    "huge-number": ({}, b'{"id": ' + b"9" * 100_000 + b"}"),
    "huge-float": ({}, b'{"id": 1e999999}'),
    "oversize": ({}, b'{"id": 5, "name": "' + b"x" * (LIMIT + 10) + b'"}'),
    "gzip-bomb": ({"content-encoding": "gzip"}, gzip.compress(b" " * (LIMIT * 50))),
    "deflate-bomb": ({"content-encoding": "deflate"}, zlib.compress(b"[" * (LIMIT * 50))),
    "empty": ({}, b""),
    "html": ({"content-type": "text/html"}, b"<html><body>Bad gateway</body></html>"),
}


def check(exc: SmartSenderError, case: str, status: int) -> None:
    assert isinstance(exc, (ResponseDecodeError, APIError)), type(exc)
    if exc.status_code == 0:
        # Only respx: its router decodes a body itself (httpx.DecodingError) before the
        # status reaches the SDK, which can then only say the body was undecodable.
        assert isinstance(exc, ResponseDecodeError) and "could not be decoded" in exc.message
        return
    assert exc.status_code == status
    raw = getattr(exc, "raw_body", None)
    assert isinstance(raw, str) and len(raw) <= MAX_BODY_CHARS
    if status >= 400:
        # An error status keeps its class (and so its retry rule), whatever its body.
        assert isinstance(exc, APIError) and exc.status_code == status
        assert exc.raw_body or not BODIES[case][1]
    elif case in ("oversize", "gzip-bomb", "deflate-bomb"):
        assert isinstance(exc, ResponseTooLargeError)
    if case == "nesting-bomb" and status == 200:
        assert raw.startswith("[[[[")
    assert str(exc) and repr(exc)


async def _get(client: SmartSender, status: int) -> SmartSenderError:
    if status == 200:
        call = client.request("GET", "/chats", model=Page[Chat])
    else:
        call = client.chats.get(5)
    with pytest.raises(SmartSenderError) as info:
        await call
    return info.value


@pytest.mark.parametrize("status", [200, 422, 503])
@pytest.mark.parametrize("case", list(BODIES))
async def test_hostile_bodies_are_typed_respx(case: str, status: int) -> None:
    headers, body = BODIES[case]
    with respx.mock(base_url=BASE) as mock:
        mock.route().mock(
            side_effect=lambda request: httpx.Response(
                status, headers=headers, stream=httpx.ByteStream(body)
            )
        )
        async with SmartSender(
            TOKEN, retry=None, rate_limit=None, max_response_bytes=LIMIT
        ) as client:
            exc = await _get(client, status)
    check(exc, case, status)
    if status == 503 and exc.status_code:
        assert isinstance(exc, ServerError)


class HostileTransport(httpx.AsyncBaseTransport):
    """Answers with raw bytes exactly as given, compression headers and all."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(self.status, headers=self.headers, stream=httpx.ByteStream(self.body))


@pytest.mark.parametrize("status", [200, 500])
@pytest.mark.parametrize("case", list(BODIES))
async def test_hostile_bodies_are_typed_transport(case: str, status: int) -> None:
    headers, body = BODIES[case]
    transport = HostileTransport(status, headers, body)
    async with SmartSender(
        TOKEN, transport=transport, retry=None, rate_limit=None, max_response_bytes=LIMIT
    ) as client:
        exc = await _get(client, status)
    check(exc, case, status)


@pytest.mark.parametrize("case", ["nesting-bomb", "oversize", "gzip-bomb", "bad-gzip"])
async def test_hostile_bodies_over_sockets(case: str) -> None:
    from tests.test_redaction import CannedServer

    headers, body = BODIES[case]
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    answer = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with CannedServer(answer) as server:
        async with SmartSender(
            TOKEN, base_url=server.url, retry=None, rate_limit=None, max_response_bytes=LIMIT
        ) as client:
            exc = await _get(client, 200)
    check(exc, case, 200)


async def test_a_body_under_the_limit_still_decodes_compressed() -> None:
    transport = HostileTransport(200, {"content-encoding": "gzip"}, gzip.compress(CHAT))
    async with SmartSender(TOKEN, transport=transport, retry=None, rate_limit=None) as client:
        chat = await client.chats.get(5)
    assert chat.id == 5 and chat.name == "x"


async def test_concatenated_gzip_members_decode() -> None:
    body = gzip.compress(CHAT[:10]) + gzip.compress(CHAT[10:])
    transport = HostileTransport(200, {"content-encoding": "gzip"}, body)
    async with SmartSender(TOKEN, transport=transport, retry=None, rate_limit=None) as client:
        chat = await client.chats.get(5)
    assert chat.id == 5


async def test_declared_oversize_is_refused_before_reading() -> None:
    transport = HostileTransport(200, {"content-length": str(LIMIT + 1)}, b"{}")
    async with SmartSender(
        TOKEN, transport=transport, retry=None, rate_limit=None, max_response_bytes=LIMIT
    ) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.chats.get(5)


def test_default_limit_is_32_mib() -> None:
    from smartsender_async._http import DEFAULT_MAX_RESPONSE_BYTES

    assert DEFAULT_MAX_RESPONSE_BYTES == 32 * 1024 * 1024


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10"])
def test_max_response_bytes_is_checked(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_response_bytes"):
        SmartSender(TOKEN, max_response_bytes=bad)


async def test_the_emulator_round_trip_is_unchanged_by_the_limit() -> None:
    emulator = Emulator(seed=3, chats=3, rate_limit=None)
    async with emulator.client() as client:
        page = await client.chats.list()
    assert len(page.items) == 3


async def test_sdk_asks_only_for_encodings_it_decodes() -> None:
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/chats/5").respond(200, json={"id": 5})
        async with SmartSender(TOKEN, retry=None, rate_limit=None) as client:
            await client.chats.get(5)
    offered = {c.strip() for c in route.calls.last.request.headers["accept-encoding"].split(",")}
    assert offered <= {"gzip", "deflate", "br"} and "zstd" not in offered
