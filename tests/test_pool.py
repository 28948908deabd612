"""The connection pool under the client's httpx transport (``smartsender_async._pool``).

A small HTTP/1.1 server on 127.0.0.1 counts the connections it accepts and answers each
request the way the test scripts it, so reuse, limits, waiting and failure handling are
asserted from both ends of the socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import anyio
import anyio.lowlevel
import httpcore
import httpx
import pytest
from anyio.abc import SocketStream

from smartsender_async import SmartSender, pooled_transport
from smartsender_async._http import make_client
from smartsender_async._pool import ConnectionPool, install
from smartsender_async.testing import Emulator

Case = Callable[[], Awaitable[None]]


def on_both_backends(case: Case) -> Callable[[str], None]:
    """Run the async ``case`` as a test under asyncio and under trio."""

    @pytest.mark.parametrize("backend", ["asyncio", "trio"])
    def test(backend: str) -> None:
        anyio.run(case, backend=backend)

    test.__name__ = case.__name__
    test.__doc__ = case.__doc__
    return test


class Server:
    """Counts connections and requests; ``reply(path)`` gives (head lines, body) or None to
    drop the connection without answering.  ``gate`` holds answers until it is set.
    ``silent_close`` closes each connection after its response without saying so; ``log``
    (shared between servers) records ``name:path`` as requests arrive."""

    def __init__(self, name: str = "", log: list[str] | None = None) -> None:
        self.name = name
        self.log = [] if log is None else log
        self.silent_close = False
        self.closed = anyio.Event()  # set each time a connection has been closed
        self.streams: set[SocketStream] = set()
        self.connections = 0
        self.requests: list[str] = []
        self.open_now = 0
        self.most_open = 0
        self.gate: anyio.Event | None = None
        self.reply: Callable[[str], tuple[list[str], bytes] | None] = lambda path: (
            [],
            b'{"ok":true}',
        )
        self.arrived = anyio.Event()

    async def handle(self, stream: SocketStream) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        self.streams.add(stream)
        buffer = b""
        try:
            async with stream:
                while True:
                    while b"\r\n\r\n" not in buffer:
                        try:
                            buffer += await stream.receive()
                        except (anyio.EndOfStream, anyio.BrokenResourceError):
                            return
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    path = head.split(b" ")[1].decode()
                    self.requests.append(path)
                    self.log.append(f"{self.name}:{path}")
                    self.arrived.set()
                    if self.gate is not None:
                        await self.gate.wait()
                    answer = self.reply(path)
                    if answer is None:
                        return
                    extra, body = answer
                    lines = ["HTTP/1.1 200 OK", "Content-Type: application/json", *extra]
                    if not any(line.lower().startswith("content-length") for line in extra):
                        lines.append(f"Content-Length: {len(body)}")
                    await stream.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                    if self.silent_close or any(
                        line.lower() == "connection: close" for line in extra
                    ):
                        return
        except anyio.ClosedResourceError:  # closed by drop_all()
            return
        finally:
            self.open_now -= 1
            self.streams.discard(stream)
            self.closed.set()
            self.closed = anyio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, checked each time a connection closes."""
        while not condition():
            await self.closed.wait()

    async def drop_all(self) -> None:
        """Close every connection (as a server's keep-alive timeout would)."""
        for stream in list(self.streams):
            await stream.aclose()
        await self.until(lambda: self.open_now == 0)


@asynccontextmanager
async def serving(server: Server | None = None) -> AsyncIterator[tuple[Server, str]]:
    server = Server() if server is None else server
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, server.handle)
        try:
            yield server, f"http://127.0.0.1:{port}"
        finally:
            group.cancel_scope.cancel()


def client_for(url: str, **limits: Any) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(**limits))
    assert install(transport)
    return httpx.AsyncClient(base_url=url, transport=transport)


def pool_of(client: httpx.AsyncClient) -> ConnectionPool:
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert isinstance(pool, ConnectionPool)
    return pool


