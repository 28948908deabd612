"""Multi-tenant: one process driving 200 tokens at full rate, each with its own quota.

The emulator (another process, uvicorn) gives every bearer token its own 180/60 s quota.
The process runs one ``SmartSender`` per token, the way a multi-tenant worker should: all
sharing one ``httpx.AsyncClient`` (one connection pool) and one ``InMemoryRateLimiter``
(one quota per token digest), each tenant calling ``chats.list()`` back to back for the
whole window, so its limiter is what paces it.

Figures: tenants that kept their rate (answered ≥ 95 % of what the default limiter admits
in the window: ``burst + window / T``) with no 423, and client-process CPU per request
against a single raw httpx caller's CPU per request over the same loopback, measured
just before.
"""

from __future__ import annotations

import time

import anyio
import httpx

from benchmarks._harness import Row
from benchmarks._server import CountingTransport, emulator_server
from smartsender_async import RateLimit, SmartSender
from smartsender_async._convert import loads, structure
from smartsender_async.models import Chat, Page
from smartsender_async.ratelimit import InMemoryRateLimiter

KEPT = 0.95


async def _raw_cpu(url: str, number: int) -> float:
    async def get(i: int) -> httpx.Response:
        # A fresh token every 100 requests keeps the raw caller under its quota.
        headers = {"Authorization": f"Bearer raw-{i // 100}"}
        response = await raw.get("/chats", params={"page": 1, "limitation": 20}, headers=headers)
        response.raise_for_status()
        return response

    async with httpx.AsyncClient(base_url=url) as raw:
        for i in range(10):
            await get(1_000_000 + i)
        start = time.process_time()
        for i in range(number):
            structure(loads((await get(i)).content), Page[Chat])
        return (time.process_time() - start) / number


async def _tenants(
    url: str, tenants: int, window: float
) -> tuple[list[int], dict[int, int], float]:
    rate = RateLimit()
    limiter = InMemoryRateLimiter(rate)
    transport = CountingTransport(httpx.AsyncHTTPTransport(limits=httpx.Limits(
        max_connections=tenants + 16, max_keepalive_connections=tenants + 16)))  # fmt: skip
    counts = [0] * tenants
    async with httpx.AsyncClient(transport=transport, timeout=30.0) as shared:
        clients = [
            SmartSender(f"tenant-{i:03d}", base_url=url, http_client=shared, rate_limit=limiter)
            for i in range(tenants)
        ]
        deadline = 0.0

        async def tenant(i: int) -> None:
            client = clients[i]
            while time.monotonic() < deadline:
                await client.chats.list()
                counts[i] += 1

        cpu = time.process_time()
        deadline = time.monotonic() + window
        async with anyio.create_task_group() as tg:
            for i in range(tenants):
                tg.start_soon(tenant, i)
        cpu = time.process_time() - cpu
        for client in clients:
            await client.aclose()
    return counts, transport.statuses, cpu


def run(quick: bool = False) -> list[Row]:
    tenants, window = (20, 10.0) if quick else (200, 30.0)
    rate = RateLimit()
    admitted = rate.burst + int(window / rate.emission_interval)
    with emulator_server("--any-token", "--chats", "2000") as url:
        raw = anyio.run(_raw_cpu, url, 50 if quick else 200)
        counts, statuses, cpu = anyio.run(_tenants, url, tenants, window)
    total = sum(counts)
    kept = sum(1 for c in counts if c >= KEPT * admitted)
    locked = statuses.get(423, 0)
    return [
        Row(
            f"Multi-tenant: {tenants} tokens at full rate, {window:.0f} s: tokens that kept rate",
            kept,
            tenants,
            "tokens",
            ">=",
            1.0,
            note=(
                f"min/median/max per token {min(counts)}/{sorted(counts)[len(counts) // 2]}"
                f"/{max(counts)} of {admitted} admitted; 423s: {locked}; "
                f"{total / window:.0f} req/s"
            ),
            failed=f"{locked} responses were 423" if locked else None,
            extra={"counts": counts, "statuses": statuses, "admitted": admitted},
        ),
        Row(
            f"Multi-tenant: client CPU per request ({tenants} tokens) vs one raw httpx caller",
            cpu / max(total, 1) * 1e6,
            raw * 1e6,
            "µs CPU",
            note="client process only, loopback",
        ),
    ]
