"""The Redis limiter: one quota and one lock gate per token, shared by every process.

Install with `pip install 'smartsender-async[redis]'`.  The arithmetic and the design
are the in-memory limiter's (see `smartsender_async.ratelimit`: booking, recheck
after the sleep, giving slots back, eras and state loss), done by Lua scripts so that
checking the gate and booking a slot is atomic across processes, and timed by the Redis
server's clock (`TIME`) so that clock skew between hosts cannot break the limit.

Keys are `{prefix}{<digest>}:tat` (the TAT and its era), `…:gate` (the lock gate's
deadline) and `…:free` (given-back bookings, a sorted set); the braces keep them in one
Redis Cluster slot.  The digest is the one the client passes, a SHA-256 of the token; a
key that does not look like one is hashed again, so no token can reach Redis.  The keys
expire on their own once idle (the TAT a window after its time).

Redis must not evict them: use `maxmemory-policy noeviction` or `maxmemory 0`.  The
limiter logs a WARNING once when it finds an evicting policy with a `maxmemory` set;
an eviction is survived like a FLUSHALL (the state's loss is noticed, everyone re-books,
and the new state starts with a pause and no burst), at some cost in throughput.

Every Redis call runs under the limiter's `timeout`, for a client passed in too.

`redis.asyncio` runs under asyncio only: under trio, use `InMemoryRateLimiter`.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from smartsender_async.ratelimit import (
    DEFAULT_RATE_LIMIT,
    LockGateClosedError,
    RateLimit,
    recheck_slack,
)

if TYPE_CHECKING:
    import redis.asyncio
    from redis.commands.core import AsyncScript

__all__ = ["RateLimiterUnavailableError", "RedisRateLimiter"]

# A client and its scripts: acquire, lock, refund.
_Connection = tuple["redis.asyncio.Redis", "AsyncScript", "AsyncScript", "AsyncScript"]

logger = logging.getLogger("smartsender_async")

_DIGEST = re.compile(r"[0-9a-f]{64}")

# State per token: ``tat`` holds "<TAT>:<era>" (the era is the Redis time at which the
# state was created: a new era after a FLUSHALL, a restart or an eviction), ``gate`` the
# lock gate's deadline, ``free`` the given-back bookings (a sorted set scored by the TAT
# they set; member "<booked>:<prev>:<allowed>:<era>").  All times are integer
# microseconds of the Redis clock, exact in a double for centuries.

# KEYS: tat, gate, free.
# ARGV: interval, tolerance, max_wait (-1: none), window (period + margin), slack,
#       seen TAT, seen gate (what this process saw last; 0: nothing),
#       then for a recheck (else -1 -1 -1 -1 -1): booked, prev, allowed, era, gate.
# Returns {2, 0, gate, tat}: the recheck passed, go.
#         {1, remaining, gate, tat}: the gate stays closed longer than max_wait.
#         {0, wait, gate, tat, booked, prev, allowed, era}: a slot was booked (or a
#             given-back one taken); go after `wait` (<= 0: at once), then recheck.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local slack = tonumber(ARGV[5])
local seen_tat = tonumber(ARGV[6])
local seen_gate = tonumber(ARGV[7])
local b_booked = tonumber(ARGV[8])
local b_prev = tonumber(ARGV[9])
local b_allowed = tonumber(ARGV[10])
local b_era = ARGV[11]
local b_gate = tonumber(ARGV[12])
local function fmt(x) return string.format('%.0f', x) end

local gate = tonumber(redis.call('GET', KEYS[2]) or '0')
if seen_gate > gate and seen_gate > now then
  -- a lock this process saw is gone from Redis (flush, restart, eviction): restore it
  gate = seen_gate
  redis.call('SET', KEYS[2], fmt(gate), 'PX', math.ceil((gate - now) / 1000) + 1000)
end
local raw = redis.call('GET', KEYS[1])
local tat, era
local dirty = false
if raw then
  local a, e = string.match(raw, '^(%d+):(%d+)$')
  tat = tonumber(a)
  era = e
end
if not tat then
  -- a new state, a new era; lost while in use (seen within a window): no burst, and
  -- one interval of pause (see the ratelimit module's docstring)
  era = fmt(now)
  tat = 0
  if seen_tat > now - window then
    tat = now + interval + tolerance
  end
  dirty = true
end
local function state() return fmt(tat) .. ':' .. era end
local function ttl(x) return math.ceil((x - now + window) / 1000) + 1000 end

if b_booked >= 0 then
  if era == b_era and b_booked <= tat and (gate <= b_gate or gate <= now)
     and now <= b_allowed + slack then
    return {2, 0, gate, tat}
  end
  if era == b_era and tat == b_booked then
    -- stale (a lock, a late wake-up) and the last booked: give it back
    tat = b_prev
    while true do
      local top = redis.call('ZRANGEBYSCORE', KEYS[3], fmt(tat), fmt(tat))
      if not top[1] then break end
      redis.call('ZREM', KEYS[3], top[1])
      local _, p = string.match(top[1], '^(%d+):(%d+):')
      tat = tonumber(p)
    end
    dirty = true
  end
end

local begin = now
if gate > now then
  if max_wait >= 0 and gate - now > max_wait then
    if dirty then
      redis.call('SET', KEYS[1], state(), 'PX', ttl(math.max(tat, now)))
    end
    return {1, gate - now, gate, tat}
  end
  begin = gate
end

local booked, prev, allowed
while true do
  local first = redis.call('ZRANGE', KEYS[3], 0, 0)
  if not first[1] then break end
  redis.call('ZREM', KEYS[3], first[1])
  local fb, fp, fa, fe = string.match(first[1], '^(%d+):(%d+):(%d+):(%d+)$')
  if fe == era and tonumber(fa) >= begin and tonumber(fb) <= tat then
    booked = tonumber(fb)
    prev = tonumber(fp)
    allowed = tonumber(fa)
    break
  end
end
if not booked then
  prev = tat
  allowed = math.max(begin, tat - tolerance)
  booked = math.max(tat, begin) + interval
  tat = booked
  dirty = true
end
if dirty then
  redis.call('SET', KEYS[1], state(), 'PX', ttl(tat))
end
return {0, allowed - now, gate, tat, booked, prev, allowed, era}
"""

