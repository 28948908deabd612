"""The Redis limiter through Redis faults, against the emulator's real lock policy.

Each scenario runs the emulator (quota ``QUOTA`` = 40 per 2 s, sliding window; a breach
locks the token) over real sockets and a private ``redis-server`` on 127.0.0.1, then
keeps 32 tasks busy on one token far beyond the quota, either in this process (1
process x 32 tasks) or in 4 worker processes of 8 tasks each sharing the Redis.  Once the
emulator has seen ``BEFORE`` requests, the fault strikes; the run goes on until it has
seen ``AFTER`` more (a window and a half), and must end with **0 x 423**:

* ``flushall``: every limiter key vanishes while tasks sleep on their bookings;
* ``restart``: ``kill -9`` and a fresh, empty server on the same port;
* ``stall``: ``DEBUG SLEEP`` 1.5 s and 3.5 s, under the limiter's 5 s timeout, so the
  backlog of due slots would come out at once;
* ``sigstop``: the server frozen for 3 s, longer than the limiter's 2 s timeout: clean
  :class:`RateLimiterUnavailableError` for the callers meanwhile, nothing sent unpaced;
* ``allkeys-lru`` / ``volatile-ttl``: ``maxmemory`` lowered under a stream of junk
  writes so that Redis evicts keys, the limiter's among them (its short TTLs make them
  the first victims under ``volatile-ttl``).  The limiter warns once about the policy.

The whole module takes about a minute (2 cores).  Without ``redis-server`` it is skipped,
except under CI (env ``CI``), where it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("redis")
pytest.importorskip("uvicorn")

import redis

from smartsender_async import RateLimit, SmartSender
from smartsender_async.ratelimit_redis import (
    RateLimiterUnavailableError,
    RedisRateLimiter,
)
from smartsender_async.testing import DEFAULT_TOKEN, Emulator, EmulatorResponse
from tests._redis_server import RedisServer, running_redis

ROOT = Path(__file__).resolve().parent.parent
QUOTA = (40, 2.0)
#: The limiter's pace: 40 per 2.2 s (a 0.2 s margin for loopback jitter on a busy box).
RATE = RateLimit(QUOTA[0], QUOTA[1], burst=1, margin=0.2)
TASKS = 32
PROCESSES = 4
BEFORE = 20
AFTER = 60
#: Upper bound on any wait for an event (a mark reached, a process done).
EVENT_TIMEOUT_S = 60


class MarkingEmulator(Emulator):
    """The emulator, setting ``marks[n]`` once it has received ``n`` requests."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count = 0
        self.marks: dict[int, threading.Event] = {}
        self._count_lock = threading.Lock()

    def mark(self, after: int) -> threading.Event:
        """An event set once ``after`` more requests than now have arrived."""
        with self._count_lock:
            event = self.marks[self.count + after] = threading.Event()
            return event

    async def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        **kwargs: Any,
    ) -> EmulatorResponse:
        with self._count_lock:
            self.count += 1
            event = self.marks.pop(self.count, None)
        if event is not None:
            event.set()
        return await super().handle(method, path, query, headers, body, **kwargs)


async def load(
    url: str, redis_url: str, prefix: str, tasks: int, limit: float, stop: Any
) -> Counter[str]:
    """``tasks`` tasks calling the API until ``stop.is_set()``, with a limiter whose
    timeout is ``limit``; counts the outcomes."""
    limiter = RedisRateLimiter(redis_url, RATE, prefix=prefix, timeout=limit)
    outcomes: Counter[str] = Counter()
    try:
        async with SmartSender(DEFAULT_TOKEN, base_url=url, rate_limit=limiter) as client:

            async def task() -> None:
                while not stop.is_set():
                    try:
                        await client.chats.list()
                        outcomes["ok"] += 1
                    except RateLimiterUnavailableError:
                        outcomes["unavailable"] += 1
                        await anyio.sleep(0.05)  # Redis is down: try again soon

            async with anyio.create_task_group() as group:
                for _ in range(tasks):
                    group.start_soon(task)
    finally:
        await limiter.aclose()
    return outcomes


def limiter_states(control: redis.Redis) -> dict[bytes, bytes | None]:
    """Every limiter TAT key and its value (which names its era)."""
    return {key: control.get(key) for key in control.scan_iter("t:*:tat")}


def evict(control: redis.Redis, *, volatile: bool) -> None:
    """An eviction episode: ``maxmemory`` just above what is used, then 10 KB junk
    values (with a long TTL when ``volatile``) until Redis has evicted 40 keys."""
    states = limiter_states(control)
    used = int(control.info("memory")["used_memory"])
    control.config_set("maxmemory", used + 300_000)
    n = 0
    while int(control.info("stats")["evicted_keys"]) < 40:
        pipe = control.pipeline(transaction=False)
        for _ in range(10):
            n += 1
            pipe.set(f"junk:{n}", b"x" * 10_000, ex=3600 if volatile else None)
        with contextlib.suppress(redis.RedisError):
            pipe.execute()
    if volatile:  # the limiter's short TTLs make its keys the first victims
        after = {key: control.get(key) for key in states}
        assert any(after[key] != value for key, value in states.items()), "no state evicted"


