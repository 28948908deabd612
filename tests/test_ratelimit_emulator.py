"""Rate limiting and retries end to end, against the emulator (issue 4, item 3).

**Quota use.**  The emulator enforces a scaled quota, ``QUOTA`` = 60 requests per 4 s (the
real API's 3 per second, times five), with the real lock policy scaled to match.  Two
runs keep every client busy far beyond the quota, so that the limiter alone paces them:
one client with 32 concurrent tasks (in-process transport), then 4 processes, 8 tasks
each, sharing one ``RedisRateLimiter`` on a private ``redis-server`` and talking to the
emulator over loopback.  Both must see **zero 423s** (from the very first request, warm-up
included) and reach **at least 95 % of the configured rate**.

How the rate is counted: the emulator records the arrival time of each request.  After a
warm-up request per client (connections, first-call costs), ``REQUESTS`` requests start
together; the achieved rate is ``(REQUESTS - 1) / (last arrival - first arrival)``, the
configured rate is 60 / 4 s = 15 per second.  The limiter runs with ``burst=1``, so no burst
inflates this: it is the steady rate.  (The default ``burst=5`` is sized for 180 requests;
at 60 each request of burst costs 1.7 % of the sustained rate.)

Why ``margin=0.15`` s: the server counts arrival times, the limiter spaces admission
times, and the margin is the admission-to-arrival jitter that cannot squeeze 61 arrivals
into 4 s.  In-process that jitter is event-loop delay (a few ms); over loopback, with four
client processes, uvicorn and redis-server on a loaded 2-core machine, up to ~50 ms was
measured while developing this test, so 0.15 s is three times that.  The default margin
(1 s, for a 60 s period and the internet) would cap the rate at 4 / 5 s = 80 %.  With 0.15 s
the ceiling is 60 / 4.15 s = 96.4 % of the quota; the last arrival may then be ~0.2 s late
before the measured rate drops under 95 %.  Each run lasts about 12 s of real time.

**Faults.**  20 % of requests answered with 500/502/503: a full ``chats.stream()`` of 2,000
chats still yields every chat exactly once, in list order.

**Recovery.**  A careless client (no limiter) breaches the quota and locks the token.  The
SDK's client gets one 423, waits it out at its lock gate and continues at its steady pace,
and no second breach follows.  Run on trio's autojumping ``MockClock`` (the emulator, the
limiter and every sleep read it), so it is exact and instant.  Then the same with two
clients sharing one Redis gate, in real time at a tiny quota.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from smartsender_async import (
    InMemoryRateLimiter,
    RateLimit,
    RateLimitedError,
    RetryPolicy,
    SmartSender,
)
from smartsender_async.models.common import ResponseInfo
from smartsender_async.testing import DEFAULT_TOKEN, Emulator, EmulatorResponse, Faults

ROOT = Path(__file__).resolve().parent.parent
#: The emulator's quota, and the configured rate the runs must reach 95 % of.
QUOTA = (60, 4.0)
CONFIGURED_RATE = QUOTA[0] / QUOTA[1]
#: The limiter every client uses for the quota runs (see the module docstring).
RATE = RateLimit(QUOTA[0], QUOTA[1], burst=1, margin=0.15)
GOAL = 0.95
#: Requests per quota run: three quotas' worth, about 12 s at the limiter's pace.
REQUESTS = 180
TASKS = 32
PROCESSES = 4
#: Upper bound on any wait for an event (a process ready, a process done).
EVENT_TIMEOUT_S = 60
#: Retries that make a 20 % fault rate harmless (0.2**10 per page) and cost no real time.
FAST_RETRY = RetryPolicy(max_attempts=10, backoff_base=0.001, backoff_max=0.01)


class ArrivalEmulator(Emulator):
    """The emulator, also noting the monotonic time at which each request reaches it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: list[float] = []

    async def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        **kwargs: Any,
    ) -> EmulatorResponse:
        self.arrivals.append(time.monotonic())  # list.append: safe from uvicorn's thread
        return await super().handle(method, path, query, headers, body, **kwargs)


def most_in_window(times: list[float], width: float) -> int:
    """The largest number of ``times`` inside any window ``(t - width, t]``, as the
    emulator counts its quota."""
    times = sorted(times)
    most = start = 0
    for end, t in enumerate(times):
        while times[start] <= t - width:
            start += 1
        most = max(most, end - start + 1)
    return most


def quota_use(arrivals: list[float]) -> float:
    """Achieved rate ÷ configured rate (see the module docstring)."""
    times = sorted(arrivals)
    return (len(times) - 1) / (times[-1] - times[0]) / CONFIGURED_RATE


