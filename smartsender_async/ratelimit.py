"""Client-side rate limiting: `RateLimit`, the limiter protocol and the in-memory GCRA.

Smart Sender allows 180 requests per minute per token and punishes a breach with a lock
(HTTP 423) of 60 s, then 120 s, and so on up to 720 s.  A limiter does two things for
every HTTP attempt, keyed by a digest of the token:

* the **lock gate**: after any request of a token got a 423, every task using that token
  (every client sharing the limiter) waits until the lock ends instead of knocking;
* a **GCRA slot** (generic cell rate algorithm, a leaky bucket kept as one timestamp, the
  "theoretical arrival time" TAT): requests are spaced by the emission interval `T`,
  with up to `burst` of them allowed back to back after a quiet spell.

Arithmetic.  With tolerance `tau = (burst - 1) * T`, GCRA admits `n` requests in a
half-open window `[a, a + W)` only if `(n - burst) * T < W`.  Choosing
`T = (period + margin) / (requests - burst + 1)` therefore admits at most `requests`
in any window of length `period + margin`, bursts included.  The server sees arrival
times, not admission times: the `margin` absorbs that much variation in network delay
(and the closed-versus-open window edge).  The long-run rate is
`(requests - burst + 1) / (period + margin)`; with the defaults 176 per 61 s, that is
173.1 requests per minute, 96 % of the quota, and never more than 178 in a 60 s window.

Bookings and refunds (work conservation).  A caller books its slot first (the TAT moves
on by `T`) and then sleeps until the slot's time, outside any lock, so waiters are
served in arrival order without polling.  A booking remembers the TAT before it
(`prev`).  A caller that is cancelled, times out or is abandoned while it sleeps gives
its booking back:

* if nothing was booked after it (the TAT is still its own), the TAT goes back to
  `prev`, and on down through any given-back bookings that this uncovers;
* otherwise its booking becomes **free**: the next caller to arrive takes the earliest
  free booking instead of booking a new slot at the end, and sleeps until its time.

So a slot given back is either removed from the end of the schedule or handed to the
next caller: cancelled waiters leave no ghosts that push every later caller further
out, and no slot is ever used twice.  A free booking whose time has passed, or that a
lock gate closed over, is dropped.

Re-validation.  After its sleep a caller checks its booking again before it goes: it
goes only if the booking still stands (same era, see below; the TAT not behind it), no
lock closed the gate meanwhile, and it woke within `slack` of its slot's time (`slack`
is half the margin, at least one `T`).  A caller woken late (a stalled event loop or a
stalled store) would otherwise send on top of the slots booked after it; it re-books
instead.  "Never exceed the quota; prefer waiting."

State loss.  The state may vanish under the limiter (for Redis: FLUSHALL, a restart, an
eviction).  A new state is a new *era*, and a booking of an earlier era is re-booked,
never sent: nobody knows any more what was booked around it.  The limiter remembers the
last TAT and gate it saw; if it finds the state missing although it saw it in use within
the last window, the new state starts at `now + T + tau`: no burst, and one interval
of pause.  That is safe whatever else was sent: a request goes only when its booking
passed a check at some time `r` with its slot due, so its booking's TAT is at most
`r + T + tau`; the new schedule therefore continues no earlier than the old one would
have, counting only what was actually sent.  A lost lock gate is closed again.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import anyio
import attrs

from smartsender_async.errors import SmartSenderError

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "InMemoryRateLimiter",
    "LockGateClosedError",
    "RateLimit",
    "RateLimiter",
    "make_limiter",
]

logger = logging.getLogger("smartsender_async")


def _positive_int(name: str, minimum: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_instance: object, _attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")

    return check


def _finite(
    name: str, *, positive: bool
) -> Callable[[object, attrs.Attribute[float], float], None]:
    def check(_instance: object, _attribute: attrs.Attribute[float], value: float) -> None:
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (value > 0 if positive else value >= 0)
        )
        if not ok:
            bound = "> 0" if positive else ">= 0"
            raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")

    return check


def _check_burst(instance: RateLimit, _attribute: attrs.Attribute[int], value: int) -> None:
    _positive_int("burst", 1)(instance, _attribute, value)
    if value > instance.requests:
        raise ValueError(f"burst must be <= requests ({instance.requests}), got {value}")


@attrs.frozen
class RateLimit:
    """How fast one token may send: at most `requests` in any `period` seconds.

    Configuration only; a limiter ([InMemoryRateLimiter][smartsender_async.InMemoryRateLimiter],
    [RedisRateLimiter][smartsender_async.RedisRateLimiter]) enforces it.  The defaults keep
    within Smart Sender's quota of 180 requests per minute per token, bursts included, at
    96 % of that rate.

    Attributes:
        requests: the quota, 180 by default.
        period: the quota's window in seconds, 60 by default.
        burst: how many requests may go back to back after a quiet spell: 5 for the real
            quota, and by default the same share of `requests` (5/180, at least 1) for
            any other.  A burst is paid for: the long-run rate is `requests - burst + 1`
            per `period + margin`.  Must be between 1 (no burst) and `requests`.
        margin: seconds added to `period` when spacing requests, so that that much
            variation in network delay cannot squeeze `requests + 1` arrivals into one
            `period` at the server: 1 s for the real quota, and by default `period / 60`
            for any other, so a scaled quota (say 30 per 2 s in tests) keeps the same
            proportions and the same 96 % use.

    Raises:
        ValueError: `requests` or `burst` is not an int of at least 1, `burst` is above
            `requests`, `period` is not a finite positive number, or `margin` is not a
            finite number >= 0 (a wrong type is refused the same way).

    Example:
        ```python
        from smartsender_async import RateLimit, SmartSender

        client = SmartSender(rate_limit=RateLimit(requests=30, period=2.0))
        print(client.rate_limiter)
        ```
    """

    requests: int = attrs.field(default=180, validator=_positive_int("requests", 1))
    period: float = attrs.field(default=60.0, validator=_finite("period", positive=True))
    burst: int = attrs.field(
        default=attrs.Factory(lambda self: max(1, round(5 * self.requests / 180)), takes_self=True),
        validator=_check_burst,
    )
    margin: float = attrs.field(
        default=attrs.Factory(lambda self: self.period / 60.0, takes_self=True),
        validator=_finite("margin", positive=False),
    )

    @property
    def emission_interval(self) -> float:
        """`T`: seconds between two requests in a steady stream."""
        return (self.period + self.margin) / (self.requests - self.burst + 1)

    @property
    def tolerance(self) -> float:
        """`tau`: how far ahead of its steady-stream time a request may go (the burst)."""
        return (self.burst - 1) * self.emission_interval

    @property
    def sustained_rate(self) -> float:
        """Requests per second in a long steady stream."""
        return 1.0 / self.emission_interval


#: The default configuration: 180 per 60 s, bursts of 5, a 1 s margin.
DEFAULT_RATE_LIMIT = RateLimit()


class LockGateClosedError(SmartSenderError):
    """The token's lock gate stays closed for longer than the caller agreed to wait.

    Raised by a limiter's `acquire` before any request is sent; no slot is taken.  The
    client turns it into a `RateLimitedError` whose `response` is `None`.

    Attributes:
        retry_after: how many seconds the gate remains closed.

    Example:
        ```python
        from smartsender_async import InMemoryRateLimiter, LockGateClosedError

        limiter = InMemoryRateLimiter()
        await limiter.lock("token-digest", 120)
        try:
            await limiter.acquire("token-digest", max_wait=5)
        except LockGateClosedError as exc:
            print(f"locked for another {exc.retry_after:.0f} s")
        ```
    """

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate-limit lock gate closed for another {retry_after:.1f} s")
        self.retry_after = retry_after


@runtime_checkable
class RateLimiter(Protocol):
    """What a limiter backend provides, for clients to share one quota.

    `key` identifies a token (a digest, never the token itself); each key has its own
    quota and its own lock gate.  Both built-in limiters implement it:
    [InMemoryRateLimiter][smartsender_async.InMemoryRateLimiter] and
    [RedisRateLimiter][smartsender_async.RedisRateLimiter].

    Optionally a limiter also provides
    `async def acquire_split(key, *, max_wait=math.inf) -> tuple[float, float]`: the
    same as `acquire`, returning the seconds waited at the lock gate and the
    seconds waited for a slot separately (their sum is what `acquire` returns).
    Both built-in limiters have it; callers look it up with `getattr` and fall back to
    `acquire`.

    Example:
        ```python
        from smartsender_async import InMemoryRateLimiter, RateLimiter, SmartSender

        shared = InMemoryRateLimiter()
        assert isinstance(shared, RateLimiter)
        a = SmartSender(rate_limit=shared)  # a and b, on one token, share its quota
        b = SmartSender(rate_limit=shared)
        ```
    """

    async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
        """Wait until the lock gate for `key` is open and a slot is free; take the slot.

        A caller cancelled while it waits gives its slot back.

        Args:
            key: the token's identity (a digest, never the token).
            max_wait: the longest wait at a closed lock gate that is accepted, in seconds.

        Returns:
            The seconds spent waiting.

        Raises:
            LockGateClosedError: the gate stays closed for longer than `max_wait` seconds; raised at
                once, taking no slot.

        Example:
            ```python
            waited = await limiter.acquire("token-digest")
            print(f"waited {waited:.2f} s")
            ```
        """
        ...

    async def lock(self, key: str, seconds: float) -> None:
        """Close the lock gate for `key` until now + `seconds` (never shortens it).

        The client calls it when the server answers 423 (the token is locked); every request on the
        key then waits at the gate.

        Args:
            key: the token's identity (a digest, never the token).
            seconds: how long the gate stays closed; 0 or less does nothing.

        Raises:
            ValueError: `seconds` is not finite.

        Example:
            ```python
            await limiter.lock("token-digest", 60)
            ```
        """
        ...

    async def aclose(self) -> None:
        """Release any resources (connections); the limiter is not used afterwards.

        Example:
            ```python
            await limiter.aclose()
            ```
        """
        ...


def recheck_slack(rate: RateLimit) -> float:
    """How late (seconds) a caller may wake after its slot's time and still go: half the
    margin, at least one emission interval.  Later than that it re-books."""
    return max(rate.margin / 2.0, rate.emission_interval)


_eras = itertools.count(1)


class _KeyState:
    """The shared state of one key (what Redis holds for the Redis limiter)."""

    __slots__ = ("announced", "era", "free", "gate_until", "tat")

    def __init__(self) -> None:
        self.era = next(_eras)  # a new state (first use, or after a loss) is a new era
        self.tat = -math.inf  # theoretical arrival time of the next steady-stream request
        self.gate_until = -math.inf  # the lock gate is closed while clock() < gate_until
        self.announced = False  # an INFO line said the gate closed; say when it opens
        # Given-back bookings, sorted: (booked, prev, allowed).
        self.free: list[tuple[float, float, float]] = []


class _Booking:
    """A slot booked by one caller: `booked` is the TAT it set, `prev` the TAT before
    it, `allowed` when it may go, `gate` the gate deadline it was booked under."""

    __slots__ = ("allowed", "booked", "era", "gate", "prev")

    def __init__(self, era: int, booked: float, prev: float, allowed: float, gate: float) -> None:
        self.era = era
        self.booked = booked
        self.prev = prev
        self.allowed = allowed
        self.gate = gate


class InMemoryRateLimiter:
    """The default limiter: GCRA and lock gate per key, in this process's memory.

    One object serves any number of keys (tokens), each with its own quota.  Clients that
    are given the same object share the quota and the lock gate.  It uses anyio only
    (works under asyncio and trio), holds no event-loop-bound state, and may be shared by
    event loops in several threads: the bookkeeping runs under a thread lock, never held
    across an `await`.

    `acquire` books its slot first and then sleeps outside any lock, so waiters are
    served in arrival order without polling; a waiter cancelled while asleep gives its
    slot back (it goes to the next caller).

    Args:
        rate: the quota for each key.
        clock: monotonic seconds; injectable for tests.
        sleep: the sleep function; injectable for tests.

    Raises:
        TypeError: `rate` is not a [RateLimit][smartsender_async.RateLimit].

    Example:
        ```python
        from smartsender_async import InMemoryRateLimiter, RateLimit, SmartSender

        shared = InMemoryRateLimiter(RateLimit())
        async with SmartSender(rate_limit=shared) as a, SmartSender(rate_limit=shared) as b:
            await a.me()
            await b.me()  # both count against one quota
        ```
    """

    def __init__(
        self,
        rate: RateLimit = DEFAULT_RATE_LIMIT,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not isinstance(rate, RateLimit):
            raise TypeError(f"rate must be a RateLimit, got {rate!r}")
        self.rate = rate
        self._interval = rate.emission_interval
        self._tolerance = rate.tolerance
        self._slack = recheck_slack(rate)
        self._window = rate.period + rate.margin
        self._clock = clock
        self._sleep = sleep
        self._mutex = threading.Lock()
        self._states: dict[str, _KeyState] = {}
        # The last TAT and gate seen per key: survives a loss of ``_states``.
        self._seen: dict[str, tuple[float, float]] = {}

    def __repr__(self) -> str:
        return f"InMemoryRateLimiter({self.rate!r})"

    def _state(self, key: str, now: float) -> _KeyState:
        """The key's state (under the mutex), restored from what was seen if it was lost."""
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _KeyState()
            seen = self._seen.get(key)
            if seen is not None:
                seen_tat, seen_gate = seen
                if seen_tat > now - self._window:  # lost while in use: see the docstring
                    state.tat = now + self._interval + self._tolerance
                if seen_gate > now:
                    state.gate_until = seen_gate
        return state

    def _book(
        self, key: str, now: float, max_wait: float, booking: _Booking | None
    ) -> tuple[_Booking | None, float]:
        """Under the mutex: recheck `booking` or book a slot.

        Returns `(None, gate_wait)` to go now, or `(booking, gate_wait)` to sleep until
        `booking.allowed`; `gate_wait` is the part of the wait spent behind the gate.
        Raises `LockGateClosedError` when the gate stays closed beyond `max_wait`.
        """
        state = self._state(key, now)
        gate = state.gate_until
        if booking is not None:
            if (
                booking.era == state.era
                and booking.booked <= state.tat
                and (gate <= booking.gate or gate <= now)
                and now <= booking.allowed + self._slack
            ):
                # Our slot stands.  Comparing deadlines, not just the clock, is immune to a
                # sleep that wakes a hair early.
                if state.announced and gate <= now:
                    self._announce_open(state, key)
                return None, 0.0
            self._give_back(state, booking)  # stale: a lock, a loss or a late wake-up
        if gate > now:
            if gate - now > max_wait:
                raise LockGateClosedError(gate - now)
            begin = gate
        else:
            if state.announced:
                self._announce_open(state, key)
            begin = now
        free = state.free
        while free and free[0][2] < begin:  # its time has passed, or a lock closed over it
            free.pop(0)
        if free:
            booked, prev, allowed = free.pop(0)
        else:
            prev = state.tat
            allowed = max(begin, prev - self._tolerance)
            booked = state.tat = max(prev, begin) + self._interval
        seen_tat, seen_gate = self._seen.get(key, (-math.inf, -math.inf))
        self._seen[key] = (max(seen_tat, state.tat), max(seen_gate, gate))
        gate_wait = max(0.0, min(gate, allowed) - now)
        if allowed <= now:
            return None, gate_wait
        return _Booking(state.era, booked, prev, allowed, gate), gate_wait

    @staticmethod
    def _give_back(state: _KeyState, booking: _Booking) -> None:
        """Under the mutex: return a booking that will not be used."""
        if booking.era != state.era:
            return  # the state it belonged to is gone
        if state.tat == booking.booked:  # the last booked: the schedule steps back
            state.tat = booking.prev
            free = state.free
            while free and free[-1][0] == state.tat:  # and on through given-back slots
                state.tat = free.pop()[1]
        elif state.tat > booking.booked:  # somebody booked after it: the next one takes it
            bisect.insort(state.free, (booking.booked, booking.prev, booking.allowed))

    async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
        """Wait until the lock gate for `key` is open and a slot is free; take the slot.

        A caller cancelled while it waits gives its slot back.

        Args:
            key: the token's identity (a digest, never the token).
            max_wait: the longest wait at a closed lock gate that is accepted, in seconds.

        Returns:
            The seconds spent waiting.

        Raises:
            LockGateClosedError: the gate stays closed for longer than `max_wait` seconds; raised at
                once, taking no slot.

        Example:
            ```python
            waited = await limiter.acquire("token-digest")
            print(f"waited {waited:.2f} s")
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

        Example:
            ```python
            at_gate, for_slot = await limiter.acquire_split("token-digest")
            ```
        """
        clock = self._clock
        start: float | None = None
        booking: _Booking | None = None
        gated = 0.0
        while True:
            with self._mutex:
                now = clock()
                if start is None:
                    start = now
                booking, gate_wait = self._book(key, now, max_wait, booking)
            gated += gate_wait
            if booking is None:
                total = max(0.0, now - start)
                at_gate = min(gated, total)
                return at_gate, total - at_gate
            try:
                await self._sleep(booking.allowed - now)
            except BaseException:
                with self._mutex:
                    state = self._states.get(key)
                    if state is not None:
                        self._give_back(state, booking)
                raise

    @staticmethod
    def _announce_open(state: _KeyState, key: str) -> None:
        state.announced = False
        logger.info("rate-limit lock gate open again for token %.8s", key)

    async def lock(self, key: str, seconds: float) -> None:
        """Close the lock gate for `key` until now + `seconds` (never shortens it).

        The client calls it when the server answers 423 (the token is locked); every request on the
        key then waits at the gate.

        Args:
            key: the token's identity (a digest, never the token).
            seconds: how long the gate stays closed; 0 or less does nothing.

        Raises:
            ValueError: `seconds` is not finite.

        Example:
            ```python
            await limiter.lock("token-digest", 60)
            ```
        """
        if not math.isfinite(seconds):
            raise ValueError(f"seconds must be finite, got {seconds!r}")
        if seconds <= 0:
            return
        with self._mutex:
            now = self._clock()
            state = self._state(key, now)
            until = now + seconds
            if until <= state.gate_until:
                return
            state.gate_until = until
            state.announced = True
            seen_tat, seen_gate = self._seen.get(key, (-math.inf, -math.inf))
            self._seen[key] = (seen_tat, max(seen_gate, until))
        logger.info(
            "rate-limit lock gate closed for token %.8s: every request waits %.1f s", key, seconds
        )

    async def aclose(self) -> None:
        """Nothing to release; present for the protocol.

        Example:
            ```python
            await limiter.aclose()
            ```
        """


def make_limiter(rate_limit: RateLimit | RateLimiter | None) -> RateLimiter | None:
    """Turn a client's `rate_limit=` argument into a limiter.

    A `RateLimit` gets a private `InMemoryRateLimiter`; a limiter object is
    used as is (that is how clients share a quota); `None` means no client-side limit.
    """
    if rate_limit is None:
        return None
    if isinstance(rate_limit, RateLimit):
        return InMemoryRateLimiter(rate_limit)
    if isinstance(rate_limit, RateLimiter):
        return rate_limit
    raise TypeError(
        "rate_limit must be a RateLimit, a limiter (InMemoryRateLimiter, RedisRateLimiter) "
        f"or None, got {rate_limit!r}"
    )