# KEYS: tat, free.  ARGV: booked, prev, allowed, era.  A waiter that will not use
# its booking (cancelled, timed out) gives it back: the last booked steps the TAT back
# (and on through given-back bookings this uncovers); any other becomes free for the next
# caller.  Returns 1 (stepped back), 2 (freed) or 0 (its state is gone).
_REFUND = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local a, era = string.match(raw, '^(%d+):(%d+)$')
local tat = tonumber(a)
if not tat or era ~= ARGV[4] then return 0 end
local booked = tonumber(ARGV[1])
local function fmt(x) return string.format('%.0f', x) end
local ttl = redis.call('PTTL', KEYS[1])
if tat == booked then
  tat = tonumber(ARGV[2])
  while true do
    local top = redis.call('ZRANGEBYSCORE', KEYS[2], fmt(tat), fmt(tat))
    if not top[1] then break end
    redis.call('ZREM', KEYS[2], top[1])
    local _, p = string.match(top[1], '^(%d+):(%d+):')
    tat = tonumber(p)
  end
  if ttl > 0 then
    redis.call('SET', KEYS[1], fmt(tat) .. ':' .. era, 'PX', ttl)
  end
  return 1
end
if tat < booked then return 0 end
redis.call('ZADD', KEYS[2], fmt(booked),
           ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. era)
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 2
"""

# KEYS: gate.  ARGV: seconds in microseconds.  Returns {1, gate} when the gate closed or
# was extended, {0, gate} when it already stayed closed longer.
_LOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lock_until = now + tonumber(ARGV[1])
local gate = tonumber(redis.call('GET', KEYS[1]) or '0')
if lock_until <= gate then
  return {0, gate}
end
redis.call('SET', KEYS[1], string.format('%.0f', lock_until),
           'PX', math.ceil((lock_until - now) / 1000) + 1000)
return {1, lock_until}
"""