def check_quota_run(emulator: ArrivalEmulator) -> None:
    arrivals = sorted(emulator.arrivals)
    use = quota_use(arrivals)
    # Tightest quota window seen at the server, for the failure message: how close the
    # jitter came to squeezing 61 arrivals into 4 s.
    spans = [arrivals[i + QUOTA[0]] - arrivals[i] for i in range(len(arrivals) - QUOTA[0])]
    ceiling = RATE.sustained_rate / CONFIGURED_RATE
    summary = (
        f"{len(arrivals)} requests in {arrivals[-1] - arrivals[0]:.2f} s: "
        f"{use:.1%} of {CONFIGURED_RATE:g}/s (ceiling {ceiling:.1%}); "
        f"423s: {emulator.stats.locked}; tightest {QUOTA[0] + 1} arrivals span "
        f"{min(spans):.3f} s (quota period {QUOTA[1]:g} s)"
    )
    print(summary)
    assert len(arrivals) == REQUESTS, summary
    assert emulator.stats.locked == 0, summary
    assert emulator.stats.by_status == {200: emulator.stats.requests}, summary
    assert most_in_window(arrivals, QUOTA[1]) <= QUOTA[0], summary
    assert use >= GOAL, summary


async def run_tasks(count: int, tasks: int, call: Callable[[int], Awaitable[object]]) -> None:
    """``call(0)`` … ``call(count - 1)`` from ``tasks`` concurrent tasks."""
    remaining = count

    async def task() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call(remaining)

    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(task)


# --------------------------------------------------------------------------- quota use


async def test_one_client_with_32_tasks_uses_95_percent_of_the_quota_without_a_423() -> None:
    emulator = ArrivalEmulator(seed=4, chats=50, rate_limit=QUOTA)
    ids = emulator.chat_ids()
    async with emulator.client(rate_limit=RATE) as client:
        await client.chats.get(ids[0])  # warm-up: first-call costs (decoder set-up)
        emulator.arrivals.clear()

        async def get(i: int) -> object:
            return await client.chats.get(ids[i % len(ids)])

        await run_tasks(REQUESTS, TASKS, get)
    check_quota_run(emulator)