def inject(fault: str, server: RedisServer) -> None:
    """Strike ``fault``."""
    control = redis.Redis.from_url(server.url)
    try:
        if fault == "flushall":
            control.flushall()
        elif fault == "restart":
            server.restart()
        elif fault.startswith("stall"):
            control.execute_command("DEBUG", "SLEEP", fault.split("-")[1])
        elif fault == "sigstop":
            server.pause()
            time.sleep(3.0)  # the fault itself: frozen for 3 s
            server.resume()
        elif fault in ("allkeys-lru", "volatile-ttl"):
            evict(control, volatile=fault == "volatile-ttl")
    finally:
        control.close()


SCENARIOS: dict[str, tuple[list[str], float]] = {
    # fault: (redis-server settings, the limiter's timeout)
    "flushall": ([], 5.0),
    "restart": ([], 5.0),
    "stall-1.5": (["--enable-debug-command", "local"], 5.0),
    "stall-3.5": (["--enable-debug-command", "local"], 5.0),
    "sigstop": ([], 2.0),
    "allkeys-lru": (
        ["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--maxmemory-samples", "1"],
        5.0,
    ),
    "volatile-ttl": (["--maxmemory", "64mb", "--maxmemory-policy", "volatile-ttl"], 5.0),
}


def check(emulator: MarkingEmulator, outcomes: Counter[str], fault: str) -> None:
    stats = emulator.stats
    summary = f"{fault}: {stats.requests} requests, 423s: {stats.locked}, outcomes {dict(outcomes)}"
    print(summary)
    assert stats.locked == 0, summary
    assert stats.lock_events == 0, summary
    assert outcomes["ok"] >= BEFORE + AFTER - TASKS, summary
    if fault.startswith("sigstop"):  # longer than the timeout: callers were told, cleanly
        assert outcomes["unavailable"] > 0, summary


class Workers:
    """``PROCESSES`` worker processes, started once for the module (imports are slow on a
    busy machine); each runs one load per scenario, from a command line on its stdin
    until a ``stop`` line, and answers with its outcomes as JSON."""

    def __init__(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.test_ratelimit_faults"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            for _ in range(PROCESSES)
        ]

    def start(self, url: str, redis_url: str, prefix: str, limit: float) -> None:
        command = json.dumps([url, redis_url, prefix, TASKS // PROCESSES, limit])
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(command + "\n")
            process.stdin.flush()

    def stop(self) -> Counter[str]:
        outcomes: Counter[str] = Counter()
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write("stop\n")
            process.stdin.flush()
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert line, f"worker {process.pid} died (exit {process.poll()})"
            outcomes.update(json.loads(line))
        return outcomes

    def close(self) -> None:
        for process in self.processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(EVENT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture(scope="module")
def workers() -> Iterator[Workers]:
    pool = Workers()
    try:
        yield pool
    finally:
        pool.close()


@pytest.mark.parametrize("fault", list(SCENARIOS))
def test_one_process_of_32_tasks_and_four_processes_never_get_a_423(
    fault: str, workers: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    """Both set-ups at once, each with its own emulator (its own quota), one Redis: the
    fault strikes both."""
    args, limit = SCENARIOS[fault]
    alone = MarkingEmulator(seed=14, chats=30, rate_limit=QUOTA)
    shared = MarkingEmulator(seed=15, chats=30, rate_limit=QUOTA)
    stop = threading.Event()
    outcomes: dict[str, Counter[str]] = {"alone": Counter(), "shared": Counter()}
    with (
        running_redis(args) as server,
        alone.serve() as alone_url,
        shared.serve() as shared_url,
    ):
        marks = [alone.mark(BEFORE), shared.mark(BEFORE)]
        workers.start(shared_url, server.url, f"t:{uuid.uuid4().hex[:6]}:", limit)

        def orchestrate() -> None:
            try:
                for mark in marks:
                    assert mark.wait(EVENT_TIMEOUT_S), "no traffic before the fault"
                inject(fault, server)
                after = [alone.mark(AFTER), shared.mark(AFTER)]
                for mark in after:
                    assert mark.wait(EVENT_TIMEOUT_S), "no progress after the fault"
            finally:
                stop.set()
                outcomes["shared"].update(workers.stop())

        async def main() -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(anyio.to_thread.run_sync, orchestrate)
                prefix = f"t:{uuid.uuid4().hex[:6]}:"
                done = await load(alone_url, server.url, prefix, TASKS, limit, stop)
                outcomes["alone"].update(done)

        with caplog.at_level(logging.WARNING, logger="smartsender_async"):
            asyncio.run(main())
    check(alone, outcomes["alone"], f"{fault}, 1 process x {TASKS} tasks")
    check(shared, outcomes["shared"], f"{fault}, {PROCESSES} processes")
    warnings = [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert len(warnings) == (1 if "--maxmemory" in args else 0)


def _worker() -> None:
    """A worker process: one load per command line on stdin, until stdin closes."""
    while command := sys.stdin.readline():
        url, redis_url, prefix, tasks, limit = json.loads(command)
        stop = threading.Event()

        def watch_stdin(stop: threading.Event = stop) -> None:
            sys.stdin.readline()  # "stop", or the end of stdin
            stop.set()

        watcher = threading.Thread(target=watch_stdin, daemon=True)
        watcher.start()
        outcomes = asyncio.run(load(url, redis_url, prefix, tasks, limit, stop))
        watcher.join()
        print(json.dumps(outcomes), flush=True)


if __name__ == "__main__":
    _worker()
