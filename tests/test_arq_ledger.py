"""smartsender_async.contrib.arq.send_once: the send ledger (issue 13 item 10).

The kill test runs real ``python -m arq`` workers (this module is also the worker module)
against a real redis-server and the emulator on loopback.  A test-local ASGI wrapper lets
the emulator process the first send and then holds its answer, so the worker is killed
(SIGKILL) with the send done on the server and unanswered.  The job is then re-run by a
second worker.  With ``send_once`` the contact gets the message once; with a plain
``contacts.send`` (the control) twice.

The other tests drive ``send_once`` in-process with a dict standing in for Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from smartsender_async import Picture, RateLimit, Text
from smartsender_async.contrib.arq import (
    CTX_KEY,
    SendUncertainError,
    get_smartsender,
    send_once,
    smartsender_hooks,
)
from smartsender_async.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL_ENV = "SMARTSENDER_TEST_REDIS_URL"
MODE_ENV = "SMARTSENDER_TEST_SEND_MODE"
READY = "test:ledger:ready"
DONE = "test:ledger:done"
EVENT_TIMEOUT_S = 30
TEXT = "your parcel is on its way"

# ---------------------------------------------------------------- the worker side

_startup, _shutdown = smartsender_hooks(rate=RateLimit(30, 2.0))


async def on_startup(ctx: dict[Any, Any]) -> None:
    await _startup(ctx)
    await ctx["redis"].rpush(READY, os.getpid())


async def send_reminder(ctx: dict[Any, Any], contact_id: int, text: str) -> int:
    if os.environ.get(MODE_ENV) == "plain":
        message = await get_smartsender(ctx).contacts.send(contact_id, text)
    else:
        message = await send_once(ctx, contact_id, text)
    report = {"job": ctx["job_id"], "try": ctx["job_try"], "pid": os.getpid(), "id": message.id}
    await ctx["redis"].rpush(DONE, json.dumps(report))
    return message.id


def _redis_settings() -> Any:
    try:
        from arq.connections import RedisSettings
    except ImportError:  # pragma: no cover - the tests below skip without arq
        return None
    return RedisSettings.from_dsn(os.environ.get(REDIS_URL_ENV, "redis://127.0.0.1:6379"))


class WorkerSettings:
    functions = [send_reminder]  # noqa: RUF012 - arq reads class attributes
    on_startup = on_startup
    on_shutdown = _shutdown
    redis_settings = _redis_settings()
    poll_delay = 0.05
    max_tries = 3


# ---------------------------------------------------------------- the server side


class HoldFirstSend:
    """ASGI wrapper: the first ``POST .../send`` is processed by the emulator, then its
    answer is held until the server stops (``processed`` is set in between)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.processed = threading.Event()
        self.held = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        holding = (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/send")
            and not self.held
        )
        if not holding:
            await self.app(scope, receive, send)
            return
        self.held = True

        async def swallow(message: Any) -> None:
            pass

        await self.app(scope, receive, swallow)  # the message is stored now
        self.processed.set()
        await asyncio.Event().wait()  # never answer; cancelled when the server stops


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    import uvicorn

    from smartsender_async.testing._asgi import base_url, bind_socket

    sock = bind_socket()
    ready = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            ready.set()

    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
    )
    server = Server(config)

    def run() -> None:
        try:
            server.run(sockets=[sock])
        finally:
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        ready.wait(EVENT_TIMEOUT_S)
        assert server.started, "the server did not start"
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "arq", "tests.test_arq_ledger.WorkerSettings"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextlib.asynccontextmanager
async def arq_pool(url: str) -> AsyncIterator[Any]:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(url))
    try:
        yield pool
    finally:
        await pool.aclose(close_connection_pool=True)


async def pop(pool: Any, key: str) -> Any:
    item = await pool.blpop([key], timeout=EVENT_TIMEOUT_S)
    assert item is not None, f"no report on {key} within {EVENT_TIMEOUT_S} s"
    return json.loads(item[1])


def delivered(emulator: Emulator, contact: int, text: str) -> int:
    count = 0
    for message_id in emulator.message_ids(emulator.chat_id_of(contact)):
        params = emulator.message(message_id)["content"]["resource"]["parameters"]
        count += params.get("content") == text
    return count


