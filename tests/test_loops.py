"""Event loops (issue 13): ``aclose()`` from a loop other than the one the client ran on
closes its sockets (no raw RuntimeError, no leak); a client used across two loops raises a
clear error naming the cause."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from typing import Any

import pytest

from smartsender_async import EventLoopMismatchError, SmartSender
from smartsender_async.testing import Emulator


def _open_sockets(client: SmartSender) -> list[Any]:
    """The client's pooled connections that still have a live socket."""
    from smartsender_async._http import _connections

    live = []
    for connection in _connections(client._http):
        stream = getattr(getattr(connection, "_connection", None), "_network_stream", None)
        if stream is None:
            continue
        sock = stream.get_extra_info("socket")
        if sock is not None and sock.fileno() != -1:
            live.append(sock)
    return live


@pytest.fixture
def served() -> Any:
    emulator = Emulator(seed=2, chats=3, rate_limit=None)
    with emulator.serve() as url:
        yield emulator, url


def test_aclose_from_a_second_asyncio_run_closes_the_sockets(served: Any) -> None:
    emulator, url = served
    client = SmartSender(emulator.token, base_url=url, rate_limit=None)

    async def use() -> None:
        await client.chats.list()
        await client.operators.list()

    asyncio.run(use())
    sockets = _open_sockets(client)
    assert sockets, "the first loop should leave a pooled connection"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ResourceWarning, no unclosed-transport noise
        asyncio.run(client.aclose())
        gc.collect()
    assert client.is_closed
    assert [s.fileno() for s in sockets] == [-1] * len(sockets)


def test_aclose_while_the_first_loop_still_runs_in_another_thread(served: Any) -> None:
    emulator, url = served
    client = SmartSender(emulator.token, base_url=url, rate_limit=None)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(client.chats.list(), loop).result(30)
        sockets = _open_sockets(client)
        assert sockets
        asyncio.run(client.aclose())  # runs the close in the first loop, waits for it
        assert client.is_closed
        assert [s.fileno() for s in sockets] == [-1] * len(sockets)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_client_used_across_two_loops_names_the_cause(served: Any) -> None:
    emulator, url = served
    client = SmartSender(emulator.token, base_url=url, rate_limit=None)
    asyncio.run(client.chats.list())
    sockets = _open_sockets(client)
    requests = emulator.stats.requests

    async def again() -> None:
        await client.chats.list()

    with pytest.raises(EventLoopMismatchError, match="another event loop") as info:
        asyncio.run(again())
    assert isinstance(info.value, RuntimeError)
    assert "one client per event loop" in str(info.value)
    assert emulator.stats.requests == requests  # refused before sending
    asyncio.run(client.aclose())
    assert sockets and [s.fileno() for s in sockets] == [-1] * len(sockets)


def test_aclose_of_an_unused_client_from_any_loop() -> None:
    client = SmartSender("t0ken", rate_limit=None)
    asyncio.run(client.aclose())
    assert client.is_closed


def test_in_process_client_closes_from_another_loop() -> None:
    emulator = Emulator(seed=2, chats=3, rate_limit=None)
    client = emulator.client()
    asyncio.run(client.chats.list())
    asyncio.run(client.aclose())
    assert client.is_closed
