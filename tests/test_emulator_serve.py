"""The emulator over real loopback sockets (uvicorn), from the command line, and under trio."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
import trio

from smartsender_async.testing import Emulator, FakeClock, Faults

pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"Authorization": "Bearer emulator-token"}


async def test_loopback_serves_the_same_app_and_counters() -> None:
    emulator = Emulator(seed=2, chats=30, rate_limit=None)
    with emulator.serve() as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            over_socket = (await http.get("/chats", params={"selector[name]": "unread"})).json()
            chat_id = over_socket["collection"][0]["id"]
            assert (await http.put(f"/chats/{chat_id}/read")).json() == {"state": True}
            missing = await http.get("/chats/1")
            assert (missing.status_code, missing.json()) == (
                404,
                {"error": {"code": 404, "message": "Not found"}},
            )
    async with emulator.http_client() as local:
        in_process = (await local.get("/chats", params={"selector[name]": "unread"})).json()
    assert [c for c in over_socket["collection"] if c["id"] != chat_id] == in_process["collection"]
    assert emulator.stats.by_endpoint == {
        "GET /chats": 2,
        "PUT /chats/{chatId}/read": 1,
        "GET /chats/{chatId}": 1,
    }


async def test_the_sdk_over_loopback() -> None:
    from smartsender_async import SmartSender

    emulator = Emulator(seed=2, chats=30, rate_limit=None)
    with emulator.serve() as url:
        async with SmartSender(emulator.token, base_url=url) as client:
            page = await client.chats.list(limitation=5)
            sent = await client.contacts.send(page.items[-1].contact.original_id, "over the wire")
            assert (await client.chats.list(limitation=1)).items[0].id == page.items[-1].id
    assert (
        emulator.message(sent.id)["content"]["resource"]["parameters"]["content"] == "over the wire"
    )


async def test_dropped_connections_and_slow_responses_over_sockets() -> None:
    emulator = Emulator(chats=5, rate_limit=None, faults=Faults(drop_rate=1.0))
    with emulator.serve() as url:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get("/chats")
            emulator.faults.drop_rate = 0.0
            emulator.faults.slow_rate = 1.0
            emulator.faults.slow_seconds = 0.3  # the server thread finishes it before stopping
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/chats", timeout=httpx.Timeout(5.0, read=0.05))
            emulator.faults.slow_rate = 0.0
            assert (await http.get("/chats")).status_code == 200
    assert emulator.stats.faults == {"drop": 1, "slow": 1}


def test_command_line_server_prints_its_url_and_enforces_the_quota() -> None:
    command = [
        sys.executable,
        "-m",
        "smartsender_async.testing",
        "serve",
        "--port",
        "0",
        "--chats",
        "5",
        "--quota",
        "3/2",
        "--token",
        "cli-token",
        "--retry-after",
    ]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()  # blocks until the server is ready
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url), url
            with httpx.Client(base_url=url, headers={"Authorization": "Bearer cli-token"}) as http:
                statuses = [http.get("/chats").status_code for _ in range(3)]
                refused = http.get("/chats")
            assert statuses == [200, 200, 200]
            assert refused.status_code == 423
            assert (
                refused.json()["error"]["message"]
                == "Too many requests. Please, try again in 2 seconds"
            )
            assert refused.headers["retry-after"] == "2"
        finally:
            server.terminate()
            server.wait(timeout=30)
        assert server.stdout is not None and server.stdout.read() == ""


def test_in_process_transport_under_trio() -> None:
    emulator = Emulator(
        chats=10, rate_limit=None, faults=Faults(latency=0.001, jitter=0.001), clock=FakeClock()
    )

    async def main() -> None:
        async with emulator.http_client() as http:
            assert (await http.get("/chats")).status_code == 200
            emulator.faults.slow_rate = 1.0
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/chats", timeout=httpx.Timeout(5.0, read=0.02))

    trio.run(main)
    assert emulator.stats.faults == {"slow": 1, "timeout": 1}


def test_the_sdk_in_process_under_trio() -> None:
    emulator = Emulator(chats=10, rate_limit=None)

    async def main() -> int:
        async with emulator.client() as client:
            return len((await client.chats.list(limitation=4)).items)

    assert anyio.run(main, backend="trio") == 4


async def test_client_is_wired_to_the_emulator() -> None:
    unlimited = Emulator(chats=3, rate_limit=None)
    async with unlimited.client() as client:
        assert client.rate_limiter is None  # nothing to protect, so no real-time pacing
        assert client.base_url == unlimited.base_url
        assert len(await client.operators.list()) == 5
    assert unlimited.stats.by_token == {unlimited.token: 1}
    async with Emulator(chats=3).client() as client:
        assert client.rate_limiter is not None  # the emulator enforces 180/60: stay inside it


def test_the_listening_socket_is_tcp_so_connections_get_nodelay() -> None:
    from smartsender_async.testing._asgi import bind_socket

    # With proto 0 asyncio skips TCP_NODELAY and every keep-alive request waits ~40 ms
    # for a delayed ACK; this pins the cause rather than timing requests.
    sock = bind_socket()
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
