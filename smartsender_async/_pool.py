"""An HTTP/1.1 connection pool that does constant work per request.

httpcore 1.0's ``AsyncConnectionPool`` re-plans the whole pool twice per request (when it
starts and when its response closes): it walks every connection, polls each idle socket,
and for each idle one counts all connections again (encode/httpcore#1035).  With 16 pages
in flight that was ~40 % of the client's CPU per request; with 200 tenants sharing one
pool it was 70 %.  It also counts every connection, not only idle ones, against
``max_keepalive_connections``, so above 20 requests in flight it closes connections after
each burst.

:class:`ConnectionPool` keeps, per origin, a stack of idle connections (most recently used
on top, so the fewest go cold) and a FIFO of waiting requests.  A request takes the top
idle connection, checking only that one for expiry; a closed response puts its connection
back, or hands it straight to the oldest request waiting for that origin.  It reuses
httpcore's own :class:`httpcore.AsyncHTTPConnection` for everything on the wire, and
honours the same limits and timeouts (``max_connections``, ``max_keepalive_connections``,
``keepalive_expiry``, the ``pool`` timeout).  HTTP/2 is not pooled here: a client set up
for it keeps httpcore's pool.
"""

from __future__ import annotations

import ssl
import types
from collections import deque
from collections.abc import AsyncIterator, Iterable
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
    per request.  Use through :func:`install`, which puts it under an httpx transport."""

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
        self._idle: dict[_Key, list[httpcore.AsyncHTTPConnection]] = {}
        self._idle_count = 0
        self._open = 0  # connections counted against max_connections (busy or idle)
        self._waiters: deque[_Waiter] = deque()
        self._closed = False

    # -- httpcore's pool interface, as httpx's transport uses it ---------------------------

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on a pooled connection; the response's stream returns it."""
        scheme = request.url.scheme
        if scheme not in (b"http", b"https"):
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
            except httpcore.ConnectionNotAvailable:
                # The connection went away between being pooled and being used: drop it
                # and take another.
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
        """Close every idle connection; connections in use close as their responses do."""
        self._closed = True
        idle = [c for stack in self._idle.values() for c in stack]
        self._idle.clear()
        self._open -= len(idle)
        self._idle_count = 0
        with anyio.CancelScope(shield=True):
            for connection in idle:
                await connection.aclose()

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
        """The idle connections (for inspection; the busy ones are with their requests)."""
        return [c for stack in self._idle.values() for c in stack]

    def __repr__(self) -> str:
        return (
            f"<ConnectionPool [Connections: {self._open - self._idle_count} active, "
            f"{self._idle_count} idle | Requests: {len(self._waiters)} queued]>"
        )

    # -- acquiring and releasing -----------------------------------------------------------

    def _new_connection(self, origin: _Origin) -> httpcore.AsyncHTTPConnection:
        return httpcore.AsyncHTTPConnection(
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

    async def _acquire(
        self, origin: _Origin, pool_timeout: float | None
    ) -> httpcore.AsyncHTTPConnection:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        stack = self._idle.get(_key(origin))
        while stack:
            connection = stack.pop()
            self._idle_count -= 1
            if connection.has_expired() or connection.is_closed():
                await self._drop(connection)
                continue
            return connection
        if self._open < self._max:
            self._open += 1
            return self._new_connection(origin)
        if self._idle_count:  # full, but an idle connection to another origin can go
            await self._drop(self._pop_any_idle())
            self._open += 1
            return self._new_connection(origin)
        return await self._wait(origin, pool_timeout)

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
                await self._give_back(waiter)
            else:
                self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise httpcore.PoolTimeout("timed out waiting for a pooled connection") from None
            raise
        if waiter.connection is not None:
            return waiter.connection
        return self._new_connection(origin)

    async def _give_back(self, waiter: _Waiter) -> None:
        if waiter.connection is not None:
            await self._release(waiter.connection)
        else:  # room to open a connection, never used
            self._open -= 1
            await self._room_freed()

    async def _release(self, connection: httpcore.AsyncHTTPConnection) -> None:
        """Take back a connection whose request is over (its response closed or failed)."""
        if self._closed or connection.is_closed() or not connection.is_idle():
            await self._drop(connection)
            return
        key = _key(connection._origin)
        for waiter in self._waiters:
            if waiter.key == key:
                self._waiters.remove(waiter)
                waiter.connection = connection
                waiter.event.set()
                return
        if self._waiters:
            # Nobody waits for this origin but somebody waits for room: close this one.
            await self._drop(connection)
            return
        if self._idle_count >= self._max_idle:
            await self._drop(connection)
            return
        self._idle.setdefault(key, []).append(connection)
        self._idle_count += 1

    async def _drop(self, connection: httpcore.AsyncHTTPConnection) -> None:
        """Close a connection that counted against the limit, and pass its room on."""
        self._open -= 1
        with anyio.CancelScope(shield=True):
            await connection.aclose()
        await self._room_freed()

    async def _room_freed(self) -> None:
        if self._waiters and self._open < self._max:
            waiter = self._waiters.popleft()
            self._open += 1
            waiter.room = True
            waiter.event.set()

    def _pop_any_idle(self) -> httpcore.AsyncHTTPConnection:
        for key, stack in self._idle.items():
            if stack:
                connection = stack.pop(0)  # the least recently used of that origin
                if not stack:
                    del self._idle[key]
                self._idle_count -= 1
                return connection
        raise AssertionError("no idle connection")  # pragma: no cover - guarded by count


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
    if type(stock) is not httpcore.AsyncConnectionPool:
        return False
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