@pytest.mark.parametrize(
    ("mode", "kill", "expected"),
    [
        ("ledger", signal.SIGKILL, 1),
        ("plain", signal.SIGKILL, 2),  # the control: without the ledger, twice
        ("ledger", signal.SIGTERM, 1),  # arq cancels the running job and re-queues it
    ],
    ids=["ledger-sigkill", "plain-sigkill", "ledger-sigterm"],
)
async def test_a_worker_killed_mid_send_delivers_once(
    tmp_path: Path, mode: str, kill: signal.Signals, expected: int
) -> None:
    pytest.importorskip("arq")
    pytest.importorskip("uvicorn")
    from tests._redis_server import redis_server

    emulator = Emulator(seed=11, chats=2, rate_limit=None)
    contact = emulator.contact_id_of(emulator.chat_ids()[0])
    app = HoldFirstSend(emulator.asgi_app())
    with redis_server() as redis_url, serve(app) as api_url:
        env = {
            **os.environ,
            REDIS_URL_ENV: redis_url,
            MODE_ENV: mode,
            "SMARTSENDER_TOKEN": emulator.token,
            "SMARTSENDER_BASE_URL": api_url,
        }
        logs = [tmp_path / "first.log", tmp_path / "second.log"]
        first = worker(env, logs[0])
        second = None
        try:
            async with arq_pool(redis_url) as pool:
                assert int((await pool.blpop([READY], timeout=EVENT_TIMEOUT_S))[1]) == first.pid
                await pool.enqueue_job("send_reminder", contact, TEXT, _job_id="remind-1")
                processed = await anyio.to_thread.run_sync(app.processed.wait, EVENT_TIMEOUT_S)
                assert processed, "the send never reached the emulator"
                first.send_signal(kill)  # mid-send: processed, unanswered
                await anyio.to_thread.run_sync(first.wait)
                if kill == signal.SIGKILL:
                    # arq re-runs a job whose worker died once its in-progress key expires
                    # (job timeout + 10 s); expire it now instead of waiting.
                    await pool.delete("arq:in-progress:remind-1")
                second = worker(env, logs[1])
                report = await pop(pool, DONE)
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(EVENT_TIMEOUT_S)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
    output = "\n".join(log.read_text() for log in logs if log.exists())
    assert report["job"] == "remind-1" and report["try"] == 2, output
    assert delivered(emulator, contact, TEXT) == expected, output
    sends = emulator.stats.by_endpoint["POST /contacts/{contactId}/send"]
    assert sends == expected, output
    if mode == "ledger":
        stored = [
            m
            for m in emulator.message_ids(emulator.chat_id_of(contact))
            if emulator.message(m)["content"]["resource"]["parameters"].get("content") == TEXT
        ]
        assert report["id"] == stored[0]  # the re-run returned the message the kill hid
    assert emulator.token not in output


# ---------------------------------------------------------------- in-process


