"""An HTTP/1.1 connection pool that does constant work per request.

httpcore 1.0's ``AsyncConnectionPool`` re-plans the whole pool twice per request (when it
starts and when its response closes): it walks every connection, polls each idle socket,
and for each idle one counts all connections again (encode/httpcore#1035).  With 16 pages
in flight that was ~40 % of the client's CPU per request; with 200 tenants sharing one
pool it was 70 %.  It also counts every connection, not only idle ones, against
``max_keepalive_connections``, so above 20 requests in flight it closes connections after
each burst.

:class:`ConnectionPool` keeps, per origin, a stack of idle connections (most recently used
on top, so the fewest go cold) and one FIFO of waiting requests.  A request takes the top
idle connection, checking only that one for expiry; a finished request hands its
connection straight to the oldest waiter (or, if that one wants another origin, closes it
to give it the room).  Each release also checks the least recently used idle connection
of its origin, so connections the server closed while idle do not linger.  It reuses
httpcore's own :class:`httpcore.AsyncHTTPConnection` for everything on the wire, and
honours the same limits and timeouts (``max_connections``, ``max_keepalive_connections``,
``keepalive_expiry``, the ``pool`` timeout); like httpcore's, ``aclose()`` closes idle and
busy connections and leaves the pool usable.  HTTP/2 is not pooled here: a client set up
for it keeps httpcore's pool.
"""

from __future__ import annotations

import ssl
import types
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import anyio
import httpcore

__all__ = ["ConnectionPool"]

_Origin = Any  # httpcore.Origin
_Key = tuple[bytes, bytes, int]  # an origin as a dict key (httpcore.Origin is unhashable)


def _key(origin: _Origin) -> _Key:
    return (origin.scheme, origin.host, origin.port)


class _Waiter:
    """A request waiting for a connection to its origin, or for room to open one."""

    __slots__ = ("connection", "event", "key", "room")

    def __init__(self, key: _Key) -> None:
        self.key = key
        self.event = anyio.Event()
        self.connection: httpcore.AsyncHTTPConnection | None = None
        self.room = False  # may open a new connection (counted already)

    @property
    def served(self) -> bool:
        return self.connection is not None or self.room


