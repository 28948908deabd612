"""Everything around the data: counters, the per-token quota and lock, faults, churn, clocks.

All of it is deterministic.  Time comes from an injectable clock (seconds, any origin);
randomness from ``random.Random`` instances seeded from the emulator's seed.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable

import attrs

__all__ = ["FakeClock", "FaultPlan", "Faults", "QuotaDecision", "RateLimitPolicy", "Stats"]

Clock = Callable[[], float]


class FakeClock:
    """A clock that only moves when told to: pass it as ``Emulator(clock=...)``.

    ``clock()`` returns the current reading in seconds; :meth:`advance` moves it forward.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (never backwards) and return the new reading."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self.now += seconds
        return self.now


@attrs.define
class Stats:
    """Exact counters of what the emulator received and answered.

    Every request that reaches the emulator is counted once in ``requests``,
    ``by_endpoint`` and (when it carried a token) ``by_token``, whatever its outcome,
    *before* any fault or delay: a request the client gave up on is still counted.
    ``by_status`` counts responses actually produced (a dropped connection or an
    emulated client timeout produces none; see ``faults``).
    """

    #: Requests received, all of them (401s, 423s and faulted ones included).
    requests: int = 0
    #: HTTP 423 responses served (requests refused during a lock, and the breaching ones).
    locked: int = 0
    #: Breaches of the quota: each one started a lock.
    lock_events: int = 0
    #: Requests by route template, e.g. ``"GET /chats/{chatId}/messages"``; unknown
    #: paths count under ``"<method> <unmatched>"``.
    by_endpoint: Counter[str] = attrs.field(factory=Counter)
    #: Responses by HTTP status.
    by_status: Counter[int] = attrs.field(factory=Counter)
    #: Requests by bearer token (only tokens that were sent, valid or not).
    by_token: Counter[str] = attrs.field(factory=Counter)
    #: Injected faults by kind: ``"error"``, ``"slow"``, ``"drop"``, ``"timeout"``.
    faults: Counter[str] = attrs.field(factory=Counter)
    #: Inbound messages created by background churn.
    churn_messages: int = 0

    # Spelled as the issue and the README describe them, for readable assertions.

    @property
    def requests_served(self) -> int:
        """Same as ``requests``."""
        return self.requests

    @property
    def locked_served(self) -> int:
        """Same as ``locked``: HTTP 423 responses served."""
        return self.locked

    @property
    def requests_per_endpoint(self) -> Counter[str]:
        """Same as ``by_endpoint``."""
        return self.by_endpoint

    def reset(self) -> None:
        """Zero every counter (state and quota are left alone)."""
        self.requests = self.locked = self.lock_events = self.churn_messages = 0
        self.by_endpoint.clear()
        self.by_status.clear()
        self.by_token.clear()
        self.faults.clear()


@attrs.frozen
class QuotaDecision:
    """Outcome of a quota check: admitted, or refused with the seconds left on the lock."""

    admitted: bool
    #: Seconds until the lock ends (0 when admitted).
    remaining: float = 0.0
    #: Whether this very request breached the quota and started the lock.
    breach: bool = False


_ADMIT = QuotaDecision(admitted=True)


class RateLimitPolicy:
    """Smart Sender's documented quota, per token: ``limit`` requests per sliding ``period``.

    The request that would be the ``limit + 1``-th inside the trailing ``period`` is a
    *breach*: it is refused (423) and locks the token for ``base × breach number`` seconds,
    at most ``12 × base``, where ``base = period`` (60 s for the real 180/60 s quota, so
    60, 120, … 720 s; 2, 4, … 24 s for 30/2 s).  Every request during the lock is refused
    with 423 and is *not* counted in the window, nor does it extend the lock.  The breach
    number never decays by itself; :meth:`reset` forgets everything.
    """

    def __init__(self, limit: int, period: float, *, retry_after_header: bool = False) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("rate limit needs limit >= 1 and period > 0")
        self.limit = limit
        self.period = float(period)
        #: Add ``Retry-After: N`` to 423 responses (the real API is not known to).
        self.retry_after_header = retry_after_header
        self._windows: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._breaches: dict[str, int] = {}

    @property
    def lock_unit(self) -> float:
        """Seconds of lock per breach: 60 s scaled by ``period / 60``."""
        return self.period

    def lock_seconds(self, breach_number: int) -> float:
        """How long the ``breach_number``-th breach (1-based) locks the token."""
        return self.lock_unit * min(breach_number, 12)

    def check(self, token: str, now: float) -> QuotaDecision:
        """Admit ``token``'s request at ``now`` (and count it), or refuse it."""
        until = self._locked_until.get(token)
        if until is not None:
            if now < until:
                return QuotaDecision(admitted=False, remaining=until - now)
            del self._locked_until[token]
        window = self._windows.get(token)
        if window is None:
            window = self._windows[token] = deque()
        horizon = now - self.period
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= self.limit:
            breaches = self._breaches.get(token, 0) + 1
            self._breaches[token] = breaches
            lock = self.lock_seconds(breaches)
            self._locked_until[token] = now + lock
            return QuotaDecision(admitted=False, remaining=lock, breach=True)
        window.append(now)
        return _ADMIT

    def locked_until(self, token: str) -> float | None:
        """Clock reading at which ``token``'s lock ends, or ``None`` if it was never locked
        (or the lock has been noticed to expire)."""
        return self._locked_until.get(token)

    def breaches(self, token: str) -> int:
        """How many times ``token`` breached the quota."""
        return self._breaches.get(token, 0)

    def used(self, token: str, now: float) -> int:
        """Admitted requests of ``token`` inside the window ending at ``now``."""
        window = self._windows.get(token, ())
        return sum(1 for t in window if t > now - self.period)

    def reset(self, token: str | None = None) -> None:
        """Forget windows, locks and breach counts, for one token or for all."""
        for table in (self._windows, self._locked_until, self._breaches):
            if token is None:
                table.clear()
            else:
                table.pop(token, None)


