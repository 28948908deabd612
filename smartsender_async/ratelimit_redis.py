"""The Redis limiter: one quota and one lock gate per token, shared by every process.

Install with ``pip install 'smartsender-async[redis]'``.  The arithmetic is the in-memory
limiter's (see :mod:`smartsender_async.ratelimit`), done by one Lua script per call so
that checking the gate and booking a slot is atomic across processes, and timed by the
Redis server's clock (``TIME``) so that clock skew between hosts cannot break the limit.

Keys are ``{prefix}{<digest>}:tat`` and ``{prefix}{<digest>}:gate`` (the braces keep both
in one Redis Cluster slot).  The digest is the one the client passes, a SHA-256 of the
token; a key that does not look like one is hashed again, so no token can reach Redis.
Both keys expire on their own once idle.

``redis.asyncio`` runs under asyncio only: under trio, use :class:`InMemoryRateLimiter`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import urllib.parse
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import sniffio

from smartsender_async.errors import SmartSenderError
from smartsender_async.ratelimit import DEFAULT_RATE_LIMIT, LockGateClosedError, RateLimit

if TYPE_CHECKING:
    import redis.asyncio
    from redis.commands.core import AsyncScript

__all__ = ["RateLimiterUnavailableError", "RedisRateLimiter"]

# A client and its scripts: acquire, lock, refund.
_Connection = tuple["redis.asyncio.Redis", "AsyncScript", "AsyncScript", "AsyncScript"]

logger = logging.getLogger("smartsender_async")

_DIGEST = re.compile(r"[0-9a-f]{64}")

# KEYS: tat, gate.  ARGV: interval, tolerance, max_wait (-1: none), booked gate (-1: none),
# all in integer microseconds, exact in a double for centuries.
# Returns {0, wait, gate, closed, booked}: a slot was booked, go after `wait`; recheck with
#             `gate`; `closed` is how long the gate stays closed (<= 0: it is open);
#             `booked` is the new TAT (what a refund gives back).
#         {1, remaining}: the gate stays closed longer than max_wait; nothing booked.
#         {2}: recheck passed (our booked slot stands, no new lock).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local booked_gate = tonumber(ARGV[4])
local gate = tonumber(redis.call('GET', KEYS[2]) or '0')
if booked_gate >= 0 and (gate <= booked_gate or gate <= now) then
  return {2}
end
local begin = now
if gate > now then
  if max_wait >= 0 and gate - now > max_wait then
    return {1, gate - now}
  end
  begin = gate
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local allowed = math.max(begin, tat - tolerance)
local booked = math.max(tat, begin) + interval
redis.call('SET', KEYS[1], string.format('%.0f', booked),
           'PX', math.ceil((booked - now) / 1000) + 1000)
return {0, allowed - now, gate, gate - now, booked}
"""

# KEYS: tat.  ARGV: booked (the TAT our booking set), interval.  A waiter cancelled before
# its slot gives the slot back, unless somebody booked after it (then the TAT moved on and
# stays: giving back a slot in the middle of the queue would let the next one go early).
# Returns 1 when the slot was given back.
_REFUND = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat ~= tonumber(ARGV[1]) then
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', tat - tonumber(ARGV[2])), 'PX', ttl)
end
return 1
"""

# KEYS: gate.  ARGV: seconds in microseconds.  Returns 1 when the gate closed or was
# extended, 0 when it already stayed closed longer.
_LOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lock_until = now + tonumber(ARGV[1])
local gate = tonumber(redis.call('GET', KEYS[1]) or '0')
if lock_until <= gate then
  return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', lock_until),
           'PX', math.ceil((lock_until - now) / 1000) + 1000)
return 1
"""


class RateLimiterUnavailableError(SmartSenderError):
    """The shared limiter's store (Redis) cannot be reached or failed.

    The request was not sent: skipping the limit could get the token locked for up to
    12 minutes for every worker sharing it.
    """


def _micros(seconds: float) -> int:
    return math.ceil(seconds * 1_000_000)


