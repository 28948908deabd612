"""smartsender_async.contrib.aiohttp in a real aiohttp app on aiohttp's own test server
(loopback), calling the emulator over loopback."""

from __future__ import annotations

import gc
import warnings

import anyio
import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("uvicorn")

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from smartsender_async import RateLimit, SmartSender
from smartsender_async.contrib.aiohttp import (
    SMARTSENDER,
    get_smartsender,
    smartsender_ctx,
)
from smartsender_async.testing import Emulator

# The same scaled quota as the FastAPI test: 20 concurrent requests breach it unless they
# pace through one limiter.
EMULATOR_QUOTA = (10, 0.5)
CLIENT_RATE = RateLimit(10, 0.5, burst=2, margin=0.5)


async def chat(request: web.Request) -> web.Response:
    client = get_smartsender(request)
    found = await client.chats.get(int(request.match_info["chat_id"]))
    return web.json_response(
        {"id": found.id, "client": id(client), "limiter": id(client.rate_limiter)}
    )


async def test_concurrent_requests_share_one_client_and_limiter_and_cleanup_is_clean() -> None:
    emulator = Emulator(seed=4, chats=20, rate_limit=EMULATOR_QUOTA)
    chat_ids = emulator.chat_ids()
    answers: list[dict[str, int]] = []
    gc.collect()  # earlier tests' garbage must not count here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with emulator.serve() as api_url:
            app = web.Application()
            app.cleanup_ctx.append(
                smartsender_ctx(token=emulator.token, base_url=api_url, rate_limit=CLIENT_RATE)
            )
            # Handlers of a sub-application find the parent's client through config_dict.
            api = web.Application()
            api.router.add_get("/chats/{chat_id}", chat)
            app.add_subapp("/api", api)
            async with TestClient(TestServer(app, host="127.0.0.1")) as http:
                client: SmartSender = app[SMARTSENDER]

                async def call(chat_id: int) -> None:
                    response = await http.get(f"/api/chats/{chat_id}")
                    assert response.status == 200, await response.text()
                    answers.append(await response.json())

                async with anyio.create_task_group() as tg:
                    for chat_id in chat_ids:
                        tg.start_soon(call, chat_id)
                assert not client.is_closed
            assert client.is_closed  # the test server's cleanup ran the context's exit
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert sorted(a["id"] for a in answers) == sorted(chat_ids)
    assert {a["client"] for a in answers} == {id(client)}
    assert {a["limiter"] for a in answers} == {id(client.rate_limiter)}
    assert emulator.stats.locked == 0, emulator.stats
    assert emulator.stats.by_endpoint["GET /chats/{chatId}"] == len(chat_ids)


async def test_the_client_is_built_at_startup_not_when_the_context_is_made() -> None:
    app = web.Application()
    app.cleanup_ctx.append(smartsender_ctx(token="t", base_url="http://127.0.0.1:9/v1"))
    assert SMARTSENDER not in app
    async with TestClient(TestServer(app, host="127.0.0.1")):
        assert isinstance(app[SMARTSENDER], SmartSender)


def test_without_the_context_the_lookup_says_what_to_do() -> None:
    request = make_mocked_request("GET", "/", app=web.Application())
    with pytest.raises(RuntimeError, match=r"cleanup_ctx\.append\(smartsender_ctx\(\)\)"):
        get_smartsender(request)
