"""A FastAPI app that pushes every new Smart Sender message to browsers (Server-Sent Events).

Its lifespan opens one client and runs one watch in a task group; the watch's events are
broadcast to every connected ``GET /events`` stream.  Run it with::

    pip install "smartsender-async[fastapi]" uvicorn
    SMARTSENDER_TOKEN=... uvicorn examples.watch_sse:app

and open ``http://127.0.0.1:8000/events`` (or ``curl -N``).  Without a token it needs
``SMARTSENDER_BASE_URL`` pointing at an emulator (``smartsender emulator serve``).

The watch runs in the lifespan's task group, entered and exited by the same task, and
nothing is yielded to a consumer from inside it: events cross over through memory
streams, one per subscriber.  A subscriber too slow to keep up (its buffer full) is
disconnected rather than allowed to hold the watch back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from fastapi import FastAPI, Query
from fastapi.responses import StreamingResponse

from smartsender_async import SmartSender
from smartsender_async._convert import converter
from smartsender_async.watch import WatchEvent

#: Events buffered per subscriber before it is dropped as too slow.
SUBSCRIBER_BUFFER = 100


class Hub:
    """Fans the watch's events out to the connected subscribers."""

    def __init__(self) -> None:
        self.subscribers: set[MemoryObjectSendStream[dict[str, Any]]] = set()
        self.delivered = 0

    def publish(self, event: WatchEvent) -> None:
        payload = {
            "kind": event.kind,
            "chat_id": event.chat.id,
            "chat_name": event.chat.name,
            "message": converter.unstructure(event.message) if event.message else None,
            "position": event.position,
        }
        self.delivered += 1
        for send in list(self.subscribers):
            try:
                send.send_nowait(payload)
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self.subscribers.discard(send)
                send.close()


def create_app(
    make_client: Callable[[], SmartSender] = SmartSender, **watch_kwargs: Any
) -> FastAPI:
    """The app; ``make_client`` and ``watch_kwargs`` (for ``client.watch``) are for tests."""
    hub = Hub()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with make_client() as client, anyio.create_task_group() as tg:

            async def pump() -> None:
                async with client.watch(**watch_kwargs) as events:
                    app.state.watching.set()
                    async for event in events:
                        hub.publish(event)

            app.state.watching = anyio.Event()
            tg.start_soon(pump)
            yield
            tg.cancel_scope.cancel()

    app = FastAPI(lifespan=lifespan)
    app.state.hub = hub

    @app.get("/events")
    async def events(limit: int | None = Query(None, ge=1)) -> StreamingResponse:
        """Server-Sent Events: one ``message`` (or ``chat``) event per watch event."""
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](SUBSCRIBER_BUFFER)
        hub.subscribers.add(send)

        async def body() -> AsyncIterator[bytes]:
            sent = 0
            with receive:
                yield b": connected\n\n"
                async for payload in receive:
                    data = json.dumps(payload, ensure_ascii=False, default=str)
                    yield f"event: {payload['kind']}\ndata: {data}\n\n".encode()
                    sent += 1
                    if limit is not None and sent >= limit:
                        break
            hub.subscribers.discard(send)
            send.close()

        return StreamingResponse(body(), media_type="text/event-stream")

    return app


app = create_app()
