"""The examples under examples/: the SSE app (FastAPI, through httpx) and the job worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from examples.watch_sse import create_app
from examples.watch_worker import run_worker
from smartsender_async.testing import Emulator

pytest.importorskip("fastapi")


def sse_events(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            out.append({"event": fields.get("event"), **json.loads(fields["data"])})
    return out


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sse_app_pushes_each_new_message_to_every_subscriber(backend: str) -> None:
    emu = Emulator(seed=3, chats=30, messages_per_chat=3, rate_limit=None)
    app = create_app(emu.client, interval=0.05)
    chats = emu.chat_ids()

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
        sent: list[int] = []
        async with app.router.lifespan_context(app):
            await app.state.watching.wait()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                results: dict[int, str] = {}

                async def subscriber(n: int) -> None:
                    response = await http.get("/events", params={"limit": 3})
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    results[n] = response.text

                async with anyio.create_task_group() as tg:
                    tg.start_soon(subscriber, 1)
                    tg.start_soon(subscriber, 2)
                    while len(app.state.hub.subscribers) < 2:
                        await anyio.lowlevel.checkpoint()
                    for chat_id in (chats[1], chats[7], chats[1]):
                        sent.append(emu.add_inbound_message(chat_id, "hello")["id"])
        return sse_events(results[1]), sse_events(results[2]), sent

    one, two, sent = anyio.run(scenario, backend=backend)
    for got in (one, two):
        assert sorted(e["message"]["id"] for e in got) == sorted(sent)  # each once
        assert all(e["event"] == "message" and e["position"]["v"] == 1 for e in got)


def test_worker_crash_redelivers_and_never_skips(tmp_path: Path) -> None:
    emu = Emulator(seed=5, chats=40, messages_per_chat=3, rate_limit=None)
    state = tmp_path / "state.json"
    chats = emu.chat_ids()
    handled: list[int] = []

    async def scenario() -> None:
        async with emu.client() as client:
            # First run: start now, then messages arrive; the 4th job crashes its handler.
            async def crashy(job: dict[str, Any]) -> None:
                if len(handled) == 3:
                    raise RuntimeError("worker crashed")
                handled.append(job["message_id"])

            ready = anyio.Event()

            async def feed() -> None:
                await ready.wait()
                for i in range(6):
                    emu.add_inbound_message(chats[i % 4], f"m{i}")
                # outbound messages never become jobs
                await client.contacts.send(emu.contact_id_of(chats[0]), "operator reply")

            async def first_run() -> None:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(feed)
                    tg.start_soon(
                        lambda: run_worker(client, state, crashy, interval=0.05, ready=ready)
                    )

            with pytest.raises(BaseException) as info:
                await first_run()
            assert "worker crashed" in repr(info.value)

            async def ok(job: dict[str, Any]) -> None:
                handled.append(job["message_id"])

            await run_worker(client, state, ok, stop_after=3, interval=0.05)

    anyio.run(scenario)
    inbound = [m for m in emu.store._new if emu.store._new[m]["sender"]["type"] == "contact"]
    assert sorted(handled) == sorted(inbound)  # the crashed job came again; none skipped
