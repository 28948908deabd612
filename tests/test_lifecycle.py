"""Event-loop hygiene, unclosed-client warnings, trio support, observer events."""

from __future__ import annotations

import asyncio
import gc
import warnings

import anyio
import httpx
import pytest

from smartsender_async import SmartSender
from smartsender_async.client import EventLoopMismatchError, UnclosedClientWarning
from smartsender_async.retry import RequestEvent

TOKEN = "tok-lifecycle"


def _transport() -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json={"id": 1}))


def test_client_used_from_second_loop_raises_clear_error() -> None:
    client = SmartSender(TOKEN, transport=_transport(), rate_limit=None, retry=None)
    chat = asyncio.run(client.chats.get(1))
    assert chat.id == 1
    with pytest.raises(EventLoopMismatchError, match="one client per event loop"):
        asyncio.run(client.chats.get(1))
    asyncio.run(client.aclose())


def test_unclosed_client_warns_once_with_the_fix() -> None:
    gc.collect()  # earlier tests' garbage must not count here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = SmartSender(TOKEN, transport=_transport(), rate_limit=None)
        asyncio.run(client.chats.get(1))
        del client
        gc.collect()
    unclosed = [w for w in caught if issubclass(w.category, UnclosedClientWarning)]
    assert len(unclosed) == 1
    assert "aclose()" in str(unclosed[0].message)
    assert TOKEN not in str(unclosed[0].message)


def test_closed_client_does_not_warn() -> None:
    gc.collect()  # earlier tests' garbage must not count here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = SmartSender(TOKEN, transport=_transport(), rate_limit=None)
        asyncio.run(client.aclose())
        del client
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_user_supplied_http_client_never_warns() -> None:
    gc.collect()  # earlier tests' garbage must not count here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        http = httpx.AsyncClient(transport=_transport())
        client = SmartSender(TOKEN, http_client=http, rate_limit=None)
        del client
        gc.collect()
        asyncio.run(http.aclose())
    assert not [w for w in caught if issubclass(w.category, UnclosedClientWarning)]


def test_works_under_trio() -> None:
    async def main() -> int:
        async with SmartSender(TOKEN, transport=_transport()) as client:
            chat = await client.chats.get(1)
            return chat.id

    assert anyio.run(main, backend="trio") == 1


async def test_observer_sees_attempt_and_response() -> None:
    events: list[RequestEvent] = []
    async with SmartSender(
        TOKEN, transport=_transport(), rate_limit=None, observer=events.append
    ) as client:
        await client.chats.get(1)
    kinds = [e.kind for e in events]
    assert kinds == ["attempt", "response"]
    assert events[1].status == 200
    assert events[1].path == "/chats/1"


async def test_observer_errors_do_not_break_requests() -> None:
    def broken(event: RequestEvent) -> None:
        raise RuntimeError("metrics backend down")

    async with SmartSender(TOKEN, transport=_transport(), rate_limit=None, observer=broken) as c:
        assert (await c.chats.get(1)).id == 1