@on_both_backends
async def test_the_sdk_client_uses_the_pool_and_keeps_env_proxies_separate() -> None:
    client = make_client(headers={}, timeout=5.0, transport=None)
    try:
        pool = pool_of(client)
        assert pool._max == 100 and pool._max_idle == 20  # httpx's default limits
    finally:
        await client.aclose()
    # Through a proxy, or set up for HTTP/2, a transport keeps httpcore's own pool.
    proxied = httpx.AsyncHTTPTransport(proxy="http://127.0.0.1:9")
    assert not install(proxied)
    assert not install(httpx.AsyncHTTPTransport(http2=True, http1=False))
    assert not install(httpx.MockTransport(lambda request: httpx.Response(200)))
    await proxied.aclose()


@on_both_backends
async def test_sequential_requests_share_one_connection() -> None:
    async with serving() as (server, url), client_for(url) as client:
        for n in range(5):
            response = await client.get(f"/r{n}")
            assert response.json() == {"ok": True}
        assert server.connections == 1
        assert server.requests == [f"/r{n}" for n in range(5)]
        assert len(pool_of(client).connections) == 1


@on_both_backends
async def test_concurrent_requests_open_one_connection_each_then_reuse_them() -> None:
    async with serving() as (server, url), client_for(url) as client:
        for _ in range(3):
            async with anyio.create_task_group() as group:
                for n in range(8):
                    group.start_soon(client.get, f"/r{n}")
        assert server.connections == 8  # the first burst opened them; the others reused
        assert len(server.requests) == 24
        assert len(pool_of(client).connections) == 8


@on_both_backends
async def test_max_connections_queues_requests_and_serves_them_in_order() -> None:
    async with serving() as (server, url), client_for(url, max_connections=2) as client:
        done: list[int] = []

        async def get(n: int) -> None:
            await client.get(f"/r{n}")
            done.append(n)

        server.gate = anyio.Event()
        async with anyio.create_task_group() as group:
            for n in range(6):
                group.start_soon(get, n)
                await anyio.wait_all_tasks_blocked()
            assert server.requests == ["/r0", "/r1"]  # the other four wait in the pool
            assert repr(pool_of(client)).endswith("| Requests: 4 queued]>")
            server.gate.set()
        assert server.most_open == 2
        assert server.connections == 2
        assert sorted(done) == list(range(6))
        assert sorted(server.requests) == [f"/r{n}" for n in range(6)]


@on_both_backends
async def test_waiting_requests_get_the_connection_in_the_order_they_asked() -> None:
    async with serving() as (server, url), client_for(url, max_connections=1) as client:
        server.gate = anyio.Event()
        async with anyio.create_task_group() as group:
            for n in range(6):
                group.start_soon(client.get, f"/r{n}")
                await anyio.wait_all_tasks_blocked()
            assert server.requests == ["/r0"]
            server.gate.set()
        # One connection, handed from each finished request to the oldest waiter.
        assert server.requests == [f"/r{n}" for n in range(6)]
        assert server.connections == 1


@on_both_backends
async def test_waiting_longer_than_the_pool_timeout_raises_pool_timeout() -> None:
    async with serving() as (_server, url), client_for(url, max_connections=1) as client:
        held = await client.send(client.build_request("GET", "/held"), stream=True)
        with pytest.raises(httpx.PoolTimeout):
            await client.get("/late", timeout=httpx.Timeout(5.0, pool=0.05))
        await held.aclose()
        # The timed-out waiter left no trace: the one connection serves the next request.
        assert (await client.get("/next")).status_code == 200
        assert pool_of(client)._open == 1
        assert not pool_of(client)._waiters


@on_both_backends
async def test_a_cancelled_waiter_does_not_leak_what_it_was_given() -> None:
    # A read body hands its connection to the waiter; an unread one closes the connection
    # and hands over the room to open another. Either way the waiter is cancelled before
    # it runs, and the pool must take back what it was given.
    for read_body, still_open, connections in ((True, 1, 1), (False, 0, 2)):
        async with serving() as (server, url), client_for(url, max_connections=1) as client:
            server.reply = lambda path: ([], b"x" * 100_000)
            held = await client.send(client.build_request("GET", "/held"), stream=True)
            async with anyio.create_task_group() as group:
                group.start_soon(client.get, "/waiting")
                await anyio.wait_all_tasks_blocked()
                assert len(pool_of(client)._waiters) == 1
                await (held.aread() if read_body else held.aclose())
                assert not pool_of(client)._waiters  # served...
                group.cancel_scope.cancel()  # ...and cancelled before it could run
            pool = pool_of(client)
            assert pool._open == still_open
            assert len(pool.connections) == still_open
            assert (await client.get("/after")).status_code == 200
            assert server.connections == connections
            assert server.requests == ["/held", "/after"]