async def _worker(url: str, redis_url: str, prefix: str, count: int) -> None:
    """One of the processes of the shared-Redis run (``python -m`` this module)."""
    import redis.asyncio

    from smartsender_async.ratelimit_redis import RedisRateLimiter

    limiter = RedisRateLimiter(redis_url, RATE, prefix=prefix)
    control = redis.asyncio.Redis.from_url(redis_url)
    try:
        async with SmartSender(DEFAULT_TOKEN, base_url=url, rate_limit=limiter) as client:
            await client.chats.list()  # warm-up: connection, limiter scripts, decoder set-up
            await control.rpush(prefix + "ready", os.getpid())
            if await control.blpop([prefix + "go"], timeout=EVENT_TIMEOUT_S) is None:
                raise SystemExit("no go signal")

            async def page(i: int) -> object:
                return await client.chats.list(page=1 + i % 3)

            await run_tasks(count, TASKS // PROCESSES, page)
    finally:
        await limiter.aclose()
        await control.aclose()


def test_four_processes_sharing_redis_use_95_percent_of_the_quota_without_a_423() -> None:
    pytest.importorskip("redis")
    pytest.importorskip("uvicorn")
    import redis

    from tests._redis_server import redis_server

    emulator = ArrivalEmulator(seed=5, chats=200, rate_limit=QUOTA)
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with redis_server() as redis_url, emulator.serve() as url:
        command = [sys.executable, "-m", "tests.test_ratelimit_emulator", url, redis_url, prefix]
        workers = [
            subprocess.Popen(
                [*command, str(REQUESTS // PROCESSES)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        control = redis.Redis.from_url(redis_url)
        try:
            for _ in range(PROCESSES):  # every process is connected, warmed up and waiting
                assert control.blpop([prefix + "ready"], timeout=EVENT_TIMEOUT_S) is not None
            emulator.arrivals.clear()
            control.rpush(prefix + "go", *range(PROCESSES))
            for worker in workers:
                _, err = worker.communicate(timeout=EVENT_TIMEOUT_S)
                assert worker.returncode == 0, err
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.communicate()
            control.close()
    check_quota_run(emulator)


# --------------------------------------------------------------------------- faults


async def test_a_full_listing_through_20_percent_5xx_yields_every_chat_exactly_once() -> None:
    emulator = Emulator(seed=20, chats=2000, rate_limit=None, faults=Faults(error_rate=0.2))
    async with emulator.client(retry=FAST_RETRY) as client:
        ids = [chat.id async for chat in client.chats.stream()]

    assert len(ids) == len(set(ids)) == 2000
    assert ids == emulator.chat_ids()
    # The faults really happened, at about the configured rate, and every one was retried.
    stats = emulator.stats
    assert 0.15 * stats.requests < stats.faults["error"] < 0.25 * stats.requests
    assert stats.by_status[200] == stats.requests - stats.faults["error"]
    assert {500, 502, 503} <= stats.by_status.keys()


# --------------------------------------------------------------------------- recovery


async def careless_burst(emulator: Emulator, count: int) -> None:
    """``count`` requests back to back on the emulator's token, without a limiter or
    retries (someone else's script, say)."""
    ids = emulator.chat_ids()
    async with emulator.client(rate_limit=None, retry=None) as careless:
        for i in range(count):
            await careless.chats.get(ids[i % len(ids)])


def gate_lines(records: Iterable[logging.LogRecord]) -> list[str]:
    """The INFO lines of the lock gate, cut before the token digest."""
    return [
        r.getMessage().split(" for token ")[0]
        for r in records
        if r.name == "smartsender_async" and "lock gate" in r.getMessage()
    ]


def test_after_a_lock_the_client_waits_it_out_once_and_never_breaches_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quota = (10, 1.0)  # the first breach locks the token for 1 s
    rate = RateLimit(*quota, burst=1, margin=0.05)
    # More tasks than the quota: a gate that let its waiters go all at once would breach.
    calls, tasks = 40, 16

    async def main() -> tuple[Emulator, list[tuple[float, ResponseInfo]], float]:
        now = trio.current_time
        emulator = Emulator(seed=7, chats=20, rate_limit=quota, clock=now)
        ids = emulator.chat_ids()
        # Someone on the same token without a limiter bursts past the quota.
        with pytest.raises(RateLimitedError):
            await careless_burst(emulator, quota[0] + 1)
        assert emulator.stats.lock_events == 1
        assert emulator.quota is not None
        lock_ends = emulator.quota.locked_until(emulator.token)
        assert lock_ends is not None
        await trio.sleep(0.25)  # virtual time: the SDK's client starts a moment later

        limiter = InMemoryRateLimiter(rate, clock=now)
        done: list[tuple[float, ResponseInfo]] = []
        async with emulator.client(rate_limit=limiter) as client:

            async def get(i: int) -> None:
                chat = await client.chats.get(ids[i % len(ids)])
                assert chat.response_info is not None
                done.append((now(), chat.response_info))

            await run_tasks(calls, tasks, get)
        return emulator, done, lock_ends

    with caplog.at_level(logging.INFO, logger="smartsender_async"):
        clock = trio.testing.MockClock(autojump_threshold=0)
        emulator, done, lock_ends = trio.run(main, clock=clock)

    stats = emulator.stats
    assert stats.lock_events == 1  # no second breach
    # Two 423s in all: the careless breach, and one answer to the SDK's client, whose
    # other tasks then waited at its gate instead of knocking.
    assert stats.locked == 2
    assert len(done) == calls  # every call succeeded
    infos = sorted((info for _, info in done), key=lambda info: -info.retries_taken)
    assert infos[0].retries_taken == 1
    assert all(info.retries_taken == 0 for info in infos[1:])
    # The one retry waited out the lock: "try again in 1 seconds", from 0.25 s into it.
    assert infos[0].rate_limit_wait == pytest.approx(1.0)
    times = sorted(t for t, _ in done)
    assert times[0] >= lock_ends
    # It then continued at its steady pace, from the moment its gate opened.
    interval = rate.emission_interval
    assert times[-1] - times[0] == pytest.approx((calls - 1) * interval)
    assert gate_lines(caplog.records) == [
        "rate-limit lock gate closed",
        "rate-limit lock gate open again",
    ]


async def test_clients_sharing_a_redis_gate_wait_out_one_lock_together(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two clients with their own ``RedisRateLimiter`` on one Redis (as two processes
    would be), real time at a tiny quota: one lock, waited out once, no second breach."""
    pytest.importorskip("redis")
    from smartsender_async.ratelimit_redis import RedisRateLimiter
    from tests._redis_server import redis_server

    quota = (10, 0.5)
    # A margin of 0.2 s: the jitter allowance of the quota runs, and then some.
    rate = RateLimit(*quota, burst=1, margin=0.2)
    clients, calls = 2, 12
    emulator = Emulator(seed=8, chats=20, rate_limit=quota)
    ids = emulator.chat_ids()
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    with redis_server() as redis_url, caplog.at_level(logging.INFO, logger="smartsender_async"):
        limiters = [RedisRateLimiter(redis_url, rate, prefix=prefix) for _ in range(clients)]
        try:
            with pytest.raises(RateLimitedError):
                await careless_burst(emulator, quota[0] + 1)
            assert emulator.stats.lock_events == 1

            infos: list[ResponseInfo] = []

            async def one_client(limiter: RedisRateLimiter) -> None:
                async with emulator.client(rate_limit=limiter) as client:

                    async def get(i: int) -> None:
                        chat = await client.chats.get(ids[i % len(ids)])
                        assert chat.response_info is not None
                        infos.append(chat.response_info)

                    await run_tasks(calls, 8, get)  # 16 tasks in all: more than the quota

            await asyncio.gather(*(one_client(limiter) for limiter in limiters))
        finally:
            for limiter in limiters:
                await limiter.aclose()

    stats = emulator.stats
    assert stats.lock_events == 1  # no second breach
    assert len(infos) == clients * calls
    # The first client to knock got a 423 and closed the shared gate; at most one request
    # per client was already on its way.
    assert 1 <= stats.locked - 1 <= clients
    assert sum(info.retries_taken for info in infos) == stats.locked - 1
    # Each limiter (each process) logs the gate closing and opening once.
    lines = gate_lines(caplog.records)
    expected = ["rate-limit lock gate closed", "rate-limit lock gate open again"]
    assert sorted(lines) == sorted(expected * clients), lines


if __name__ == "__main__":
    asyncio.run(_worker(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))


# --------------------------------------------------------------------------- cancellation storms


async def _storm(client: SmartSender, emulator: ArrivalEmulator, deadline: float) -> Counter[str]:
    """40 callers, each calling through ``asyncio.wait_for(..., deadline)`` over and over,
    until the emulator has seen ``REQUESTS`` requests (or the callers gave up 1000 times)."""
    ids = emulator.chat_ids()
    outcomes: Counter[str] = Counter()
    done = asyncio.Event()

    async def caller(n: int) -> None:
        while not done.is_set():
            try:
                await asyncio.wait_for(client.chats.get(ids[n % len(ids)]), deadline)
                outcomes["ok"] += 1
            except asyncio.TimeoutError:
                outcomes["timed out"] += 1
            # Enough requests, or so many give-ups that the limiter has starved (it did).
            if len(emulator.arrivals) >= REQUESTS or outcomes["timed out"] >= 1000:
                done.set()

    await asyncio.gather(*(caller(n) for n in range(40)))
    return outcomes


def check_storm(emulator: ArrivalEmulator, outcomes: Counter[str]) -> None:
    arrivals = sorted(emulator.arrivals)
    use = quota_use(arrivals)
    summary = (
        f"{len(arrivals)} arrivals, {use:.1%} of the quota, "
        f"{emulator.stats.locked} x 423, {dict(outcomes)}"
    )
    print(summary)
    assert len(arrivals) >= REQUESTS, summary
    assert outcomes["timed out"] > 100, summary  # a storm indeed: callers gave up in droves
    assert emulator.stats.locked == 0, summary
    assert most_in_window(arrivals, QUOTA[1]) <= QUOTA[0], summary
    assert use >= GOAL, summary


async def test_a_cancellation_storm_keeps_the_quota_in_use_in_memory() -> None:
    """Cancelled waiters give their slots to the next caller: the schedule never runs
    ahead of real time, so callers keep getting through (it once fell to 0 per 10 s)."""
    emulator = ArrivalEmulator(seed=21, chats=50, rate_limit=QUOTA)
    async with emulator.client(rate_limit=RATE) as client:
        await client.chats.get(emulator.chat_ids()[0])  # warm-up
        emulator.arrivals.clear()
        # 40 waiters queue for 40 x 69 ms = 2.8 s; each gives up after 2 s.
        outcomes = await _storm(client, emulator, 2.0)
    check_storm(emulator, outcomes)


def test_a_cancellation_storm_keeps_the_quota_in_use_with_redis() -> None:
    pytest.importorskip("redis")
    from smartsender_async.ratelimit_redis import RedisRateLimiter
    from tests._redis_server import redis_server

    async def main(redis_url: str) -> Counter[str]:
        limiter = RedisRateLimiter(redis_url, RATE, prefix=f"t:{uuid.uuid4().hex[:6]}:")
        try:
            async with emulator.client(rate_limit=limiter) as client:
                await client.chats.get(emulator.chat_ids()[0])
                emulator.arrivals.clear()
                return await _storm(client, emulator, 2.0)
        finally:
            await limiter.aclose()

    emulator = ArrivalEmulator(seed=22, chats=50, rate_limit=QUOTA)
    with redis_server() as redis_url:
        outcomes = asyncio.run(main(redis_url))
    check_storm(emulator, outcomes)