class ConnectionPool:
    """A drop-in for ``httpcore.AsyncConnectionPool`` (HTTP/1.1), with O(1) bookkeeping
    per request.  Use through :func:`install`, which puts it under an httpx transport.

    Every connection holds one of ``max_connections`` slots, and a slot only ever passes
    from hand to hand without an ``await`` in between: from a closed connection to the
    oldest waiting request, or back to the pool.  So the limit holds and the waiters are
    served in the order they came, whatever origin they are for.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int | None = 10,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = None,
        retries: int = 0,
        local_address: str | None = None,
        uds: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._max = float("inf") if max_connections is None else max_connections
        keep = self._max if max_keepalive_connections is None else max_keepalive_connections
        self._max_idle = min(keep, self._max)
        self._keepalive_expiry = keepalive_expiry
        self._retries = retries
        self._local_address = local_address
        self._uds = uds
        self._socket_options = socket_options
        # Per origin, idle connections from least (left) to most (right) recently used.
        self._idle: dict[_Key, deque[httpcore.AsyncHTTPConnection]] = {}
        self._idle_count = 0
        self._busy: set[httpcore.AsyncHTTPConnection] = set()  # with a request
        self._open = 0  # slots taken: busy and idle connections, rooms given to waiters
        self._waiters: deque[_Waiter] = deque()

    # -- httpcore's pool interface, as httpx's transport uses it ---------------------------

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on a pooled connection; the response's stream returns it."""
        scheme = request.url.scheme
        if scheme not in (b"http", b"https", b"ws", b"wss"):
            shown = scheme.decode(errors="replace")
            raise httpcore.UnsupportedProtocol(
                "Request URL is missing an 'http://' or 'https://' protocol."
                if not shown
                else f"Request URL has an unsupported protocol '{shown}://'."
            )
        origin = request.url.origin
        timeout = request.extensions.get("timeout", {}).get("pool")
        while True:
            connection = await self._acquire(origin, timeout)
            try:
                response = await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:  # pragma: no cover - HTTP/1.1 is never shared
                await self._release(connection)
                continue
            except BaseException:
                await self._release(connection)
                raise
            return httpcore.Response(
                status=response.status,
                headers=response.headers,
                content=_PooledStream(response.stream, self, connection),
                extensions=response.extensions,
            )

    async def aclose(self) -> None:
        """Close every connection, idle or in use, as httpcore's pool does.  The pool stays
        usable: a later request opens a new connection."""
        closing = [c for stack in self._idle.values() for c in stack]
        closing += self._busy
        self._idle.clear()
        self._idle_count = 0
        self._busy.clear()  # their requests' releases find them gone and only close them
        # Each slot is freed whether or not its close completes (a cancellation stops the
        # loop, not the bookkeeping): the slots of the ones not reached are freed too.
        freed = 0
        try:
            for connection in closing:
                await _close(connection)
                freed += 1
                self._free_slot()
        finally:
            for _ in range(len(closing) - freed):
                self._free_slot()

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: types.TracebackType | None = None,
    ) -> None:
        await self.aclose()

    @property
    def connections(self) -> list[httpcore.AsyncHTTPConnection]:
        """The open connections: idle ones first, then those in use."""
        return [*(c for stack in self._idle.values() for c in stack), *self._busy]

    def __repr__(self) -> str:
        return (
            f"<ConnectionPool [Connections: {len(self._busy)} active, "
            f"{self._idle_count} idle | Requests: {len(self._waiters)} queued]>"
        )

    # -- acquiring and releasing -----------------------------------------------------------

    def _new_connection(self, origin: _Origin) -> httpcore.AsyncHTTPConnection:
        """A connection (not yet connected) for a request that holds a slot."""
        connection = httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
            http1=True,
            http2=False,
            retries=self._retries,
            local_address=self._local_address,
            uds=self._uds,
            socket_options=self._socket_options,
        )
        self._busy.add(connection)
        return connection

    async def _acquire(
        self, origin: _Origin, pool_timeout: float | None
    ) -> httpcore.AsyncHTTPConnection:
        key = _key(origin)
        if key in self._idle:  # the most recently used idle connection to this origin
            connection = self._take_idle(key, newest=True)
            if connection.is_closed() or connection.has_expired():
                # This request keeps the stale connection's slot for a new one.  A plain
                # asyncio ``task.cancel()`` can interrupt the close even though it is
                # shielded: the slot is then given back before the error goes on.
                await _close_then(connection, self._free_slot)
                return self._new_connection(origin)
            self._busy.add(connection)
            return connection
        if self._open < self._max:
            self._open += 1
            return self._new_connection(origin)
        if self._idle_count:  # full, but an idle connection to another origin can go
            await _close_then(
                self._take_idle(next(iter(self._idle)), newest=False), self._free_slot
            )
            return self._new_connection(origin)  # in the slot of the one closed
        return await self._wait(origin, pool_timeout)

    def _take_idle(self, key: _Key, *, newest: bool) -> httpcore.AsyncHTTPConnection:
        """Take the newest or the oldest idle connection to ``key`` (which has one)."""
        stack = self._idle[key]
        connection = stack.pop() if newest else stack.popleft()
        self._idle_count -= 1
        if not stack:
            del self._idle[key]
        return connection

    async def _wait(
        self, origin: _Origin, pool_timeout: float | None
    ) -> httpcore.AsyncHTTPConnection:
        waiter = _Waiter(_key(origin))
        self._waiters.append(waiter)
        try:
            with anyio.fail_after(pool_timeout):
                await waiter.event.wait()
        except BaseException as exc:
            if waiter.served:  # served as it was cancelled: pass on what it was given
                if waiter.connection is not None:
                    await self._release(waiter.connection)
                else:
                    self._free_slot()
            else:
                self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise httpcore.PoolTimeout("timed out waiting for a pooled connection") from None
            raise
        if waiter.connection is not None:
            return waiter.connection
        return self._new_connection(origin)  # in the slot it was given

    async def _release(self, connection: httpcore.AsyncHTTPConnection) -> None:
        """Take back a connection whose request is over (its response closed or failed).

        A connection to close keeps its slot until its socket is closed, so the sockets
        open never exceed ``max_connections``; the slot then goes to the oldest waiter.
        """
        if connection not in self._busy:  # the pool was closed meanwhile: slot is gone
            await _close(connection)
            return
        self._busy.remove(connection)
        if connection.is_closed() or not connection.is_idle() or connection.has_expired():
            await _close(connection, then=self._free_slot)
            return
        key = _key(connection._origin)
        if self._waiters:
            waiter = self._waiters[0]  # the oldest, whatever its origin
            if waiter.key == key:
                self._waiters.popleft()
                waiter.connection = connection
                self._busy.add(connection)
                waiter.event.set()
            else:  # it waits for another origin: this connection's slot becomes its room
                await _close(connection, then=self._free_slot)
            return
        stack = self._idle.setdefault(key, deque())
        stack.append(connection)
        self._idle_count += 1
        if self._idle_count > self._max_idle:  # keep the fresher connections
            await self._close_idle(next(iter(self._idle)))
        elif len(stack) > 1 and (stack[0].is_closed() or stack[0].has_expired()):
            # Connections below the top are only reached when traffic peaks: close the
            # least recently used one here once it has expired, so none lingers.
            await self._close_idle(key)

    async def _close_idle(self, key: _Key) -> None:
        """Close the least recently used idle connection of ``key`` and free its slot."""
        await _close(self._take_idle(key, newest=False), then=self._free_slot)

    def _free_slot(self) -> None:
        """A connection's slot is free: it becomes the oldest waiter's room, or the pool's."""
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.room = True
            waiter.event.set()
        else:
            self._open -= 1