class FakeRedis:
    """The two calls send_once makes, on a dict; ``fail_set`` makes SET raise."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.fail_set = False
        self.sets = 0

    async def get(self, key: str) -> str | None:
        return self.data.get(key)

    async def set(self, key: str, value: str, ex: int | None = None) -> None:
        if self.fail_set:
            raise ConnectionError("redis is down")
        assert ex is not None and ex > 0
        self.sets += 1
        self.data[key] = value


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=12, chats=3, messages_per_chat=5, rate_limit=None)


def ctx_for(emulator: Emulator, redis: FakeRedis, job: str = "job-1") -> dict[Any, Any]:
    return {CTX_KEY: emulator.client(), "redis": redis, "job_id": job, "job_try": 1}


def sends(emulator: Emulator) -> int:
    return emulator.stats.by_endpoint.get("POST /contacts/{contactId}/send", 0)


async def test_a_first_run_records_intent_then_done(emulator: Emulator) -> None:
    redis = FakeRedis()
    ctx = ctx_for(emulator, redis)
    contact = emulator.contact_id_of(emulator.chat_ids()[0])
    async with ctx[CTX_KEY]:
        message = await send_once(ctx, contact, "hello")
        second = await send_once(ctx, contact, "hello again")
    assert sends(emulator) == 2 and message.id != second.id
    entries = {k: json.loads(v) for k, v in redis.data.items()}
    assert set(entries) == {"smartsender:sent:job-1:1", "smartsender:sent:job-1:2"}
    assert all(e["state"] == "done" for e in entries.values())
    assert entries["smartsender:sent:job-1:1"]["message"]["id"] == message.id


async def test_a_rerun_after_done_returns_the_message_without_a_request(
    emulator: Emulator,
) -> None:
    redis = FakeRedis()
    contact = emulator.contact_id_of(emulator.chat_ids()[0])
    ctx = ctx_for(emulator, redis)
    async with ctx[CTX_KEY]:
        first = await send_once(ctx, contact, Text("hi"))
    requests = emulator.stats.requests
    rerun = ctx_for(emulator, redis)
    async with rerun[CTX_KEY]:
        again = await send_once(rerun, contact, Text("hi"))
    assert again.id == first.id and again.text == "hi"
    assert emulator.stats.requests == requests  # no request at all


async def test_a_rerun_after_intent_finds_the_delivered_message(emulator: Emulator) -> None:
    redis = FakeRedis()
    contact = emulator.contact_id_of(emulator.chat_ids()[0])
    ctx = ctx_for(emulator, redis)
    async with ctx[CTX_KEY]:
        await send_once(ctx, contact, "older, same text")  # an earlier identical message...
        before = emulator.message_ids(emulator.chat_id_of(contact))
        # ...then a run that wrote its intent and whose send was delivered, unanswered:
        entry = json.loads(redis.data["smartsender:sent:job-1:1"])
        intent = {**entry, "state": "intent", "before": max(before)}
        intent.pop("message")
        redis.data["smartsender:sent:job-2:1"] = json.dumps(intent)
        sent = await ctx[CTX_KEY].contacts.send(contact, "older, same text")
    assert sends(emulator) == 2
    rerun = ctx_for(emulator, redis, job="job-2")
    async with rerun[CTX_KEY]:
        found = await send_once(rerun, contact, "older, same text")
    assert found.id == sent.id and sends(emulator) == 2
    assert json.loads(redis.data["smartsender:sent:job-2:1"])["state"] == "done"


async def test_a_rerun_after_intent_sends_when_the_message_is_not_there(
    emulator: Emulator,
) -> None:
    redis = FakeRedis()
    contact = emulator.contact_id_of(emulator.chat_ids()[0])
    ctx = ctx_for(emulator, redis)
    async with ctx[CTX_KEY]:
        await send_once(ctx, contact, "same text")  # delivered before the intent: not ours
        newest = max(emulator.message_ids(emulator.chat_id_of(contact)))
    intent = {"state": "intent", "contact": contact, "fingerprint": ["text", "same text"]}
    redis.data["smartsender:sent:job-2:1"] = json.dumps({**intent, "before": newest})
    rerun = ctx_for(emulator, redis, job="job-2")
    async with rerun[CTX_KEY]:
        message = await send_once(rerun, contact, "same text")
    assert sends(emulator) == 2 and message.id > newest


async def test_an_unsure_rerun_raises_or_sends_as_told(emulator: Emulator) -> None:
    redis = FakeRedis()
    contact = emulator.contact_id_of(emulator.chat_ids()[0])
    chat = emulator.chat_id_of(contact)
    oldest = min(emulator.message_ids(chat))
    intent = {"state": "intent", "contact": contact, "fingerprint": ["text", "x"]}
    redis.data["smartsender:sent:job-3:1"] = json.dumps({**intent, "before": oldest - 1})
    ctx = ctx_for(emulator, redis, job="job-3")
    async with ctx[CTX_KEY]:
        for n in range(25):  # more than one page of 20 newer messages
            await ctx[CTX_KEY].contacts.send(contact, f"filler {n}")
        before = sends(emulator)
        with pytest.raises(SendUncertainError, match="nothing sent"):
            await send_once(ctx, contact, "x", key="1", scan_pages=1)
        assert sends(emulator) == before
        await send_once(ctx, contact, "x", key="1", scan_pages=1, unsure="send")
    assert sends(emulator) == before + 1


async def test_a_key_reused_for_other_content_is_refused(emulator: Emulator) -> None:
    redis = FakeRedis()
    contact = emulator.contact_id_of(emulator.chat_ids()[0])
    ctx = ctx_for(emulator, redis)
    async with ctx[CTX_KEY]:
        await send_once(ctx, contact, "a", key="k")
        with pytest.raises(ValueError, match="another contact or content"):
            await send_once(ctx, contact, Picture("https://example.com/p.jpg"), key="k")
    assert sends(emulator) == 1


async def test_redis_down_before_the_send_sends_nothing(emulator: Emulator) -> None:
    redis = FakeRedis()
    redis.fail_set = True
    contact = emulator.contact_id_of(emulator.chat_ids()[0])
    ctx = ctx_for(emulator, redis)
    async with ctx[CTX_KEY]:
        with pytest.raises(ConnectionError):
            await send_once(ctx, contact, "a")
    assert sends(emulator) == 0


async def test_bad_arguments_are_refused_before_any_request(emulator: Emulator) -> None:
    ctx = ctx_for(emulator, FakeRedis())
    async with ctx[CTX_KEY]:
        with pytest.raises(TypeError, match="contact_id"):
            await send_once(ctx, "١٢", "a")
        with pytest.raises(ValueError, match="unsure"):
            await send_once(ctx, 5, "a", unsure="maybe")  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="job_id"):
            await send_once({CTX_KEY: ctx[CTX_KEY], "redis": FakeRedis()}, 5, "a")
    assert emulator.stats.requests == 0