def _safe_location(url: str) -> str:
    """``url`` without credentials, for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class RedisRateLimiter:
    """A limiter whose state lives in Redis, shared by every process that uses the same
    Redis, ``prefix`` and token.  Implements :class:`~smartsender_async.ratelimit.RateLimiter`.

    Every process must use the same :class:`RateLimit`; the quota is enforced per token.

    Each process logs (INFO) when it sees a token's lock gate close, because it got the
    423 itself or found the gate closed by another client, and when it first passes the
    gate again: one pair of lines per lock per process.

    Args:
        url: a ``redis://`` / ``rediss://`` / ``unix://`` URL, or a ``redis.asyncio.Redis``
            client you own (it is used as is and never closed by :meth:`aclose`).
        rate: the quota per token.
        prefix: the start of every key this limiter writes.
        timeout: seconds to connect to Redis and to wait for an answer; past it the
            call fails with :class:`RateLimiterUnavailableError`.
        sleep: the sleep function; injectable for tests.

    Raises:
        ImportError: the ``redis`` package is missing (install the ``redis`` extra).
    """

    def __init__(
        self,
        url: str | redis.asyncio.Redis,
        rate: RateLimit = DEFAULT_RATE_LIMIT,
        *,
        prefix: str = "smartsender:rl:",
        timeout: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        try:
            import redis.asyncio
            import redis.exceptions
        except ImportError as exc:
            raise ImportError(
                "RedisRateLimiter needs the redis package: pip install 'smartsender-async[redis]'"
            ) from exc
        if not isinstance(rate, RateLimit):
            raise TypeError(f"rate must be a RateLimit, got {rate!r}")
        self.rate = rate
        self.prefix = prefix
        self._interval = _micros(rate.emission_interval)
        self._tolerance = (rate.burst - 1) * self._interval
        self._timeout = timeout
        self._sleep = sleep
        self._failures: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        # Per event loop: its client with the scripts, and what closes it with the loop.
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[_Connection, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()
        self._shared: _Connection | None = None
        # Digests whose gate this process has logged as closed and not yet as open again.
        # Only dict operations that are atomic under the GIL touch it (thread-safe).
        self._announced: dict[str, object] = {}
        if isinstance(url, str):
            if not url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, got {url!r}")
            self._url: str | None = url
            self._where = _safe_location(url)
        else:
            self._url = None
            self._shared = self._with_scripts(url)
            kwargs = url.connection_pool.connection_kwargs
            self._where = f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"

    def __repr__(self) -> str:
        return f"RedisRateLimiter({self._where!r}, {self.rate!r}, prefix={self.prefix!r})"

    @staticmethod
    def _with_scripts(
        client: redis.asyncio.Redis,
    ) -> _Connection:
        return (
            client,
            client.register_script(_ACQUIRE),
            client.register_script(_LOCK),
            client.register_script(_REFUND),
        )

    async def _connection(self) -> _Connection:
        if self._shared is not None:
            return self._shared
        try:
            library = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            library = "none"
        if library != "asyncio":
            raise RuntimeError(
                f"RedisRateLimiter works under asyncio only (redis.asyncio), not {library}; "
                "under trio use InMemoryRateLimiter"
            )
        # redis.asyncio connections belong to the loop that made them: one client per loop.
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            import redis.asyncio

            assert self._url is not None
            client = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout
            )
            # Close the client when its loop ends (asyncio.run closes the async generators
            # it knows of), so a limiter used under many asyncio.run() calls, or a loop
            # ended without aclose(), leaks no connection.
            entry = self._clients[loop] = (self._with_scripts(client), _close_with_loop(client))
            await entry[1].__anext__()
        return entry[0]

    @staticmethod
    def _digest(key: str) -> str:
        if _DIGEST.fullmatch(key):
            return key
        return hashlib.sha256(key.encode()).hexdigest()

    def _keys(self, digest: str) -> tuple[str, str]:
        base = f"{self.prefix}{{{digest}}}"
        return f"{base}:tat", f"{base}:gate"

    async def _call(self, script: AsyncScript, keys: list[str], args: list[int]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except self._failures as exc:
            raise RateLimiterUnavailableError(
                f"the Redis rate limiter at {self._where} failed ({type(exc).__name__}: {exc}); "
                "the request was not sent"
            ) from exc

    async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
        """Wait until the lock gate for ``key`` is open and a slot is free; take the slot.

        See :meth:`RateLimiter.acquire`.  Costs one Redis round trip when no wait is
        needed, two when it is.
        """
        _, acquire, _, refund = await self._connection()
        digest = self._digest(key)
        keys = list(self._keys(digest))
        limit = -1 if max_wait == math.inf else _micros(max_wait)
        booked_gate = -1
        waited = 0.0
        while True:
            reply = await self._call(
                acquire, keys, [self._interval, self._tolerance, limit, booked_gate]
            )
            status = int(reply[0])
            if status == 1:
                raise LockGateClosedError(int(reply[1]) / 1_000_000)
            if status == 0:
                wait = int(reply[1]) / 1_000_000
                closed = int(reply[3]) / 1_000_000
                if closed > 0:
                    self._announce_closed(digest, closed)
                if wait > 0:
                    booked_gate = int(reply[2])
                    try:
                        await self._sleep(wait)
                    except BaseException:
                        await self._refund(refund, keys[0], int(reply[4]))
                        raise
                    waited += wait
                    continue
            # Passing means the gate is open (a closed gate makes the booked wait > 0).
            if self._announced.pop(digest, None) is not None:
                logger.info(
                    "rate-limit lock gate open again for token %.8s (shared via Redis)", digest
                )
            return waited

    async def _refund(self, refund: AsyncScript, tat_key: str, booked: int) -> None:
        """Give back the slot of a waiter cancelled before its turn (best effort: on a
        Redis failure the slot is simply lost, which only costs throughput)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout):
            try:
                await refund(keys=[tat_key], args=[booked, self._interval])
            except self._failures:
                logger.debug("could not give back a cancelled rate-limit slot", exc_info=True)

    def _announce_closed(self, digest: str, seconds: float) -> None:
        """Log a gate that another client closed, once per gate episode in this process."""
        marker = object()
        if self._announced.setdefault(digest, marker) is marker:
            logger.info(
                "rate-limit lock gate closed for token %.8s (shared via Redis, closed by "
                "another client): waiting %.1f s",
                digest,
                seconds,
            )

    async def lock(self, key: str, seconds: float) -> None:
        """Close the lock gate for ``key`` until now + ``seconds`` by the Redis clock."""
        if not math.isfinite(seconds):
            raise ValueError(f"seconds must be finite, got {seconds!r}")
        if seconds <= 0:
            return
        _, _, lock, _ = await self._connection()
        digest = self._digest(key)
        gate_key = self._keys(digest)[1]
        if await self._call(lock, [gate_key], [_micros(seconds)]):
            self._announced[digest] = True
            logger.info(
                "rate-limit lock gate closed for token %.8s (shared via Redis): "
                "every request waits %.1f s",
                digest,
                seconds,
            )

    async def aclose(self) -> None:
        """Close the connections this limiter opened in this event loop (never a client you
        passed in).  Those opened in other loops close when their loop ends."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            return
        entry = self._clients.pop(current, None)
        if entry is not None:
            await entry[1].aclose()


async def _close_with_loop(client: redis.asyncio.Redis) -> AsyncGenerator[None, None]:
    """Suspended for as long as its loop runs; closes ``client`` when closed."""
    try:
        yield
    finally:
        await client.aclose()