async def _close(
    connection: httpcore.AsyncHTTPConnection, *, then: Callable[[], None] | None = None
) -> None:
    """Close ``connection``, shielded from anyio cancellation; then run ``then`` (the slot
    bookkeeping, synchronous) whatever happens.

    anyio's shield does not stop a plain asyncio ``task.cancel()``: the close can still be
    interrupted, and the bookkeeping after it must not be skipped, or the pool loses a
    slot for good.  So ``then`` runs in a ``finally``.
    """
    try:
        with anyio.CancelScope(shield=True):
            await connection.aclose()
    finally:
        if then is not None:
            then()


async def _close_then(connection: httpcore.AsyncHTTPConnection, undo: Callable[[], None]) -> None:
    """Close ``connection`` for a request that takes over its slot; if the close is
    interrupted, the request will not take the slot, so ``undo`` frees it."""
    try:
        await _close(connection)
    except BaseException:
        undo()
        raise


class _PooledStream:
    """A response body that returns its connection to the pool when closed."""

    __slots__ = ("_closed", "_connection", "_pool", "_stream")

    def __init__(
        self, stream: Any, pool: ConnectionPool, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            try:
                if hasattr(self._stream, "aclose"):
                    await self._stream.aclose()
            finally:
                await self._pool._release(self._connection)


def install(transport: Any) -> bool:
    """Put a :class:`ConnectionPool` under an ``httpx.AsyncHTTPTransport`` in place of
    httpcore's, keeping its settings.  Returns whether it did: a transport through a proxy,
    one set up for HTTP/2, or an httpx whose transport no longer looks as expected keeps
    its own pool."""
    stock = getattr(transport, "_pool", None)
    if type(stock) is not httpcore.AsyncConnectionPool or stock.connections:
        return False  # not httpcore's plain pool, or one already in use
    if getattr(stock, "_http2", True) or not getattr(stock, "_http1", False):
        return False
    try:
        pool = ConnectionPool(
            ssl_context=stock._ssl_context,
            max_connections=stock._max_connections,
            max_keepalive_connections=stock._max_keepalive_connections,
            keepalive_expiry=stock._keepalive_expiry,
            retries=stock._retries,
            local_address=stock._local_address,
            uds=stock._uds,
            socket_options=stock._socket_options,
        )
    except AttributeError:  # pragma: no cover - a future httpcore renamed its settings
        return False
    transport._pool = pool
    return True
