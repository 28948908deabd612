"""The Redis limiter against a private ``redis-server`` on 127.0.0.1.

Without ``redis-server`` on PATH these tests are skipped, except when the ``CI``
environment variable is set: then they fail, so CI cannot silently lose them.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import math
import os
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import redis
import redis.asyncio

from smartsender_async import errors
from smartsender_async.ratelimit import LockGateClosedError, RateLimit, RateLimiter, make_limiter
from smartsender_async.ratelimit_redis import RateLimiterUnavailableError, RedisRateLimiter
from smartsender_async.retry import RetryPolicy, send_with_retry
from tests._redis_server import free_port, redis_server
from tests.test_ratelimit import max_in_window

TOKEN = "project-token-that-must-never-reach-redis"
KEY = hashlib.sha256(TOKEN.encode()).hexdigest()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:8]}:"


class Sleeps:
    """Records requested sleeps; optionally runs a hook on each (e.g. another process
    closing the gate meanwhile)."""

    def __init__(self, hook: Any = None) -> None:
        self.calls: list[float] = []
        self.hook = hook

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.hook is not None:
            await self.hook(len(self.calls))


# A slow rate so that real milliseconds between calls hardly matter: one slot per 50 s.
SLOW = RateLimit(requests=3, period=100.0, burst=2, margin=0.0)


async def test_burst_then_a_booked_wait(redis_url: str, prefix: str) -> None:
    sleeps = Sleeps()
    limiter = RedisRateLimiter(redis_url, SLOW, prefix=prefix, sleep=sleeps)
    try:
        assert await limiter.acquire(KEY) == 0.0
        assert await limiter.acquire(KEY) == 0.0
        waited = await limiter.acquire(KEY)
        assert len(sleeps.calls) == 1
        assert 45.0 < sleeps.calls[0] <= 50.0
        assert waited == sleeps.calls[0]
        await limiter.acquire(KEY)
        assert 95.0 < sleeps.calls[1] <= 100.0  # booked behind the previous one
    finally:
        await limiter.aclose()


async def test_a_waiter_cancelled_before_its_slot_gives_it_back(
    redis_url: str, prefix: str
) -> None:
    booked: list[anyio.Event] = []

    async def sleep(seconds: float) -> None:  # the long wait for a slot; never ends here
        booked[-1].set()
        await anyio.sleep_forever()

    limiter = RedisRateLimiter(redis_url, SLOW, prefix=prefix, sleep=sleep)
    store = redis.asyncio.Redis.from_url(redis_url)
    tat_key = f"{prefix}{{{KEY}}}:tat"

    async def tat() -> int:
        return int((await store.get(tat_key)).split(b":")[0])

    async def waiter(scope: anyio.CancelScope, done: anyio.Event) -> None:
        try:
            with scope:
                await limiter.acquire(KEY)
        finally:
            done.set()

    try:
        await limiter.acquire(KEY)
        await limiter.acquire(KEY)  # the burst is used up
        start = await tat()
        interval = limiter._interval
        async with anyio.create_task_group() as group:
            first, second = anyio.CancelScope(), anyio.CancelScope()
            first_done = anyio.Event()
            booked.append(anyio.Event())
            group.start_soon(waiter, first, first_done)
            await booked[-1].wait()
            booked.append(anyio.Event())
            group.start_soon(waiter, second, anyio.Event())
            await booked[-1].wait()
            assert await tat() == start + 2 * interval
            # Somebody booked after the first waiter: its slot is freed for the next
            # caller, the schedule stays.
            first.cancel()
            await first_done.wait()
            assert await tat() == start + 2 * interval
            assert await store.zcard(f"{prefix}{{{KEY}}}:free") == 1
            # The last in line gives its slot back, and the freed one below it too.
            second.cancel()
        assert await tat() == start
        assert await store.zcard(f"{prefix}{{{KEY}}}:free") == 0
    finally:
        await store.aclose()
        await limiter.aclose()


async def test_limiters_sharing_redis_share_the_quota(redis_url: str, prefix: str) -> None:
    sleeps_a, sleeps_b = Sleeps(), Sleeps()
    a = RedisRateLimiter(redis_url, SLOW, prefix=prefix, sleep=sleeps_a)
    b = RedisRateLimiter(redis_url, SLOW, prefix=prefix, sleep=sleeps_b)
    try:
        await a.acquire(KEY)
        await a.acquire(KEY)
        await b.acquire(KEY)
        assert sleeps_a.calls == [] and len(sleeps_b.calls) == 1
        other = hashlib.sha256(b"another token").hexdigest()
        assert await b.acquire(other) == 0.0  # each token has its own quota
    finally:
        await a.aclose()
        await b.aclose()


async def test_lock_gate_is_shared_and_respects_max_wait(redis_url: str, prefix: str) -> None:
    sleeps = Sleeps()
    a = RedisRateLimiter(redis_url, prefix=prefix, sleep=sleeps)
    b = RedisRateLimiter(redis_url, prefix=prefix, sleep=sleeps)
    try:
        await a.lock(KEY, 30.0)
        with pytest.raises(LockGateClosedError) as info:
            await b.acquire(KEY, max_wait=10.0)
        assert 25.0 < info.value.retry_after <= 30.0
        assert sleeps.calls == []  # refused at once
        waited = await b.acquire(KEY, max_wait=60.0)
        assert len(sleeps.calls) == 1 and 25.0 < sleeps.calls[0] <= 30.0
        assert waited == sleeps.calls[0]
    finally:
        await a.aclose()
        await b.aclose()


async def test_lock_never_shortens(redis_url: str, prefix: str) -> None:
    limiter = RedisRateLimiter(redis_url, prefix=prefix)
    try:
        await limiter.lock(KEY, 30.0)
        await limiter.lock(KEY, 5.0)
        await limiter.lock(KEY, 0.0)
        with pytest.raises(LockGateClosedError) as info:
            await limiter.acquire(KEY, max_wait=0.0)
        assert info.value.retry_after > 25.0
        await limiter.lock(KEY, 90.0)
        with pytest.raises(LockGateClosedError) as info:
            await limiter.acquire(KEY, max_wait=0.0)
        assert info.value.retry_after > 85.0
        with pytest.raises(ValueError, match="finite"):
            await limiter.lock(KEY, math.nan)
    finally:
        await limiter.aclose()


async def test_gate_closing_during_a_wait_holds_the_waiter(redis_url: str, prefix: str) -> None:
    other = RedisRateLimiter(redis_url, SLOW, prefix=prefix)

    async def another_process_gets_a_423(call: int) -> None:
        if call == 1:
            await other.lock(KEY, 500.0)

    sleeps = Sleeps(another_process_gets_a_423)
    limiter = RedisRateLimiter(redis_url, SLOW, prefix=prefix, sleep=sleeps)
    try:
        await limiter.acquire(KEY)
        await limiter.acquire(KEY)
        await limiter.acquire(KEY)  # books ~50 s ahead; the gate closes while it sleeps
        assert len(sleeps.calls) == 2
        assert 45.0 < sleeps.calls[0] <= 50.0
        assert 495.0 < sleeps.calls[1] <= 500.0  # re-booked behind the gate
    finally:
        await limiter.aclose()
        await other.aclose()


async def test_keys_hold_a_digest_never_the_token_and_expire(redis_url: str, prefix: str) -> None:
    limiter = RedisRateLimiter(redis_url, prefix=prefix)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await limiter.acquire(KEY)
        await limiter.lock(KEY, 10.0)
        # A careless direct caller passing the raw token gets it hashed: same keys.
        await limiter.lock(TOKEN, 20.0)
        keys = sorted(k.decode() for k in await client.keys(prefix + "*"))
        assert keys == [f"{prefix}{{{KEY}}}:gate", f"{prefix}{{{KEY}}}:tat"]
        for key in keys:
            assert TOKEN not in key
            value = (await client.get(key)).decode()
            assert TOKEN not in value
            # The gate lives as long as the lock; the TAT a window past its time, so a
            # missing TAT within a window of use means it was lost, not expired.
            rate = limiter.rate
            window = rate.emission_interval + rate.period + rate.margin
            bound = 22_000 if key.endswith(":gate") else 1000 * (window + 1.5)
            assert 0 < await client.pttl(key) <= bound
    finally:
        await limiter.aclose()
        await client.aclose()


async def test_state_is_timed_by_the_redis_clock(redis_url: str, prefix: str) -> None:
    limiter = RedisRateLimiter(redis_url, prefix=prefix)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await limiter.acquire(KEY)
        seconds, micros = await client.time()
        tat = int((await client.get(f"{prefix}{{{KEY}}}:tat")).split(b":")[0])
        server_now = seconds * 1_000_000 + micros
        assert 0 < tat - server_now <= math.ceil(limiter.rate.emission_interval * 1e6)
    finally:
        await limiter.aclose()
        await client.aclose()


async def test_unreachable_redis_fails_loudly(prefix: str) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    limiter = RedisRateLimiter(url, prefix=prefix, timeout=2.0)
    with pytest.raises(RateLimiterUnavailableError) as info:
        await limiter.acquire(KEY)
    assert "127.0.0.1" in str(info.value) and "not sent" in str(info.value)
    assert "hunter2" not in str(info.value)
    with pytest.raises(RateLimiterUnavailableError):
        await limiter.lock(KEY, 10.0)

    sent: list[httpx.Request] = []

    async def send() -> httpx.Response:
        sent.append(httpx.Request("GET", "https://api.test/v1/chats"))
        return httpx.Response(200)

    with pytest.raises(RateLimiterUnavailableError) as info:
        await send_with_retry(
            send,
            method="GET",
            path="/chats",
            idempotent=True,
            policy=RetryPolicy(),
            limiter=limiter,
            key=KEY,
        )
    assert sent == []  # never silently skips the limit
    assert isinstance(info.value, errors.SmartSenderError) and info.value.retries_taken == 0
    await limiter.aclose()


def test_refuses_to_run_under_trio(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url)
    with pytest.raises(RuntimeError, match="asyncio"):
        anyio.run(limiter.acquire, KEY, backend="trio")


def test_one_limiter_across_event_loops_leaks_no_connection(redis_url: str, prefix: str) -> None:
    # A worker that calls asyncio.run() per job with one module-level limiter: each loop
    # gets its own Redis client, closed when that loop ends, aclose() or not.
    limiter = RedisRateLimiter(redis_url, RateLimit(requests=100, period=1.0), prefix=prefix)
    counter = redis.Redis.from_url(redis_url)
    name = f"limiter-{uuid.uuid4().hex[:8]}"

    async def job(close: bool) -> None:
        await limiter.acquire(KEY)
        (client, *_), _ = limiter._clients[asyncio.get_running_loop()]
        await client.client_setname(name)
        if close:
            await limiter.aclose()

    def connections() -> int:
        return sum(1 for c in counter.client_list() if c.get("name") == name)

    try:
        gc.collect()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for close in (False, False, True, False):
                asyncio.run(job(close))
                assert connections() == 0  # the loop's client closed with it
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    finally:
        counter.close()


async def test_accepts_a_client_it_does_not_own(redis_url: str, prefix: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    limiter = RedisRateLimiter(client, prefix=prefix)
    assert isinstance(limiter, RateLimiter) and make_limiter(limiter) is limiter
    assert "127.0.0.1" in repr(limiter)
    await limiter.acquire(KEY)
    await limiter.aclose()
    assert await client.ping()  # still open: it is the caller's
    await client.aclose()


def test_constructor_validation(redis_url: str) -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisRateLimiter("http://127.0.0.1:6379")
    with pytest.raises(TypeError, match="RateLimit"):
        RedisRateLimiter(redis_url, 180)  # type: ignore[arg-type]
    for bad in (0, -1.0, math.nan, math.inf, True, "5"):
        with pytest.raises(ValueError, match="timeout"):
            RedisRateLimiter(redis_url, timeout=bad)  # type: ignore[arg-type]


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("redis", "redis.asyncio", "redis.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"smartsender-async\[redis\]"):
        RedisRateLimiter("redis://127.0.0.1:1/0")


# --------------------------------------------------------------------------- processes

_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    import anyio
    import redis.asyncio
    from smartsender_async.ratelimit import RateLimit
    from smartsender_async.ratelimit_redis import RedisRateLimiter

    async def main(url, prefix, key, count):
        client = redis.asyncio.Redis.from_url(url)
        rate = RateLimit(requests=20, period=1.0, burst=1, margin=0.2)
        limiter = RedisRateLimiter(url, rate, prefix=prefix)
        # Warm up: anyio imports its asyncio backend on the first sleep (tens of ms),
        # which would make this process's first request late and skew the measurement.
        await anyio.sleep(0)
        await limiter.acquire("warm-up")
        await client.rpush(prefix + "ready", 1)
        await client.blpop([prefix + "go"], timeout=30)
        stamps = []
        for _ in range(count):
            await limiter.acquire(key)
            seconds, micros = await client.time()  # when this process may send, by Redis
            stamps.append(seconds * 1_000_000 + micros)
        await limiter.aclose()
        await client.aclose()
        print(json.dumps(stamps))

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


def test_four_processes_never_exceed_the_quota(redis_url: str, prefix: str) -> None:
    processes = 4
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_url, prefix, KEY, "15"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    client = redis.Redis.from_url(redis_url)
    try:
        for _ in range(processes):  # every worker is connected and waiting
            assert client.blpop([prefix + "ready"], timeout=30) is not None
        client.rpush(prefix + "go", *range(processes))
        stamps: list[int] = []
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            stamps.extend(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        client.close()
    times = sorted(s / 1_000_000 for s in stamps)
    assert len(times) == 60
    # Never 21 in any 1 s window at the server's clock.  The stamps are taken after
    # acquire() returned, so they carry each process's wake-up delay; the 0.2 s margin
    # covers that even on a loaded 2-core machine.
    assert max_in_window(times, 1.0, closed=True) <= 20
    # And at least 90 % of the configured rate, 20 / 1.2 s.
    configured = RateLimit(requests=20, period=1.0, burst=1, margin=0.2).sustained_rate
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate >= 0.9 * configured


# --------------------------------------------------------------------------- issue 14


def test_500_asyncio_runs_keep_no_event_loop_alive(redis_url: str, prefix: str) -> None:
    """One module-level limiter used by 500 ``asyncio.run()`` jobs: each loop's Redis
    client refers back to its loop, so an entry left behind would keep every loop alive."""
    psutil = pytest.importorskip("psutil")
    limiter = RedisRateLimiter(redis_url, RateLimit(requests=100_000, period=1.0), prefix=prefix)

    async def job() -> None:
        await limiter.acquire(KEY)

    def live_loops() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop))

    for _ in range(20):  # warm-up: imports, caches, allocator pools
        asyncio.run(job())
    loops_before = live_loops()
    rss_before = psutil.Process().memory_info().rss
    for _ in range(500):
        asyncio.run(job())
    assert live_loops() - loops_before <= 1
    assert not limiter._clients
    # 500 leaked loops with their clients were ~13 MB; allow allocator noise.
    assert psutil.Process().memory_info().rss - rss_before < 8_000_000


async def test_timeout_holds_for_a_client_passed_in(redis_url: str, prefix: str) -> None:
    """A limiter on a ``redis.asyncio.Redis`` it did not build (``contrib.arq`` passes
    ``ctx["redis"]``, which has no socket timeout) fails after its own ``timeout`` when
    Redis stops answering (SIGSTOP), for acquire and lock alike."""
    from tests._redis_server import running_redis

    with running_redis() as server:
        client = redis.asyncio.Redis.from_url(server.url)  # no socket timeout at all
        limiter = RedisRateLimiter(client, prefix=prefix, timeout=0.5)
        try:
            await limiter.acquire(KEY)
            server.pause()
            try:
                # An outer bound far beyond the timeout: without its own deadline the
                # call would hang here until Redis came back.
                with anyio.fail_after(30):
                    with pytest.raises(RateLimiterUnavailableError, match=r"0\.5 s"):
                        await limiter.acquire(KEY)
                    with pytest.raises(RateLimiterUnavailableError):
                        await limiter.lock(KEY, 5.0)
            finally:
                server.resume()
        finally:
            await limiter.aclose()
            await client.aclose()


async def test_acquire_split_separates_the_gate_from_the_slot(redis_url: str, prefix: str) -> None:
    sleeps = Sleeps()
    limiter = RedisRateLimiter(redis_url, SLOW, prefix=prefix, sleep=sleeps)
    try:
        assert await limiter.acquire_split(KEY) == (0.0, 0.0)
        await limiter.acquire(KEY)
        gate, slot = await limiter.acquire_split(KEY)  # the burst is used: a slot wait
        assert gate == 0.0 and 45.0 < slot <= 50.0
        await limiter.lock(KEY, 200.0)
        gate, slot = await limiter.acquire_split(KEY)  # behind the gate
        assert 195.0 < gate <= 200.0 and slot >= 0.0
        assert sum(sleeps.calls) == pytest.approx(slot + gate + 45.0, abs=5.0)
    finally:
        await limiter.aclose()


async def test_a_waiter_rechecks_its_booking_after_a_flushall(redis_url: str, prefix: str) -> None:
    """The state vanishes while a waiter sleeps on its booking: it books again (behind
    a pause) instead of going on a slot nobody remembers."""
    store = redis.asyncio.Redis.from_url(redis_url)

    async def flush_during_the_first_sleep(call: int) -> None:
        if call == 1:
            for key in [k async for k in store.scan_iter(prefix + "*")]:
                await store.delete(key)

    sleeps = Sleeps(flush_during_the_first_sleep)
    limiter = RedisRateLimiter(redis_url, SLOW, prefix=prefix, sleep=sleeps)
    try:
        await limiter.acquire(KEY)
        await limiter.acquire(KEY)
        await limiter.acquire(KEY)
        assert len(sleeps.calls) == 2  # slept, found its booking gone, booked again
        assert 45.0 < sleeps.calls[1] <= 50.0  # no burst after a loss: one interval
    finally:
        await limiter.aclose()
        await store.aclose()


async def test_a_lost_gate_is_closed_again(redis_url: str, prefix: str) -> None:
    limiter = RedisRateLimiter(redis_url, SLOW, prefix=prefix)
    store = redis.asyncio.Redis.from_url(redis_url)
    try:
        await limiter.lock(KEY, 300.0)
        await store.delete(f"{prefix}{{{KEY}}}:gate")  # evicted, flushed...
        with pytest.raises(LockGateClosedError) as info:
            await limiter.acquire(KEY, max_wait=10.0)
        assert 290.0 < info.value.retry_after <= 300.0
        assert await store.exists(f"{prefix}{{{KEY}}}:gate")
    finally:
        await limiter.aclose()
        await store.aclose()


async def test_waiters_woken_late_by_a_stall_book_again_and_go_paced(
    redis_url: str, prefix: str
) -> None:
    """Two waiters whose wake-up comes long after their slots (a stall) must not both go
    at once on their stale bookings: they book again, and the second waits a slot."""
    rate = RateLimit(requests=2, period=0.4, burst=1, margin=0.0)  # a slot per 0.2 s
    calls: list[float] = []
    asleep = anyio.Event()
    stall_over = anyio.Event()

    async def sleep(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) <= 2:  # the two waiters: held well past their slots
            if len(calls) == 2:
                asleep.set()
            await stall_over.wait()
        else:
            await anyio.sleep(seconds)

    limiter = RedisRateLimiter(redis_url, rate, prefix=prefix, sleep=sleep)
    try:
        await limiter.acquire(KEY)  # the slot now
        async with anyio.create_task_group() as group:
            group.start_soon(limiter.acquire, KEY)  # books +0.2 s
            group.start_soon(limiter.acquire, KEY)  # books +0.4 s
            await asleep.wait()
            await anyio.sleep(1.0)  # the stall itself: both slots pass
            stall_over.set()
        assert len(calls) == 3, calls  # the second one to recheck waited a slot again
        assert 0.1 < calls[2] <= 0.2
    finally:
        await limiter.aclose()
