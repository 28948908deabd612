"""A fake-time harness for watch tests: one :class:`FakeClock` for the emulator, the
client's limiter and the watch, and a sleep that advances it.

Nothing waits on real time: ``sleep(d)`` moves the clock by ``d`` (after running the
``on_advance`` hook that lets a test make things happen "while" the watch sleeps) and
yields to the event loop once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import anyio
import httpx

from smartsender_async import RetryPolicy
from smartsender_async.ratelimit import InMemoryRateLimiter, RateLimit
from smartsender_async.testing import Emulator, FakeClock

__all__ = ["FakeTime", "FlakyTransport"]


class FakeTime:
    """The shared fake clock and its sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.clock = FakeClock(start)
        self.slept = 0.0
        self.on_advance: Callable[[float, float], None] | None = None

    def __call__(self) -> float:
        return self.clock()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            before = self.clock()
            self.clock.advance(seconds)
            self.slept += seconds
            if self.on_advance is not None:
                self.on_advance(before, self.clock())
        await anyio.lowlevel.checkpoint()

    def limiter(self, rate: RateLimit | None = None) -> InMemoryRateLimiter:
        return InMemoryRateLimiter(rate or RateLimit(), clock=self.clock, sleep=self.sleep)

    def client(self, emu: Emulator, **kwargs: Any) -> Any:
        kwargs.setdefault("rate_limit", self.limiter())
        kwargs.setdefault("retry", RetryPolicy(max_attempts=4, backoff_base=0.0001))
        return emu.client(**kwargs)


class FlakyTransport(httpx.AsyncBaseTransport):
    """The emulator's transport, plus timeouts: a seeded fraction of requests raise
    ``httpx.ReadTimeout``; half of them after the emulator processed the request (the
    answer is lost), half before it reached it."""

    def __init__(self, emu: Emulator, timeout_rate: float, seed: int) -> None:
        self.inner = emu.transport()
        self.rate = timeout_rate
        self.rng = random.Random(seed)
        self.timeouts = 0
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        draw = self.rng.random()
        if draw < self.rate / 2:
            self.timeouts += 1
            raise httpx.ReadTimeout("emulated timeout before the server", request=request)
        response = await self.inner.handle_async_request(request)
        if draw < self.rate:
            self.timeouts += 1
            raise httpx.ReadTimeout("emulated timeout after the server answered", request=request)
        return response
