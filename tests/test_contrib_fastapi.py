"""smartsender_async.contrib.fastapi in a real FastAPI app served by uvicorn on loopback,
calling the emulator over loopback too."""

from __future__ import annotations

import contextlib
import functools
import gc
import socket
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import uvicorn
from fastapi import Depends, FastAPI
from starlette.requests import Request

from smartsender_async import RateLimit, SmartSender
from smartsender_async.contrib.fastapi import (
    STATE_KEY,
    SmartSenderDependency,
    get_smartsender,
    smartsender_lifespan,
)
from smartsender_async.testing import Emulator

# A scaled quota: 10 requests per 0.5 s at the emulator, and the same in the client's
# limiter (small burst), so that 20 concurrent handler requests breach the quota unless
# they pace through one limiter.  The margin absorbs the jitter between the limiter's
# admission and the emulator's arrival (both share this process and its GIL with the
# app under load): with 0.1 s, a loaded machine now and then squeezed 11 into a window.
EMULATOR_QUOTA = (10, 0.5)
CLIENT_RATE = RateLimit(10, 0.5, burst=2, margin=0.5)


@contextlib.contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app under uvicorn (lifespan on) in a background thread; yield its URL.

    Returns after the lifespan started and the socket accepts connections; on exit, shuts
    the server down (running the lifespan's shutdown) and joins the thread.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    ready = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            ready.set()

    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    server = Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:
            failure.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="fastapi-under-test", daemon=True)
    thread.start()
    try:
        ready.wait()
        if failure or not server.started:
            raise RuntimeError("the app did not start") from (failure[0] if failure else None)
        host, port = sock.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def build_app(base_url: str, token: str) -> FastAPI:
    app = FastAPI(
        lifespan=functools.partial(
            smartsender_lifespan, token=token, base_url=base_url, rate_limit=CLIENT_RATE
        )
    )

    @app.get("/chats/{chat_id}")
    async def chat(chat_id: int, client: SmartSenderDependency) -> dict[str, Any]:
        found = await client.chats.get(chat_id)
        return {
            "id": found.id,
            "client": id(client),
            "limiter": id(client.rate_limiter),
        }

    return app


@contextlib.contextmanager
def no_resource_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning (from any thread) and fail on a ResourceWarning."""
    gc.collect()  # earlier tests' garbage must not count here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]


async def test_concurrent_requests_share_one_client_and_limiter_and_shutdown_is_clean() -> None:
    emulator = Emulator(seed=3, chats=20, rate_limit=EMULATOR_QUOTA)
    chat_ids = emulator.chat_ids()
    with no_resource_warnings(), emulator.serve() as api_url:
        app = build_app(api_url, emulator.token)
        with serve_app(app) as app_url:
            client: SmartSender = getattr(app.state, STATE_KEY)
            answers: list[dict[str, Any]] = []
            async with httpx.AsyncClient(base_url=app_url) as http:

                async def call(chat_id: int) -> None:
                    response = await http.get(f"/chats/{chat_id}")
                    response.raise_for_status()
                    answers.append(response.json())

                async with anyio.create_task_group() as tg:
                    for chat_id in chat_ids:
                        tg.start_soon(call, chat_id)
            assert not client.is_closed
        # uvicorn ran the lifespan's shutdown: the client is closed and gone from the app.
        assert client.is_closed
        assert not hasattr(app.state, STATE_KEY)
    assert sorted(a["id"] for a in answers) == sorted(chat_ids)
    assert {a["client"] for a in answers} == {id(client)}
    assert {a["limiter"] for a in answers} == {id(client.rate_limiter)}
    # Twice the emulator's quota went out at once and none of it was refused: every
    # handler paced through the one limiter.
    assert emulator.stats.locked == 0, emulator.stats
    assert emulator.stats.by_endpoint["GET /chats/{chatId}"] == len(chat_ids)


async def test_lifespan_nested_in_your_own_and_state_reaches_the_handler() -> None:
    emulator = Emulator(seed=1, chats=3, rate_limit=None)
    closed: list[bool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with smartsender_lifespan(
            app, token=emulator.token, base_url=api_url, rate_limit=None
        ) as state:
            yield {**state, "greeting": "hi"}
        closed.append(getattr(app.state, STATE_KEY, None) is None)

    app = FastAPI(lifespan=lifespan)

    @app.get("/first")
    async def first(
        request: Request, client: Annotated[SmartSender, Depends(get_smartsender)]
    ) -> str:
        page = await client.chats.list(limitation=1)
        return f"{request.state.greeting} {page.items[0].id}"

    with no_resource_warnings(), emulator.serve() as api_url, serve_app(app) as app_url:
        async with httpx.AsyncClient(base_url=app_url) as http:
            response = await http.get("/first")
    assert response.json() == f"hi {emulator.chat_ids()[0]}"
    assert closed == [True]


async def test_without_the_lifespan_the_dependency_says_what_to_do() -> None:
    request = Request({"type": "http", "app": FastAPI(), "state": {}})
    with pytest.raises(RuntimeError, match=r"FastAPI\(lifespan=smartsender_lifespan\)"):
        get_smartsender(request)