def retry_seconds(remaining: float) -> int:
    """The ``N`` of "try again in N seconds": remaining lock time rounded up, at least 1."""
    return max(1, math.ceil(remaining - 1e-9))


@attrs.frozen
class FaultPlan:
    """What the fault injector decided for one request."""

    delay: float = 0.0
    error_status: int | None = None
    slow: bool = False
    drop: bool = False


NO_FAULT = FaultPlan()


@attrs.define
class Faults:
    """Injected faults; every field may be changed while the emulator runs.

    Faults hit only requests that passed authentication and the quota (a 401 or 423 is
    never replaced by a fault), except ``latency``/``jitter``, which delay every response.
    Each request draws from one seeded RNG in a fixed order, so a run is reproducible.

    By default a faulted request is *not* processed: a 5xx, slow or dropped send sent
    nothing.  With ``after_processing=True`` the request is processed first and only its
    response is replaced, delayed or dropped, as when a gateway fails after the app did
    the work (the case that makes retrying a send unsafe).
    """

    #: Seconds added to every response.
    latency: float = 0.0
    #: Up to this many extra seconds (uniform) added to every response.
    jitter: float = 0.0
    #: Fraction of requests answered with one of ``error_statuses`` (chosen uniformly).
    error_rate: float = 0.0
    #: 500 answers with Laravel's JSON ``{"error": {"code": 500, ...}}``; 502 and 503 with
    #: nginx's HTML error pages.
    error_statuses: tuple[int, ...] = (500, 502, 503)
    #: Fraction of requests that take ``slow_seconds`` before answering.
    slow_rate: float = 0.0
    slow_seconds: float = 30.0
    #: Fraction of requests whose connection is closed without a complete response.
    #: Sockets only: the in-process transport ignores it (and draws nothing for it).
    drop_rate: float = 0.0
    #: Process the request before applying the fault (see the class docstring).
    after_processing: bool = False

    def active(self) -> bool:
        return bool(
            self.latency or self.jitter or self.error_rate or self.slow_rate or self.drop_rate
        )

    def plan(self, rng: random.Random, *, sockets: bool) -> FaultPlan:
        """Draw this request's faults (call only when :meth:`active`)."""
        delay = self.latency
        if self.jitter:
            delay += rng.random() * self.jitter
        status = None
        if self.error_rate and rng.random() < self.error_rate:
            status = self.error_statuses[rng.randrange(len(self.error_statuses))]
        slow = bool(self.slow_rate) and rng.random() < self.slow_rate
        drop = sockets and bool(self.drop_rate) and rng.random() < self.drop_rate
        if slow:
            delay += self.slow_seconds
        return FaultPlan(delay=delay, error_status=status, slow=slow, drop=drop)


class Churn:
    """Inbound messages arriving at ``rate`` per clock second in random chats.

    Arrivals are a seeded Poisson process on the emulator's clock: the emulator applies
    every arrival whose time has come before it handles a request (and on ``tick()``), so
    the same clock readings give the same messages in the same chats.
    """

    #: At most this many arrivals are applied in one catch-up; later ones are skipped
    #: (a fake clock jumping by hours would otherwise stall one request).
    MAX_CATCH_UP = 100_000

    def __init__(self, rate: float, seed: int, now: float) -> None:
        self._rng = random.Random(seed)
        self.rate = 0.0
        self.next_at = math.inf
        self.set_rate(rate, now)

    def set_rate(self, rate: float, now: float) -> None:
        if rate < 0:
            raise ValueError("churn rate must be >= 0")
        self.rate = float(rate)
        self.next_at = now + self._rng.expovariate(rate) if rate > 0 else math.inf

    def due(self, now: float, chats: int) -> list[tuple[float, int, int]]:
        """Arrivals with time ≤ ``now`` as ``(time, chat index, text choice)``, oldest first."""
        out: list[tuple[float, int, int]] = []
        if now < self.next_at or chats == 0:
            return out
        rng = self._rng
        while self.next_at <= now:
            if len(out) < self.MAX_CATCH_UP:
                out.append((self.next_at, rng.randrange(chats), rng.getrandbits(16)))
            else:
                self.next_at = now
            self.next_at += rng.expovariate(self.rate)
        return out