@on_both_backends
async def test_a_body_left_unread_closes_its_connection() -> None:
    async with serving() as (server, url), client_for(url) as client:
        server.reply = lambda path: ([], b"x" * 100_000)
        response = await client.send(client.build_request("GET", "/big"), stream=True)
        async for _chunk in response.aiter_raw():
            break
        await response.aclose()
        assert pool_of(client)._open == 0
        assert (await client.get("/again")).content == b"x" * 100_000
        assert server.connections == 2


@on_both_backends
async def test_connection_close_and_dropped_connections_are_not_reused() -> None:
    async with serving() as (server, url), client_for(url) as client:
        server.reply = lambda path: (["Connection: close"], b"{}")
        for n in range(3):
            assert (await client.get(f"/c{n}")).status_code == 200
        assert server.connections == 3
        assert pool_of(client)._open == 0

        server.reply = lambda path: None if path == "/drop" else ([], b"{}")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/drop")
        assert pool_of(client)._open == 0
        assert (await client.get("/fine")).status_code == 200
        assert pool_of(client)._open == 1


@on_both_backends
async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async with serving() as (server, url), client_for(url) as client:
        await client.get("/one")
        assert server.open_now == 1
        # The server goes away between requests (as a keep-alive timeout would do it).
        for connection in pool_of(client).connections:
            await connection.aclose()
        assert (await client.get("/two")).status_code == 200
        assert server.connections == 2
        assert pool_of(client)._open == 1


@on_both_backends
async def test_idle_connections_beyond_the_keepalive_limit_are_closed() -> None:
    limits = {"max_connections": 10, "max_keepalive_connections": 3}
    async with serving() as (server, url), client_for(url, **limits) as client:
        async with anyio.create_task_group() as group:
            for n in range(6):
                group.start_soon(client.get, f"/r{n}")
        assert server.connections == 6
        assert len(pool_of(client).connections) == 3
        assert pool_of(client)._open == 3


@on_both_backends
async def test_closing_the_pool_closes_every_connection_and_it_stays_usable() -> None:
    async with serving() as (server, url):
        client = client_for(url)
        async with client:
            held = await client.send(client.build_request("GET", "/busy"), stream=True)
            await client.get("/idle")
            pool = pool_of(client)
            assert pool._open == 2
            await pool.aclose()  # as httpcore's does: idle and busy connections alike
            assert pool._open == 0 and not pool.connections
            await held.aclose()
            assert pool._open == 0
            # Like httpcore's, a closed pool opens a new connection for a new request
            # (two httpx clients may share one transport).
            assert (await client.get("/after")).status_code == 200
            assert pool._open == 1
        assert pool._open == 0
        assert server.connections == 3


@on_both_backends
async def test_unsupported_schemes_are_refused_before_any_connection() -> None:
    pool = ConnectionPool()
    for url, message in (
        ("ftp://example.com/", "unsupported protocol 'ftp://'"),
        ("//example.com/", "missing an 'http://' or 'https://' protocol"),
    ):
        with pytest.raises(httpcore.UnsupportedProtocol, match=message):
            await pool.handle_async_request(httpcore.Request("GET", httpcore.URL(url)))
    assert pool._open == 0


@on_both_backends
async def test_a_stream_of_the_sdk_over_loopback_reuses_connections() -> None:
    emu = Emulator(seed=3, chats=120, rate_limit=None)
    with emu.serve() as url:
        async with SmartSender(emu.token, base_url=url, rate_limit=None) as client:
            for _ in range(3):
                ids = [chat.id async for chat in client.chats.stream(concurrency=4)]
                assert ids == emu.chat_ids()
            pool = pool_of(client._http)
            assert pool._open <= 4
            assert len(pool.connections) == pool._open


