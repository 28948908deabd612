"""Streaming figures, against the emulator under uvicorn in another process.

Latency-bound: 50 pages of 20 chats with 50 ms added to every response, no quota, at
concurrency 1, 4, 8 and 16.  The ideal is ``L * (1 + ceil(49 / c))``: page 1 alone (it
says how many pages there are), then windows of ``c`` pages in flight.

Quota-bound: the emulator enforces Smart Sender's quota (180 requests per 60 s per token)
and the client uses its default limiter (``RateLimit()``).  A stream at concurrency 4 runs
for one quota period; the figure is requests answered in that period ÷ the quota, and the
number of 423s (the server's lock) must be 0.  The steady rate after the initial burst is
reported in the note (the default limiter aims at 176 per 61 s: 96 % of the quota, leaving
a margin for network delay).  ``--quick`` runs a 10 s window instead (inflated by the burst).
"""

from __future__ import annotations

import math
import time

import anyio
import httpx

from benchmarks._harness import Row
from benchmarks._server import CountingTransport, chat_stream, emulator_server
from smartsender_async import SmartSender

LATENCY = 0.050
PAGES = 50
LATENCY_GOAL = 1.10
QUOTA_GOAL = 0.95


class _Timed(CountingTransport):
    """Counts statuses and records when each 200 arrived."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        super().__init__(inner)
        self.times: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if response.status_code == 200:
            self.times.append(time.monotonic())
        return response


async def _latency(url: str, concurrencies: tuple[int, ...]) -> list[Row]:
    rows = []
    async with SmartSender("bench-latency", base_url=url, rate_limit=None) as client:
        await client.chats.list()  # connect, warm up
        for c in concurrencies:
            best = cpu = math.inf
            for _ in range(2):
                count = 0
                start, start_cpu = time.perf_counter(), time.process_time()
                async for _chat in chat_stream(client, concurrency=c):
                    count += 1
                took = time.perf_counter() - start
                if took < best:
                    best, cpu = took, time.process_time() - start_cpu
                assert count == PAGES * 20, count
            ideal = LATENCY * (1 + math.ceil((PAGES - 1) / c))
            rows.append(
                Row(
                    f"Latency-bound stream, 50 pages, concurrency {c}",
                    best * 1000,
                    ideal * 1000,
                    "ms",
                    "<=",
                    LATENCY_GOAL,
                    note=f"vs L·(1+⌈49/c⌉), L = 50 ms; client CPU {cpu / PAGES * 1000:.2f} ms/page",
                    extra={"client_cpu_s": cpu},
                )
            )
    return rows


async def _quota(url: str, window: float) -> Row:
    transport = _Timed(httpx.AsyncHTTPTransport())
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
        rows += anyio.run(_latency, url, (4, 16) if quick else (1, 4, 8, 16))
    with emulator_server("--any-token", "--quota", "180/60", "--chats", "100000") as url:
        rows.append(anyio.run(_quota, url, 10.0 if quick else 60.0))
    return rows
