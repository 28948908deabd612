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

Both HTTP backends, in the same run: every row is measured on httpx and on httpx2 (when
installed), each SDK against the raw client of its own library, all candidates timed in
the same interleaved rounds.  A last row per figure compares the SDK on httpx2 with the
SDK on httpx (both on the SDK's pool; see docs/explanation/pool.md).
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
from smartsender_async._backend import Backend, installed
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

    http: Any = httpx

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.headers = [(b"content-type", b"application/json")]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self.http.Response(200, headers=self.headers, content=self.body)  # type: ignore[no-any-return]


def fixed_transport(backend: Backend, body: bytes) -> Any:
    """A :class:`FixedTransport` of ``backend``'s library."""
    if backend.name == "httpx":
        return FixedTransport(body)
    cls = type(
        "FixedTransport2",
        (backend.http.AsyncBaseTransport,),
        {
            "http": backend.http,
            "__init__": FixedTransport.__init__,
            "handle_async_request": FixedTransport.handle_async_request,
        },
    )
    return cls(body)


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


def _callers(base_url: str, transport: Any, backend: Backend) -> tuple[Any, ...]:
    http = backend.name
    sdk = SmartSender(TOKEN, base_url=base_url, transport=transport, rate_limit=None, http=http)
    sdk_limited = SmartSender(
        TOKEN, base_url=base_url, transport=transport, rate_limit=UNBOUNDED, http=http
    )
    raw = backend.http.AsyncClient(base_url=base_url, headers=HEADERS, transport=transport)
    parse = sdk_parser()
    model = Page[Chat]

    async def raw_list() -> Any:
        response = await raw.get("/chats", params={"page": 1, "limitation": 20})
        return structure(parse(response.content), model)

    return sdk, sdk_limited, raw, raw_list


async def _measure(
    url: str | None, quick: bool, *, rounds: int, number: int, clock: Any
) -> tuple[dict[str, dict[str, float]], list[Backend]]:
    """Best µs per call of sdk / sdk_limited / raw for every backend, all interleaved."""
    found = installed()
    callers = {}
    for backend in found:
        transport = None if url is not None else fixed_transport(backend, BODY[0])
        callers[backend.name] = _callers(url or "https://api.invalid/v1", transport, backend)
    candidates: dict[str, Callable[[], Awaitable[Any]]] = {}
    for name, (sdk, sdk_limited, _raw, raw_list) in callers.items():
        candidates[f"{name}:sdk"] = sdk.chats.list
        candidates[f"{name}:sdk_limited"] = sdk_limited.chats.list
        candidates[f"{name}:raw"] = raw_list
    try:
        best = await compare_async(candidates, rounds=rounds, number=number, clock=clock)
    finally:
        for sdk, sdk_limited, raw, _ in callers.values():
            await sdk.aclose()
            await sdk_limited.aclose()
            await raw.aclose()
    us: dict[str, dict[str, float]] = {b.name: {} for b in found}
    for key, value in best.items():
        name, what = key.split(":")
        us[name][what] = value * 1e6
    return us, found


BODY: list[bytes] = []


def _versus(figure: str, us: dict[str, dict[str, float]], unit: str, note: str) -> list[Row]:
    if "httpx2" not in us:
        return []
    return [
        Row(f"{figure} [httpx2 SDK vs httpx SDK]", us["httpx2"]["sdk_limited"],
            us["httpx"]["sdk_limited"], unit, note=note),
    ]  # fmt: skip


async def _in_process(quick: bool) -> list[Row]:
    if not BODY:
        BODY.append(page_bytes(chats_page()))
    us, found = await _measure(
        None,
        quick,
        rounds=3 if quick else 12,
        number=100 if quick else 400,
        clock=time.perf_counter,
    )
    note = "in-process transport, fixed 20-chat page"
    figure = "Request overhead: chats.list() vs raw httpx + parse + decode"
    rows = []
    for backend in found:
        b = us[backend.name]
        tag = f" [{backend.name}]"
        rows += [
            Row(figure + tag, b["sdk_limited"], b["raw"], "µs", "<=", GOAL,
                note=note + f"; default retry, in-memory limiter; raw = raw {backend.name}"),
            Row(figure + tag, b["sdk"], b["raw"], "µs", "<=", GOAL,
                note=note + f"; default retry, rate_limit=None; raw = raw {backend.name}"),
        ]  # fmt: skip
    return rows + _versus(figure, us, "µs", note + "; in-memory limiter, both")


async def _loopback(url: str, quick: bool) -> list[Row]:
    us, found = await _measure(
        url, quick, rounds=3 if quick else 8, number=50 if quick else 200, clock=time.process_time
    )
    figure = "Request CPU over loopback (uvicorn emulator): chats.list() vs raw httpx"
    rows = [
        Row(f"{figure} [{backend.name}]", us[backend.name]["sdk_limited"],
            us[backend.name]["raw"], "µs CPU", "<=", GOAL,
            note=f"client process only; in-memory limiter; raw = raw {backend.name}"
            + "; SDK pool (_pool.py)")
        for backend in found
    ]  # fmt: skip
    return rows + _versus(figure, us, "µs CPU", "client process only; pool decision row")


def run(quick: bool = False) -> list[Row]:
    rows = asyncio.run(_in_process(quick))
    try:
        with emulator_server("--any-token", "--quota", "off", "--chats", "200") as url:
            rows += asyncio.run(_loopback(url, quick))
    except Exception as exc:
        rows.append(Row("Request CPU over loopback", None, None, "", unavailable=f"{exc!r}"[:100]))
    return rows