@on_both_backends
async def test_pooled_transport_serves_many_clients_from_one_pool() -> None:
    proxied = pooled_transport(proxy="http://127.0.0.1:9")
    assert type(proxied._pool) is not ConnectionPool  # a proxy keeps httpcore's pool
    await proxied.aclose()
    emu = Emulator(seed=4, chats=30, rate_limit=None, accept_any_token=True)
    with emu.serve() as url:
        limits = httpx.Limits(max_connections=3)
        async with httpx.AsyncClient(transport=pooled_transport(limits=limits)) as http:
            assert isinstance(pool_of(http), ConnectionPool)
            clients = [
                SmartSender(f"token-{n}", base_url=url, http_client=http, rate_limit=None)
                for n in range(6)
            ]
            async with anyio.create_task_group() as group:
                for each in clients:
                    group.start_soon(each.chats.list)
            for each in clients:
                await each.aclose()
            assert pool_of(http)._open <= 3
        assert emu.stats.requests == 6


@on_both_backends
async def test_a_full_pool_closes_an_idle_connection_to_another_origin_within_the_limit() -> None:
    async with (
        serving(Server("a")) as (a, url_a),
        serving(Server("b")) as (b, url_b),
        client_for(url_a, max_connections=2) as client,
    ):
        async with anyio.create_task_group() as group:
            for n in range(2):
                group.start_soon(client.get, f"{url_b}/b{n}")
        assert b.connections == 2 and len(pool_of(client).connections) == 2
        a.gate = anyio.Event()
        async with anyio.create_task_group() as group:
            for n in range(3):
                group.start_soon(client.get, f"/a{n}")
                await anyio.wait_all_tasks_blocked()
            assert pool_of(client)._open == 2
            assert a.requests == ["/a0", "/a1"]  # the third waits: the limit holds
            assert b.open_now == 0  # both idle connections to b made room
            a.gate.set()
        assert a.most_open == 2
        assert pool_of(client)._open == 2


@on_both_backends
async def test_waiters_for_different_origins_are_served_in_arrival_order() -> None:
    log: list[str] = []
    async with (
        serving(Server("a", log)) as (a, url_a),
        serving(Server("b", log)) as (_b, url_b),
        client_for(url_a, max_connections=1) as client,
    ):
        a.gate = anyio.Event()
        async with anyio.create_task_group() as group:
            for url in ("/a0", f"{url_b}/b0", "/a1", "/a2", f"{url_b}/b1"):
                group.start_soon(client.get, url)
                await anyio.wait_all_tasks_blocked()
            assert log == ["a:/a0"]
            a.gate.set()
        # One slot, passed on in arrival order: to another origin's waiter too.
        assert log == ["a:/a0", "b:/b0", "a:/a1", "a:/a2", "b:/b1"]
        assert pool_of(client)._open == 1


@on_both_backends
async def test_a_connection_the_server_closed_is_not_handed_to_a_waiter() -> None:
    async with serving() as (server, url), client_for(url, max_connections=1) as client:
        server.silent_close = True  # closes after each response, with no header saying so
        held = await client.send(client.build_request("GET", "/first"), stream=True)
        async with anyio.create_task_group() as group:
            group.start_soon(client.get, "/second")
            await anyio.wait_all_tasks_blocked()
            await server.until(lambda: server.open_now == 0)  # it closed the first one
            await held.aread()  # releasing it must notice, and not hand it on
        assert server.requests == ["/first", "/second"]
        assert server.connections == 2


@on_both_backends
async def test_stale_idle_connections_below_the_top_are_closed_as_traffic_goes_on() -> None:
    async with serving() as (server, url), client_for(url) as client:
        async with anyio.create_task_group() as group:
            for n in range(3):
                group.start_soon(client.get, f"/burst{n}")
        assert len(pool_of(client).connections) == 3
        await server.drop_all()  # the server's keep-alive timeout closes all three
        assert server.open_now == 0
        await client.get("/one")  # the top one is replaced, the oldest one pruned
        await client.get("/two")  # and the next oldest
        pool = pool_of(client)
        assert len(pool.connections) == 1 and pool._open == 1
        assert all(not c.is_closed() for c in pool.connections)


# ---------------------------------------------------------------- cancellation while closing


