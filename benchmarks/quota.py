"""Quota use: how much of a token's quota the limiter lets through, and the 423 count.

The emulator (another process, uvicorn) enforces Smart Sender's quota and lock policy ten
times faster: 180 requests per 6 s instead of per 60 s.  The clients use the default
``RateLimit`` scaled the same way (``burst=5``, ``margin=0.1`` s instead of 1 s), so the
figure shows what the defaults achieve against the real quota, in a tenth of the time.
Every client keeps 32 tasks calling ``chats.list()`` back to back for the whole run, so
the limiter alone paces them.

* **1 process**: one ``SmartSender`` (its in-memory limiter), 32 tasks.
* **4 processes**: four ``SmartSender`` processes, 8 tasks each, sharing one
  ``RedisRateLimiter`` on a private ``redis-server`` (reported n/a when it is missing).

* **cancellation storms**, at the real quota only twice as fast (180 per 30 s, default
  proportions): 40 callers, each call wrapped in ``asyncio.wait_for(..., 2)`` and made
  again at once when it gives up (the queue is ~7 s long, so most do): with the
  in-memory limiter; with a ``RedisRateLimiter`` whose Redis is flushed (FLUSHALL)
  halfway; and with one whose Redis stalls 3 s (``DEBUG SLEEP``) halfway, the stall's
  3 s left out of the rate (nothing can be paced while the limiter's store is silent).
  Their figure is the rate over the whole run, ``(answered - burst) / seconds``, so a
  limiter that starves after a good start cannot hide.

Figure: the steady rate, ``(n - 1) / (last - first)`` over the responses after the first
``burst``, as measured by the clients, ÷ the configured rate (180 / 6 s = 30 per second).
The limiter aims at ``(180 - 5 + 1) / 6.1 s``, 96.2 % of it.  Any 423 fails the row.
``--quick`` runs 1.5 quota periods instead of 4.

``python -m benchmarks.quota worker ...`` is the 4-process run's worker (internal).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx

from benchmarks._harness import Row
from benchmarks._server import TimedTransport, emulator_server
from smartsender_async import RateLimit, SmartSender
from smartsender_async.ratelimit import RateLimiter

QUOTA = (180, 6.0)
#: The default RateLimit (180 per 60 s, burst 5, margin 1 s), ten times faster.
RATE = RateLimit(QUOTA[0], QUOTA[1], burst=5, margin=0.1)
CONFIGURED = QUOTA[0] / QUOTA[1]
GOAL = 0.95
TASKS = 32
PROCESSES = 4
TOKEN = "bench-quota"
ROOT = Path(__file__).resolve().parent.parent
#: Upper bound on any wait for an event (a server or a process ready, a process done).
EVENT_TIMEOUT_S = 60


async def _drive(
    url: str,
    limiter: RateLimit | RateLimiter,
    tasks: int,
    seconds: float,
    warmed_up: Callable[[], Awaitable[None]] | None = None,
) -> TimedTransport:
    """A warm-up request (connection, first-call costs), then ``await warmed_up()``, then
    ``tasks`` tasks calling ``chats.list()`` for ``seconds``."""
    transport = TimedTransport(httpx.AsyncHTTPTransport())
    async with SmartSender(TOKEN, base_url=url, transport=transport, rate_limit=limiter) as client:
        await client.chats.list()
        if warmed_up is not None:
            await warmed_up()
        transport.times.clear()
        deadline = time.monotonic() + seconds

        async def task() -> None:
            while time.monotonic() < deadline:
                await client.chats.list()

        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(task)
    return transport


def _steady_rate(times: list[float]) -> float:
    steady = sorted(times)[RATE.burst :]
    if len(steady) < 2:
        return 0.0
    return (len(steady) - 1) / (steady[-1] - steady[0])


def _row(label: str, times: list[float], locked: int, seconds: float) -> Row:
    rate = _steady_rate(times)
    ceiling = RATE.sustained_rate / CONFIGURED
    return Row(
        f"Quota use, {label}: steady rate ÷ quota (180 per 6 s)",
        rate,
        CONFIGURED,
        "req/s",
        ">=",
        GOAL,
        note=f"423s: {locked}; {len(times)} answered in {seconds:g} s; ceiling {ceiling:.1%}",
        failed=f"{locked} responses were 423" if locked else None,
        extra={"423": locked, "answered": len(times), "seconds": seconds, "ceiling": ceiling},
    )


# --------------------------------------------------------------------------- 4 processes


@contextlib.contextmanager
def _redis_server(binary: str, *settings: str) -> Iterator[str]:
    """A private redis-server on a free loopback port, no persistence; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    proc = subprocess.Popen(
        [*command, "--appendonly", "no", *settings],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()

    def drain() -> None:  # read the log to the end so the server never blocks on it
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Ready to accept connections" in line:
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not ready.wait(EVENT_TIMEOUT_S) or proc.poll() is not None:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(EVENT_TIMEOUT_S)


async def _worker(url: str, redis_url: str, prefix: str, seconds: float) -> None:
    import redis.asyncio

    from smartsender_async.ratelimit_redis import RedisRateLimiter

    limiter = RedisRateLimiter(redis_url, RATE, prefix=prefix)
    control = redis.asyncio.Redis.from_url(redis_url)

    async def ready_then_wait_for_go() -> None:
        await control.rpush(prefix + "ready", os.getpid())
        if await control.blpop([prefix + "go"], timeout=EVENT_TIMEOUT_S) is None:
            raise SystemExit("no go signal")

    try:
        transport = await _drive(url, limiter, TASKS // PROCESSES, seconds, ready_then_wait_for_go)
    finally:
        await limiter.aclose()
        await control.aclose()
    print(json.dumps({"times": transport.times, "statuses": transport.statuses}))


def _processes(url: str, seconds: float) -> Row:
    label = f"{PROCESSES} processes sharing Redis, {TASKS // PROCESSES} tasks each"
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    try:
        import redis
    except ImportError:
        return Row(
            f"Quota use, {label}", None, None, "", ">=", GOAL, unavailable="redis package missing"
        )
    if binary is None:
        return Row(
            f"Quota use, {label}", None, None, "", ">=", GOAL, unavailable="redis-server not found"
        )
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "benchmarks.quota", "worker", url]
    times: list[float] = []
    locked = 0
    with _redis_server(binary) as redis_url:
        workers = [
            subprocess.Popen(
                [*command, redis_url, prefix, str(seconds)],
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
            for _ in range(PROCESSES):
                if control.blpop([prefix + "ready"], timeout=EVENT_TIMEOUT_S) is None:
                    raise RuntimeError("a worker process did not start")
            control.rpush(prefix + "go", *range(PROCESSES))
            for worker in workers:
                out, err = worker.communicate(timeout=seconds + EVENT_TIMEOUT_S)
                if worker.returncode != 0:
                    raise RuntimeError(f"worker failed: {err[-500:]}")
                report: dict[str, Any] = json.loads(out.splitlines()[-1])
                times.extend(report["times"])
                locked += int(report["statuses"].get("423", 0))
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.communicate()
            control.close()
    return _row(label, times, locked, seconds)


# --------------------------------------------------------------------------- storms


#: Callers in a cancellation storm, and each call's deadline (``asyncio.wait_for``).
STORM_CALLERS = 40
STORM_DEADLINE = 2.0
#: The storms' quota: the real one only twice as fast, so that 40 callers queue for
#: 40 x 0.17 s = 6.8 s, far beyond their 2 s deadlines (at 10x they would not queue).
STORM_QUOTA = (180, 30.0)
STORM_RATE = RateLimit(STORM_QUOTA[0], STORM_QUOTA[1], burst=5, margin=0.5)
STORM_CONFIGURED = STORM_QUOTA[0] / STORM_QUOTA[1]
#: The Redis stall of the stall row (``DEBUG SLEEP``), under the limiter's 5 s timeout.
STALL_S = 3.0


def _redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


async def _storm(
    url: str, limiter: RateLimit | RateLimiter, seconds: float, fault: Callable[[], None] | None
) -> tuple[TimedTransport, int]:
    """``STORM_CALLERS`` callers calling ``chats.list()`` through
    ``asyncio.wait_for(..., STORM_DEADLINE)`` over and over for ``seconds``; ``fault``
    strikes (in a thread) halfway.  Returns the transport and how many calls timed out."""
    import asyncio

    transport = TimedTransport(httpx.AsyncHTTPTransport())
    timed_out = 0
    async with SmartSender(TOKEN, base_url=url, transport=transport, rate_limit=limiter) as client:
        await client.chats.list()
        transport.times.clear()
        deadline = time.monotonic() + seconds

        async def caller() -> None:
            nonlocal timed_out
            while time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(client.chats.list(), STORM_DEADLINE)
                except asyncio.TimeoutError:
                    timed_out += 1

        async def strike() -> None:
            await asyncio.sleep(seconds / 2)
            if fault is not None:
                await asyncio.to_thread(fault)

        await asyncio.gather(strike(), *(caller() for _ in range(STORM_CALLERS)))
    return transport, timed_out


def _storm_row(
    label: str, transport: TimedTransport, timed_out: int, seconds: float, excluded: float = 0.0
) -> Row:
    # Over the whole run, not between the first and last answers: a limiter that starves
    # answers a few calls early and then nothing (the old one: 15 answers in 24 s).
    answered = len(transport.times) - STORM_RATE.burst
    rate = max(0, answered) / (seconds - excluded)
    locked = transport.statuses.get(423, 0)
    ceiling = STORM_RATE.sustained_rate / STORM_CONFIGURED
    note = (
        f"423s: {locked}; {len(transport.times)} answered, {timed_out} calls gave up, in "
        f"{seconds:g} s; ceiling {ceiling:.1%}"
    )
    if excluded:
        note += f"; the {excluded:g} s stall itself excluded (nothing can be paced then)"
    return Row(
        f"Quota use, cancellation storm ({STORM_CALLERS} callers, {STORM_DEADLINE:g} s "
        f"deadlines), {label}: rate over the run ÷ quota (180 per 30 s)",
        rate,
        STORM_CONFIGURED,
        "req/s",
        ">=",
        GOAL,
        note=note,
        failed=f"{locked} responses were 423" if locked else None,
        extra={"423": locked, "answered": len(transport.times), "timed_out": timed_out},
    )


def _storms(seconds: float) -> list[Row]:
    import asyncio

    quota = f"{STORM_QUOTA[0]}/{STORM_QUOTA[1]:g}"
    args = ("--any-token", "--quota", quota, "--chats", "200")
    rows = []
    with emulator_server(*args) as url:
        transport, timed_out = asyncio.run(_storm(url, STORM_RATE, seconds, None))
        rows.append(_storm_row("in-memory limiter", transport, timed_out, seconds))
    binary = _redis_binary()
    try:
        import redis
    except ImportError:
        redis = None  # type: ignore[assignment]
    for label, fault_name in (
        ("Redis, FLUSHALL halfway", "flushall"),
        ("Redis, 3 s stall halfway", "stall"),
    ):
        figure = f"Quota use, cancellation storm, {label}"
        if redis is None or binary is None:
            missing = "redis package missing" if redis is None else "redis-server not found"
            rows.append(Row(figure, None, None, "", ">=", GOAL, unavailable=missing))
            continue
        from smartsender_async.ratelimit_redis import RedisRateLimiter

        with (
            _redis_server(binary, "--enable-debug-command", "local") as redis_url,
            emulator_server(*args) as url,
        ):
            control = redis.Redis.from_url(redis_url)

            def fault(name: str = fault_name, control: Any = control) -> None:
                if name == "flushall":
                    control.flushall()
                else:
                    control.execute_command("DEBUG", "SLEEP", STALL_S)

            async def main(
                redis_url: str = redis_url, url: str = url
            ) -> tuple[TimedTransport, int]:
                limiter = RedisRateLimiter(
                    redis_url, STORM_RATE, prefix=f"bench:{uuid.uuid4().hex[:8]}:"
                )
                try:
                    return await _storm(url, limiter, seconds, fault)
                finally:
                    await limiter.aclose()

            try:
                transport, timed_out = asyncio.run(main())
            finally:
                control.close()
        excluded = STALL_S if fault_name == "stall" else 0.0
        rows.append(_storm_row(label, transport, timed_out, seconds, excluded))
    return rows


def run(quick: bool = False) -> list[Row]:
    seconds = QUOTA[1] * (1.5 if quick else 4)
    args = ("--any-token", "--quota", f"{QUOTA[0]}/{QUOTA[1]:g}", "--chats", "200")
    with emulator_server(*args) as url:
        one = anyio.run(_drive, url, RATE, TASKS, seconds)
        rows = [_row(f"1 process, {TASKS} tasks", one.times, one.statuses.get(423, 0), seconds)]
    # A fresh emulator: the token's quota window starts empty for the second run too.
    with emulator_server(*args) as url:
        rows.append(_processes(url, seconds))
    rows += _storms(seconds)
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] != ["worker"] or len(sys.argv) != 6:
        sys.exit("usage: python -m benchmarks.quota worker URL REDIS_URL PREFIX SECONDS")
    anyio.run(_worker, sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