class RateLimiterUnavailableError(SmartSenderError):
    """The shared limiter's store (Redis) cannot be reached or failed.

    The request was not sent: skipping the limit could get the token locked for up to
    12 minutes for every worker sharing it.  The message names Redis's location without
    its credentials.

    Example:
        ```python
        # not run: needs a Redis that is down
        try:
            await client.me()
        except RateLimiterUnavailableError:
            ...  # retry later; nothing was sent
        ```
    """


def _micros(seconds: float) -> int:
    return math.ceil(seconds * 1_000_000)


def _safe_location(url: str) -> str:
    """`url` without credentials, for messages."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class RedisRateLimiter:
    """A limiter whose state lives in Redis, shared by every process on one token.

    Every process that uses the same Redis, `prefix` and token shares that token's quota
    and its lock gate.  Implements [RateLimiter][smartsender_async.RateLimiter].  Every
    process must use the same [RateLimit][smartsender_async.RateLimit]; the quota is
    enforced per token.

    Each process logs (INFO) when it sees a token's lock gate close, because it got the
    423 itself or found the gate closed by another client, and when it first passes the
    gate again: one pair of lines per lock per process.

    Args:
        url: a `redis://` / `rediss://` / `unix://` URL, or a `redis.asyncio.Redis`
            client you own (it is used as is and never closed by `aclose`).
        rate: the quota per token.
        prefix: the start of every key this limiter writes.
        timeout: seconds to connect to Redis and to wait for each answer; past it the
            call fails with `RateLimiterUnavailableError`.  It holds for a client
            you pass in too: every Redis call runs under this deadline.
        sleep: the sleep function; injectable for tests.

    Raises:
        ImportError: the `redis` package is missing (install the `redis` extra).
        TypeError: `rate` is not a `RateLimit`.
        ValueError: `url` is not a `redis://`, `rediss://` or `unix://` URL, or `timeout` is
            not a finite number > 0.

    Example:
        ```python
        import os

        from smartsender_async import RedisRateLimiter, SmartSender

        limiter = RedisRateLimiter(os.environ["REDIS_URL"])
        async with SmartSender(rate_limit=limiter) as client:  # every worker does the same
            await client.me()
        await limiter.aclose()
        ```
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
        if not (
            isinstance(timeout, (int, float))
            and not isinstance(timeout, bool)
            and math.isfinite(timeout)
            and timeout > 0
        ):
            raise ValueError(f"timeout must be a finite number > 0, got {timeout!r}")
        self._timeout = float(timeout)
        self._slack = _micros(recheck_slack(rate))
        self._window = _micros(rate.period + rate.margin)
        self._sleep = sleep
        self._policy_checked = False
        # Per digest, the latest TAT and gate (Redis microseconds) this process has seen.
        self._seen: dict[str, tuple[int, int]] = {}
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
            connection = self._shared
        else:
            connection = await self._loop_connection()
        if not self._policy_checked:
            self._policy_checked = True
            await self._check_eviction_policy(connection[0])
        return connection

    async def _loop_connection(self) -> _Connection:
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
            # it knows of), and forget it then: the client refers to its loop, so an entry
            # left in the weak dictionary would keep the loop alive for good.
            entry = self._clients[loop] = (
                self._with_scripts(client),
                _close_with_loop(client, self._clients),
            )
            await entry[1].__anext__()
        return entry[0]

    async def _check_eviction_policy(self, client: redis.asyncio.Redis) -> None:
        """Warn once if Redis may evict the limiter's keys before they expire."""
        failures: tuple[type[BaseException], ...] = (TimeoutError, *self._failures)
        try:
            with anyio.fail_after(self._timeout):
                policy = await client.config_get("maxmemory-policy")
                memory = await client.config_get("maxmemory")
        except failures:  # CONFIG may be disabled (a managed Redis): say nothing
            logger.debug("could not read the Redis maxmemory policy", exc_info=True)
            return
        settings = {_text(k): _text(v) for k, v in {**policy, **memory}.items()}
        name = settings.get("maxmemory-policy", "noeviction")
        limit = settings.get("maxmemory", "0")
        if name != "noeviction" and limit not in ("", "0"):
            logger.warning(
                "the Redis rate limiter at %s: maxmemory-policy is %s with maxmemory %s, "
                "so Redis may evict the limiter's keys before they expire; the limiter then "
                "starts over conservatively, but other clients may lose a lock gate.  Use "
                "maxmemory-policy noeviction (or maxmemory 0) on the limiter's Redis",
                self._where,
                name,
                limit,
            )

    @staticmethod
    def _digest(key: str) -> str:
        if _DIGEST.fullmatch(key):
            return key
        return hashlib.sha256(key.encode()).hexdigest()

    def _keys(self, digest: str) -> tuple[str, str, str]:
        base = f"{self.prefix}{{{digest}}}"
        return f"{base}:tat", f"{base}:gate", f"{base}:free"

    def _failed(self, exc: BaseException | None) -> RateLimiterUnavailableError:
        if exc is None:
            what = f"did not answer within {self._timeout:g} s"
        else:
            what = f"failed ({type(exc).__name__}: {exc})"
        return RateLimiterUnavailableError(
            f"the Redis rate limiter at {self._where} {what}; the request was not sent"
        )

    async def _call(self, script: AsyncScript, keys: list[str], args: list[int | str]) -> Any:
        """Run `script` within the limiter's own `timeout`, whoever built the client."""
        try:
            with anyio.fail_after(self._timeout):
                return await script(keys=keys, args=args)
        except TimeoutError:
            raise self._failed(None) from None
        except self._failures as exc:
            raise self._failed(exc) from exc

    async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
        """Wait until the lock gate for `key` is open and a slot is free; take the slot.

        Costs one Redis round trip when no wait is needed, two when it is. A caller cancelled while
        it waits gives its slot back.

        Args:
            key: the token's identity (a digest, never the token).
            max_wait: the longest wait at a closed lock gate that is accepted, in seconds.

        Returns:
            The seconds spent waiting.

        Raises:
            LockGateClosedError: the gate stays closed for longer than `max_wait` seconds; raised at
                once, taking no slot.
            RateLimiterUnavailableError: Redis failed or did not answer within `timeout`; the
                request must not be sent.

        Example:
            ```python
            waited = await limiter.acquire("token-digest")
            ```
        """
        gate_wait, slot_wait = await self.acquire_split(key, max_wait=max_wait)
        return gate_wait + slot_wait

    async def acquire_split(self, key: str, *, max_wait: float = math.inf) -> tuple[float, float]:
        """`acquire`, returning the two waits separately.

        Args:
            key: the token's identity (a digest, never the token).
            max_wait: the longest wait at a closed lock gate that is accepted, in seconds.

        Returns:
            `(seconds waited at the lock gate, seconds waited for a slot)`.

        Raises:
            LockGateClosedError: the gate stays closed for longer than `max_wait` seconds; raised at
                once, taking no slot.
            RateLimiterUnavailableError: Redis failed or did not answer within `timeout`; the
                request must not be sent.

        Example:
            ```python
            at_gate, for_slot = await limiter.acquire_split("token-digest")
            ```
        """
        _, acquire, _, refund = await self._connection()
        digest = self._digest(key)
        keys = list(self._keys(digest))
        limit = -1 if max_wait == math.inf else _micros(max_wait)
        recheck: list[int | str] = [-1, -1, -1, -1, -1]
        gated = 0.0
        waited = 0.0
        while True:
            seen = self._seen.get(digest, (0, 0))
            args: list[int | str] = [
                self._interval,
                self._tolerance,
                limit,
                self._window,
                self._slack,
                *seen,
                *recheck,
            ]
            try:
                reply = await self._call(acquire, keys, args)
            except BaseException:
                if recheck[0] != -1:  # still holding a booking: give it back
                    booked, prev, allowed, era, _ = recheck
                    await self._give_back(
                        refund, keys, int(booked), int(prev), int(allowed), str(era)
                    )
                raise
            status = int(reply[0])
            gate = int(reply[2])
            tat = int(reply[3])
            self._note(digest, tat, gate)
            if status == 1:
                raise LockGateClosedError(int(reply[1]) / 1_000_000)
            if status == 0:
                wait = int(reply[1])
                booked, prev, allowed = int(reply[4]), int(reply[5]), int(reply[6])
                era = _text(reply[7])
                now = allowed - wait
                if gate > now:
                    self._announce_closed(digest, (gate - now) / 1_000_000)
                if wait > 0:
                    recheck = [booked, prev, allowed, era, gate]
                    try:
                        await self._sleep(wait / 1_000_000)
                    except BaseException:
                        await self._give_back(refund, keys, booked, prev, allowed, era)
                        raise
                    gated += max(0, min(gate, allowed) - now) / 1_000_000
                    waited += wait / 1_000_000
                    continue
            # Passing means the gate is open (a closed gate makes the booked wait > 0).
            if self._announced.pop(digest, None) is not None:
                logger.info(
                    "rate-limit lock gate open again for token %.8s (shared via Redis)", digest
                )
            return gated, waited - gated

    def _note(self, digest: str, tat: int, gate: int) -> None:
        """Remember the latest TAT and gate seen, to restore them if Redis loses them."""
        seen = self._seen.get(digest)
        if seen is None or tat > seen[0] or gate > seen[1]:
            self._seen[digest] = (
                (tat, gate) if seen is None else (max(tat, seen[0]), max(gate, seen[1]))
            )

    async def _give_back(
        self, refund: AsyncScript, keys: list[str], booked: int, prev: int, allowed: int, era: str
    ) -> None:
        """Give back the booking of a waiter cancelled before its turn, so that it goes to
        the next caller (best effort: on a Redis failure the slot is simply lost, which
        only costs throughput)."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout):
            try:
                await refund(keys=[keys[0], keys[2]], args=[booked, prev, allowed, era])
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
        """Close the lock gate for `key` until now + `seconds` by the Redis clock.

        Never shortens a gate already closed for longer; every process sharing the Redis sees it.

        Args:
            key: the token's identity (a digest, never the token).
            seconds: how long the gate stays closed; 0 or less does nothing.

        Raises:
            ValueError: `seconds` is not finite.
            RateLimiterUnavailableError: Redis failed or did not answer within `timeout`; the
                request must not be sent.

        Example:
            ```python
            await limiter.lock("token-digest", 60)
            ```
        """
        if not math.isfinite(seconds):
            raise ValueError(f"seconds must be finite, got {seconds!r}")
        if seconds <= 0:
            return
        _, _, lock, _ = await self._connection()
        digest = self._digest(key)
        gate_key = self._keys(digest)[1]
        changed, gate = await self._call(lock, [gate_key], [_micros(seconds)])
        seen = self._seen.get(digest, (0, 0))
        self._seen[digest] = (seen[0], max(seen[1], int(gate)))
        if int(changed):
            self._announced[digest] = True
            logger.info(
                "rate-limit lock gate closed for token %.8s (shared via Redis): "
                "every request waits %.1f s",
                digest,
                seconds,
            )

    async def aclose(self) -> None:
        """Close the connections this limiter opened in this event loop.

        Never a client you passed in. Those opened in other loops close when their loop ends.

        Example:
            ```python
            await limiter.aclose()
            ```
        """
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            return
        entry = self._clients.pop(current, None)
        if entry is not None:
            await entry[1].aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _close_with_loop(
    client: redis.asyncio.Redis,
    clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any],
) -> AsyncGenerator[None, None]:
    """Suspended for as long as its loop runs; when closed, closes `client` and drops
    the loop's entry (looked up, not held: holding the loop here would keep it alive)."""
    try:
        yield
    finally:
        try:
            await client.aclose()
        finally:
            with contextlib.suppress(RuntimeError):
                clients.pop(asyncio.get_running_loop(), None)
