"""Streaming figures, against the emulator under uvicorn in another process.

Latency-bound: 50 pages of 20 chats with 50 ms added to every response, no quota, at
concurrency 1, 4, 8 and 16.  The ideal is ``L`` per round trip: page 1 alone (it says how
many pages there are), then ``ceil(49 / c)`` windows of ``c`` pages in flight, so
``L * (1 + ceil(49 / c))``.  (``chats.stream`` re-reads the head only after a pass that saw
the list move; nothing moves here, so it makes no extra trip.  Should it ever rescan, the
trip counts against it and the note says so.)  A second row compares the stream with raw
``httpx`` doing the same round trips by hand (``asyncio.gather`` per window, the same parse
and decode), timed in interleaved rounds: on a machine where client and server share two
cores, every window also pays ``c`` times the per-request CPU, which no scheduler can hide,
so that row is what the SDK itself adds.

Both backends, in the same run: the latency-bound rows are measured on httpx and on httpx2
(when installed), ``SmartSender(..., http=name)`` against the raw client of the same
library, one after the other on the same server.

Quota-bound: the emulator enforces Smart Sender's quota (180 requests per 60 s per token)
and the client uses its default limiter (``RateLimit()``).  A stream at concurrency 4 runs
for one quota period; the figure is requests answered in that period ÷ the quota, and the
number of 423s (the server's lock) must be 0.  The steady rate after the initial burst is
reported in the note (the default limiter aims at 176 per 61 s: 96 % of the quota, leaving
a margin for network delay).  ``--quick`` runs a 10 s window instead (inflated by the burst).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import anyio
import httpx

from benchmarks._harness import Row
from benchmarks._server import TimedTransport, chat_stream, emulator_server
from smartsender_async import SmartSender
from smartsender_async._backend import get_backend, installed
from smartsender_async._convert import loads, structure
from smartsender_async.models import Chat, Page

LATENCY = 0.050
PAGES = 50
LATENCY_GOAL = 1.10
QUOTA_GOAL = 0.95


async def _raw_walk(raw: Any, c: int, rescans: int) -> int:
    """The stream's round trips by hand: page 1, windows of ``c``, and page 1 again per
    head rescan the stream made."""

    async def page(n: int) -> Page[Chat]:
        response = await raw.get("/chats", params={"page": n, "limitation": 20})
        response.raise_for_status()
        return structure(loads(response.content), Page[Chat])

    items = len((await page(1)).items)
    for first in range(2, PAGES + 1, c):
        window = range(first, min(first + c, PAGES + 1))
        items += sum(len(p.items) for p in await asyncio.gather(*map(page, window)))
    for _ in range(rescans):
        await page(1)
    return items


async def _latency(
    url: str, concurrencies: tuple[int, ...], rounds: int, http: str = "httpx"
) -> list[Row]:
    rows = []
    headers = {"Authorization": "Bearer bench-raw"}
    tag = f" [{http}]"
    async with (
        SmartSender("bench-latency", base_url=url, rate_limit=None, http=http) as client,
        get_backend(http).http.AsyncClient(base_url=url, headers=headers) as raw,
    ):
        await client.chats.list()  # connect, warm up
        await raw.get("/chats")
        for c in concurrencies:
            best = best_raw = cpu = math.inf
            trips = 0
            for _ in range(rounds):  # interleaved: a burst of load hits both sides
                count = 0
                start, start_cpu = time.perf_counter(), time.process_time()
                stream = chat_stream(client, concurrency=c)
                async for _chat in stream:
                    count += 1
                took = time.perf_counter() - start
                if took < best:
                    best, cpu = took, time.process_time() - start_cpu
                assert count == PAGES * 20, count
                rescans = getattr(stream, "rescans", 0)
                assert getattr(stream, "requests", PAGES + rescans) == PAGES + rescans
                trips = 1 + math.ceil((PAGES - 1) / c)
                start = time.perf_counter()
                assert await _raw_walk(raw, c, rescans) == PAGES * 20
                best_raw = min(best_raw, time.perf_counter() - start)
            ideal = LATENCY * trips
            formula = "L·(1+⌈49/c⌉)" + (
                f", the stream made {rescans} head rescan(s)" if rescans else ""
            )
            rows.append(
                Row(
                    f"Latency-bound stream, 50 pages, concurrency {c}{tag}",
                    best * 1000,
                    ideal * 1000,
                    "ms",
                    "<=",
                    LATENCY_GOAL,
                    note=(
                        f"vs {formula} (page 1, then windows of c), L = 50 ms; "
                        f"raw {http} {best_raw / ideal:.2f}×; client CPU "
                        f"{cpu / PAGES * 1000:.2f} ms/page"
                    ),
                    extra={"client_cpu_s": cpu, "round_trips": trips, "raw_s": best_raw},
                )
            )
            rows.append(
                Row(
                    f"Latency-bound stream, concurrency {c}, vs raw {http} in the same round "
                    f"trips{tag}",
                    best * 1000,
                    best_raw * 1000,
                    "ms",
                    "<=",
                    LATENCY_GOAL,
                    note="asyncio.gather per window, same parse and decode",
                )
            )
    return rows


async def _quota(url: str, window: float) -> Row:
    transport = TimedTransport(httpx.AsyncHTTPTransport())
    async with SmartSender("bench-quota", base_url=url, transport=transport) as client:
        with anyio.move_on_after(window + 5):
            async for _chat in chat_stream(client, concurrency=4):
                if transport.times and time.monotonic() - transport.times[0] >= window:
                    break
    times = transport.times
    start = times[0]
    in_window = sum(1 for t in times if t - start < window)
    quota = 180 * window / 60
    steady = times[5:]
    steady_rate = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 2 else math.nan
    locked = transport.statuses.get(423, 0)
    return Row(
        f"Quota-bound stream: answered in {window:.0f} s ÷ quota (180/60 s)",
        in_window,
        quota,
        "req",
        ">=",
        QUOTA_GOAL,
        note=f"423s: {locked}; steady rate {steady_rate * 60:.1f}/min",
        failed=f"{locked} responses were 423" if locked else None,
        extra={"423": locked, "steady_per_minute": steady_rate * 60},
    )


def run(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    args = ("--any-token", "--quota", "off", "--chats", str(PAGES * 20))
    with emulator_server(*args, "--latency-ms", str(LATENCY * 1000)) as url:
        for backend in installed():
            rows += anyio.run(
                _latency, url, (4, 16) if quick else (1, 4, 8, 16), 1 if quick else 3, backend.name
            )
    with emulator_server("--any-token", "--quota", "180/60", "--chats", "100000") as url:
        rows.append(anyio.run(_quota, url, 10.0 if quick else 60.0))
    return rows