async def test_a_plain_asyncio_cancel_while_a_stale_connection_closes_keeps_the_slot() -> None:
    """anyio's shield does not stop ``task.cancel()``: a cancel that lands while the pool
    closes a stale idle connection (to reuse its slot) must not cost the slot."""
    import asyncio

    async with serving() as (server, url), client_for(url, max_connections=1) as client:
        for round_ in range(3):
            assert (await client.get(f"/warm{round_}")).status_code == 200
            pool = pool_of(client)
            (idle,) = pool.connections
            closing = anyio.Event()
            never = anyio.Event()

            async def slow_close(
                original: Any = idle.aclose,
                closing: anyio.Event = closing,
                never: anyio.Event = never,
            ) -> None:
                closing.set()
                await never.wait()  # the close hangs until the cancel lands
                await original()

            idle.has_expired = lambda: True  # type: ignore[method-assign]
            idle.aclose = slow_close  # type: ignore[method-assign]
            task = asyncio.ensure_future(client.get("/cancelled"))
            await closing.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert pool._open == 0, "the slot of the stale connection was lost"
            assert not pool._busy
        assert (await client.get("/after")).status_code == 200
        assert "/cancelled" not in server.requests


async def _stress(rounds: int, concurrency: int, seed: int) -> None:
    """Random cancellations and timeouts against a server that drops keep-alive
    connections at random; afterwards the pool has its full capacity and serves."""
    import random

    rng = random.Random(seed)
    limit = 4
    server = Server()
    # Drop about a third of the connections after answering (a keep-alive timeout on the
    # server's side), so that idle connections go stale under the pool's feet.
    server.reply = lambda path: ([], b"{}")
    async with serving(server) as (server, url), client_for(url, max_connections=limit) as client:
        pool = pool_of(client)

        async def one(n: int) -> None:
            with anyio.move_on_after(rng.uniform(0, 0.003)), suppress(httpx.HTTPError):
                await client.get(f"/r{n}")

        for n in range(rounds):
            server.silent_close = rng.random() < 0.3
            async with anyio.create_task_group() as group:
                for k in range(concurrency):
                    group.start_soon(one, n * concurrency + k)
                if rng.random() < 0.2:
                    await anyio.lowlevel.checkpoint()
                    group.cancel_scope.cancel()  # a cancellation storm now and then
            assert pool._open <= limit
        server.silent_close = False
        assert not pool._waiters
        assert pool._open == len(pool.connections) <= limit
        # Full capacity: `limit` requests at once each get a connection and none waits.
        server.gate = anyio.Event()
        async with anyio.create_task_group() as group:
            for k in range(limit):
                group.start_soon(client.get, f"/full{k}")
            while len([p for p in server.requests if p.startswith("/full")]) < limit:
                await server.arrived.wait()
                server.arrived = anyio.Event()
            assert not pool._waiters
            server.gate.set()
        assert pool._open <= limit
        assert (await client.get("/last")).status_code == 200


async def _asyncio_native_stress(rounds: int, seed: int) -> None:
    """The same with asyncio's own primitives: ``asyncio.timeout`` and ``task.cancel()``,
    which anyio's shield cannot stop."""
    import asyncio
    import random

    rng = random.Random(seed)
    limit = 4
    server = Server()
    async with serving(server) as (server, url), client_for(url, max_connections=limit) as client:
        pool = pool_of(client)

        async def one(n: int) -> None:
            try:
                async with asyncio.timeout(rng.uniform(0, 0.003)):
                    await client.get(f"/r{n}")
            except (TimeoutError, httpx.HTTPError):
                pass

        for n in range(rounds):
            server.silent_close = rng.random() < 0.3
            tasks = [asyncio.ensure_future(one(n * 2 + k)) for k in range(2)]
            if rng.random() < 0.3:
                await asyncio.sleep(0)
                tasks[rng.randrange(2)].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert pool._open <= limit
        server.silent_close = False
        assert not pool._waiters
        assert pool._open == len(pool.connections) <= limit
        results = await asyncio.gather(*(client.get(f"/full{k}") for k in range(limit)))
        assert [r.status_code for r in results] == [200] * limit
        assert pool._open <= limit


#: Rounds of two concurrent requests: 10,000 in all across the three runs below, the
#: most under plain asyncio cancellation (the case anyio's shield cannot stop).
STRESS_ROUNDS = {"asyncio": 3500, "trio": 3500, "native": 3000}


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_stress_random_cancellation_and_timeouts_never_lose_a_slot(backend: str) -> None:
    anyio.run(_stress, STRESS_ROUNDS[backend], 2, 14, backend=backend)


def test_stress_native_asyncio_cancellation_never_loses_a_slot() -> None:
    import asyncio

    asyncio.run(_asyncio_native_stress(STRESS_ROUNDS["native"], 15))
