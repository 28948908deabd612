"""smartsender_async.contrib.arq: two arq worker processes, a real redis-server and the
emulator on loopback with a scaled quota (30 requests per 2 s).

This module is also the worker module: the test starts ``python -m arq
tests.test_workers.WorkerSettings`` twice.  The workers' hooks chain the contrib hooks
with a few lines that report to Redis (ready, closed), so the test can wait for events
instead of sleeping.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("arq")
pytest.importorskip("redis")
pytest.importorskip("uvicorn")

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from smartsender_async import RateLimit
from smartsender_async.contrib.arq import get_smartsender, smartsender_hooks
from smartsender_async.testing import Emulator
from tests._redis_server import redis_server

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL_ENV = "SMARTSENDER_TEST_REDIS_URL"
#: The quota the emulator enforces and every worker's shared limiter keeps to.
QUOTA = (30, 2.0)
JOBS = 40
WORKERS = 2
READY = "test:workers:ready"
DONE = "test:workers:done"
CLOSED = "test:workers:closed"
#: Upper bound on any single wait for an event (startup, a job, shutdown).
EVENT_TIMEOUT_S = 30

# ---------------------------------------------------------------- the worker side

startup, shutdown = smartsender_hooks(rate=RateLimit(*QUOTA))


async def on_startup(ctx: dict[Any, Any]) -> None:
    await startup(ctx)
    await ctx["redis"].rpush(READY, os.getpid())


async def on_shutdown(ctx: dict[Any, Any]) -> None:
    client = get_smartsender(ctx)
    await shutdown(ctx)
    report = {"pid": os.getpid(), "closed": client.is_closed, "in_ctx": "smartsender" in ctx}
    await ctx["redis"].rpush(CLOSED, json.dumps(report))


async def send_note(ctx: dict[Any, Any], contact_id: int, text: str) -> int:
    client = get_smartsender(ctx)
    message = await client.contacts.send(contact_id, text)
    report = {
        "job": ctx["job_id"],
        "try": ctx["job_try"],
        "pid": os.getpid(),
        "client": id(client),
        "message": message.id,
    }
    await ctx["redis"].rpush(DONE, json.dumps(report))
    return message.id


class WorkerSettings:
    functions = [send_note]  # noqa: RUF012 - arq reads class attributes
    on_startup = on_startup
    on_shutdown = on_shutdown
    redis_settings = RedisSettings.from_dsn(os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1:6379"))
    max_jobs = 10
    poll_delay = 0.05
    # On SIGTERM, stop taking jobs and let running ones finish (arq otherwise cancels them,
    # and a job cancelled at shutdown makes arq skip on_shutdown).
    job_completion_wait = 10


# ---------------------------------------------------------------- the test side


class Workers:
    """``python -m arq`` worker processes, one per log file."""

    def __init__(self, logs: list[Path], env: dict[str, str]) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.stopping = False
        for log in logs:
            with log.open("wb") as out:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "arq", "tests.test_workers.WorkerSettings"],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )

    def stop(self) -> None:
        """SIGTERM, once: arq stops taking jobs, lets running ones end, runs on_shutdown."""
        if not self.stopping:
            self.stopping = True
            for process in self.processes:
                process.terminate()

    def reap(self) -> list[int]:
        """Wait for every process to exit (SIGKILL past the timeout); their exit codes."""
        self.stop()
        for process in self.processes:
            try:
                process.wait(EVENT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return [process.returncode for process in self.processes]


@contextlib.asynccontextmanager
async def arq_pool(url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(url))
    try:
        yield pool
    finally:
        await pool.aclose(close_connection_pool=True)


async def pop(pool: ArqRedis, key: str) -> Any:
    """The next report pushed on ``key``, waiting for it (bounded) instead of polling."""
    item = await pool.blpop([key], timeout=EVENT_TIMEOUT_S)
    assert item is not None, f"no report on {key} within {EVENT_TIMEOUT_S} s"
    return json.loads(item[1]) if key != READY else int(item[1])


async def test_two_worker_processes_share_the_quota_and_do_every_job_once(
    tmp_path: Path,
) -> None:
    emulator = Emulator(seed=7, chats=JOBS, rate_limit=QUOTA)
    contacts = [emulator.contact_id_of(chat_id) for chat_id in emulator.chat_ids()]
    texts = {f"reminder #{i} for {contact}": contact for i, contact in enumerate(contacts)}
    with redis_server() as redis_url, emulator.serve() as api_url:
        env = {
            **os.environ,
            REDIS_URL_ENV: redis_url,
            "SMARTSENDER_TOKEN": emulator.token,
            "SMARTSENDER_BASE_URL": api_url,
            "PYTHONWARNINGS": "always::ResourceWarning",
        }
        logs = [tmp_path / f"worker{n}.log" for n in range(WORKERS)]
        workers = Workers(logs, env)
        try:
            async with arq_pool(redis_url) as pool:
                ready = {await pop(pool, READY) for _ in logs}
                assert ready == {p.pid for p in workers.processes}
                for n, (text, contact) in enumerate(texts.items()):
                    await pool.enqueue_job("send_note", contact, text, _job_id=f"note-{n}")
                done = [await pop(pool, DONE) for _ in texts]
                workers.stop()
                closed = [await pop(pool, CLOSED) for _ in logs]
                assert await pool.llen(DONE) == 0  # nothing ran twice
        finally:
            codes = workers.reap()
    output = "\n".join(log.read_text() for log in logs)

    # Every job ran once, first try, and sent exactly one message with its text.
    assert sorted(d["job"] for d in done) == sorted(f"note-{n}" for n in range(JOBS))
    assert {d["try"] for d in done} == {1}
    assert emulator.stats.by_endpoint["POST /contacts/{contactId}/send"] == JOBS
    sent: Counter[str] = Counter()
    for contact in contacts:
        for message_id in emulator.message_ids(emulator.chat_id_of(contact)):
            params = emulator.message(message_id)["content"]["resource"]["parameters"]
            sent[params.get("content", "")] += 1
    assert {text: sent[text] for text in texts} == dict.fromkeys(texts, 1)

    # The two workers together sent more than the quota allows in its window, and the
    # shared limiter kept every request inside it.
    assert emulator.stats.requests == JOBS
    assert emulator.stats.locked == 0

    # One client per worker process, both workers took jobs.
    clients_by_pid: dict[int, set[int]] = {}
    for d in done:
        clients_by_pid.setdefault(d["pid"], set()).add(d["client"])
    assert set(clients_by_pid) == ready
    assert all(len(ids) == 1 for ids in clients_by_pid.values())

    # Clean shutdown: each client closed by on_shutdown, exit code 0, no leak warnings.
    assert {c["pid"] for c in closed} == ready
    assert all(c["closed"] and not c["in_ctx"] for c in closed)
    assert codes == [0] * WORKERS, output
    for bad in ("Traceback", "ResourceWarning", "UnclosedClientWarning", "Unclosed"):
        assert bad not in output, output
    assert emulator.token not in output
