"""Request overhead: what the SDK's request path adds to one ``chats.list()`` call.

In process: the SDK's ``client.chats.list()`` against a raw ``httpx.AsyncClient.get`` +
parse + the same decode, both on one in-process transport that returns the same fixed
bytes, so the only difference is the SDK's path (argument checks, request building, retry
step, limiter, error check, ``response_info``).  The baseline parses with the parser the
SDK's client uses (``json.loads`` unless the client imports ``_convert.loads``), so the
JSON parser never counts for or against the request path.  Two SDK rows: no limiter, and
the in-memory limiter at a rate that never makes it wait (its bookkeeping is part of every
real request).

Over loopback: the same two callers against the emulator under uvicorn in another
process; the figure is client-process CPU (``time.process_time``) per request.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

import smartsender_async.client as client_module
from benchmarks._harness import Row
from benchmarks._payloads import chats_page, page_bytes
from benchmarks._server import emulator_server
from smartsender_async import RateLimit, SmartSender
from smartsender_async._convert import structure
from smartsender_async.models import Chat, Page

GOAL = 1.15
TOKEN = "bench-token"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/json",
    "User-Agent": "bench",
}
#: A limiter that keeps its books on every request but never makes one wait.
UNBOUNDED = RateLimit(requests=1_000_000_000, period=1.0, burst=1_000_000_000, margin=0.0)


class FixedTransport(httpx.AsyncBaseTransport):
    """Answers every request with the same prebuilt body."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers = [(b"content-type", b"application/json")]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=self.headers, content=self.body)


def sdk_parser() -> Callable[[bytes], Any]:
    """The JSON parser the SDK client uses for bodies."""
    parser = getattr(client_module, "loads", None)
    return parser if callable(parser) else json.loads


async def _timed(
    fn: Callable[[], Awaitable[Any]], number: int, clock: Callable[[], float]
) -> float:
    start = clock()
    for _ in range(number):
        await fn()
    return (clock() - start) / number


async def compare_async(
    candidates: dict[str, Callable[[], Awaitable[Any]]],
    *,
    rounds: int,
    number: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Best seconds per call of each candidate, in interleaved rounds (see ``_harness``)."""
    for fn in candidates.values():
        await _timed(fn, max(10, number // 10), clock)
    best = dict.fromkeys(candidates, math.inf)
    for _ in range(rounds):
        for name, fn in candidates.items():
            gc.collect()
            best[name] = min(best[name], await _timed(fn, number, clock))
    return best


def _callers(base_url: str, transport: httpx.AsyncBaseTransport | None) -> tuple[Any, ...]:
    sdk = SmartSender(TOKEN, base_url=base_url, transport=transport, rate_limit=None)
    sdk_limited = SmartSender(TOKEN, base_url=base_url, transport=transport, rate_limit=UNBOUNDED)
    raw = httpx.AsyncClient(base_url=base_url, headers=HEADERS, transport=transport)
    parse = sdk_parser()
    model = Page[Chat]

    async def raw_list() -> Any:
        response = await raw.get("/chats", params={"page": 1, "limitation": 20})
        return structure(parse(response.content), model)

    return sdk, sdk_limited, raw, raw_list


async def _in_process(quick: bool) -> list[Row]:
    transport = FixedTransport(page_bytes(chats_page()))
    sdk, sdk_limited, raw, raw_list = _callers("https://api.invalid/v1", transport)
    async with sdk, sdk_limited, raw:
        best = await compare_async(
            {
                "sdk": lambda: sdk.chats.list(),
                "sdk_limited": lambda: sdk_limited.chats.list(),
                "raw": raw_list,
            },
            rounds=3 if quick else 12,
            number=100 if quick else 400,
        )
    us = {k: v * 1e6 for k, v in best.items()}
    note = "in-process transport, fixed 20-chat page"
    return [
        Row("Request overhead: chats.list() vs raw httpx + parse + decode", us["sdk_limited"],
            us["raw"], "µs", "<=", GOAL, note=note + "; default retry, in-memory limiter"),
        Row("Request overhead: chats.list() vs raw httpx + parse + decode", us["sdk"],
            us["raw"], "µs", "<=", GOAL, note=note + "; default retry, rate_limit=None"),
    ]  # fmt: skip


async def _loopback(url: str, quick: bool) -> list[Row]:
    sdk, sdk_limited, raw, raw_list = _callers(url, None)
    async with sdk, sdk_limited, raw:
        best = await compare_async(
            {
                "sdk": lambda: sdk.chats.list(),
                "sdk_limited": lambda: sdk_limited.chats.list(),
                "raw": raw_list,
            },
            rounds=3 if quick else 8,
            number=50 if quick else 200,
            clock=time.process_time,
        )
    us = {k: v * 1e6 for k, v in best.items()}
    return [
        Row("Request CPU over loopback (uvicorn emulator): chats.list() vs raw httpx",
            us["sdk_limited"], us["raw"], "µs CPU", "<=", GOAL,
            note="client process only; in-memory limiter"),
    ]  # fmt: skip


def run(quick: bool = False) -> list[Row]:
    rows = asyncio.run(_in_process(quick))
    try:
        with emulator_server("--any-token", "--quota", "off", "--chats", "200") as url:
            rows += asyncio.run(_loopback(url, quick))
    except Exception as exc:
        rows.append(Row("Request CPU over loopback", None, None, "", unavailable=f"{exc!r}"[:100]))
    return rows
