"""A plain asyncio worker: one job per inbound message, with the watch position in the job.

The watch feeds a queue; a worker handles the jobs in order and, after each one is done,
saves the position that came with it.  A crash (of a handler or of the process) therefore
re-delivers the jobs after the last saved one and never skips a message: at least once.
With arq, enqueue ``job`` with ``await redis.enqueue_job("handle", job)`` instead and
save ``job["position"]`` when the job completes, in order (one queue, one worker).

Run it with ``SMARTSENDER_TOKEN=... python -m examples.watch_worker state.json``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from smartsender_async import SmartSender

Job = dict[str, Any]


def load_position(path: Path) -> Any:
    """The saved position, or ``None`` (start now) when there is none yet."""
    try:
        return json.loads(path.read_text())["position"]
    except FileNotFoundError:
        return None


def save_position(path: Path, position: Any) -> None:
    """Atomically replace the saved position (write, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump({"position": position}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


async def run_worker(
    client: SmartSender,
    state: Path,
    handle: Callable[[Job], Awaitable[None]],
    *,
    stop_after: int | None = None,
    ready: anyio.Event | None = None,
    **watch_kwargs: Any,
) -> int:
    """Watch inbound messages and handle one job each; returns the jobs handled.

    ``stop_after`` stops after that many jobs (for tests and batch runs); ``ready`` is set
    once the watch has started and its starting position is saved.
    """
    send, receive = anyio.create_memory_object_stream[Job](100)
    done = 0

    async def produce() -> None:
        with send:
            watch = client.watch(inbound_only=True, position=load_position(state), **watch_kwargs)
            async with watch:
                if load_position(state) is None:
                    save_position(state, watch.position())  # a crash now resumes from here
                if ready is not None:
                    ready.set()
                async for event in watch:
                    assert event.message is not None
                    await send.send(
                        {
                            "chat_id": event.chat.id,
                            "contact_id": event.chat.contact_id,
                            "message_id": event.message.id,
                            "text": event.message.text,
                            "position": event.position,
                        }
                    )

    async with anyio.create_task_group() as tg:
        tg.start_soon(produce)
        with receive:
            async for job in receive:
                await handle(job)  # a crash here: the job's position is not saved
                save_position(state, job["position"])
                done += 1
                if stop_after is not None and done >= stop_after:
                    break
        tg.cancel_scope.cancel()
    return done


async def _print_job(job: Job) -> None:
    print(f"chat {job['chat_id']}: {job['text']!r}")


async def main(state: Path) -> None:
    async with SmartSender() as client:
        await run_worker(client, state, _print_job)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1] if len(sys.argv) > 1 else "watch-state.json"))
