"""Multi-tenant: one process driving 200 tokens at full rate, each with its own quota.

The emulator (another process, uvicorn) gives every bearer token its own 180/60 s quota.
The process runs one ``SmartSender`` per token, all sharing one ``InMemoryRateLimiter``
(one quota per token digest), each tenant calling ``chats.list()`` back to back for the
whole window, so its limiter is what paces it.  All tenants start at the same instant, so
their limiters fire in step: every emission interval (0.35 s) 200 requests leave at once.

Three ways to hold the connections are measured, one after the other:

* **one pool per token**: each ``SmartSender`` on its own transport, as
  ``SmartSender(token)`` builds it, so each token has its own small connection pool.  The
  clients share one SSL context, because building one per client costs ~17 ms and ~0.9 MB
  each (200 clients: 3 s and 177 MB).
* **one shared pool**: every ``SmartSender`` on one ``httpx.AsyncClient`` built on
  :func:`smartsender_async.pooled_transport`, allowed a connection per tenant.
* **one shared httpcore pool**, for the record (no goal): the same on httpx's stock
  transport.  httpcore 1.0's pool re-scans all its connections (a ``poll()`` per idle
  socket, and a count of every connection per idle one) each time a request starts or a
  response closes, so its cost per request grows with the pool.

All three are measured on httpx and on httpx2 (when installed), in the same run: on
httpx2 "one pool per token" is what ``SmartSender(token, http="httpx2")`` builds, "one
shared pool" one ``httpx2.AsyncClient`` on ``pooled_transport(http="httpx2")`` (the SDK's
pool over httpcore2), and the record row httpx2's stock transport (httpcore2's pool).  The
last rows compare httpcore2's own pool with the SDK's, for docs/explanation/pool.md.

Figures: tenants that kept their rate (answered ≥ 95 % of what the default limiter admits
in the window: ``burst + window / T``) with no 423, and client-process CPU per request
against a single raw httpx caller's CPU per request over the same loopback, measured
just before.  The notes give the emulator's own CPU per request (it is not the limit).
"""

from __future__ import annotations

import functools
import statistics
import time

import anyio
import httpx
import psutil  # type: ignore[import-untyped,unused-ignore]

from benchmarks._harness import Row
from benchmarks._server import CountingTransport, counting_transport, emulator_process
from smartsender_async import RateLimit, SmartSender, pooled_transport
from smartsender_async._backend import get_backend, installed
from smartsender_async._convert import loads, structure
from smartsender_async.models import Chat, Page
from smartsender_async.ratelimit import InMemoryRateLimiter

KEPT = 0.95


async def _raw_cpu(url: str, number: int, http: str = "httpx") -> float:
    async def get(i: int) -> httpx.Response:
        # A fresh token every 100 requests keeps the raw caller under its quota.
        headers = {"Authorization": f"Bearer raw-{i // 100}"}
        response = await raw.get("/chats", params={"page": 1, "limitation": 20}, headers=headers)
        response.raise_for_status()
        return response

    async with get_backend(http).http.AsyncClient(base_url=url) as raw:
        for i in range(10):
            await get(1_000_000 + i)
        start = time.process_time()
        for i in range(number):
            structure(loads((await get(i)).content), Page[Chat])
        return (time.process_time() - start) / number


class _Result:
    def __init__(self, counts: list[int], statuses: dict[int, int], cpu: float, server: float):
        self.counts = counts
        self.statuses = statuses
        self.cpu = cpu  # client-process CPU seconds over the window
        self.server = server  # emulator-process CPU seconds over the window


async def _tenants(
    url: str, server: psutil.Process, tenants: int, window: float, *, setup: str, http: str
) -> _Result:
    """``setup``: ``own`` (a client per token, as ``SmartSender(token)`` builds it),
    ``shared`` (one client on :func:`pooled_transport`) or ``httpcore`` (one client on
    httpx's stock transport, httpcore's pool)."""
    limiter = InMemoryRateLimiter(RateLimit())
    counts = [0] * tenants
    transports: list[CountingTransport] = []
    lib = get_backend(http).http
    limits = lib.Limits(max_connections=tenants + 16, max_keepalive_connections=tenants + 16)
    stock = lib.AsyncHTTPTransport(limits=limits)
    inner = stock if setup == "httpcore" else pooled_transport(http=http, limits=limits)
    pooled = counting_transport(inner)
    shared = lib.AsyncClient(transport=pooled, timeout=30.0)

    def client(i: int) -> SmartSender:
        token = f"tenant-{i:03d}"
        if setup != "own":
            return SmartSender(token, base_url=url, http_client=shared, rate_limit=limiter)
        # What SmartSender(token) builds, wrapped to count statuses.
        transport = counting_transport(pooled_transport(http=http))
        transports.append(transport)
        return SmartSender(token, base_url=url, transport=transport, rate_limit=limiter)

    async with shared:
        clients = [client(i) for i in range(tenants)]
        deadline = 0.0

        async def tenant(i: int) -> None:
            client = clients[i]
            while time.monotonic() < deadline:
                await client.chats.list()
                counts[i] += 1

        server_cpu = _cpu(server)
        cpu = time.process_time()
        deadline = time.monotonic() + window
        async with anyio.create_task_group() as tg:
            for i in range(tenants):
                tg.start_soon(tenant, i)
        cpu = time.process_time() - cpu
        server_cpu = _cpu(server) - server_cpu
        for each in clients:
            await each.aclose()
    statuses: dict[int, int] = {}
    for counting in [pooled, *transports]:
        for status, n in counting.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return _Result(counts, statuses, cpu, server_cpu)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _rows(label: str, result: _Result, raw: float, window: float, goal: bool) -> list[Row]:
    rate = RateLimit()
    admitted = rate.burst + int(window / rate.emission_interval)
    counts = result.counts
    tenants, total = len(counts), sum(counts)
    kept = sum(1 for c in counts if c >= KEPT * admitted)
    locked = result.statuses.get(423, 0)
    return [
        Row(
            f"Multi-tenant, {label}: {tenants} tokens at full rate, {window:.0f} s: "
            "tokens that kept rate",
            kept,
            tenants,
            "tokens",
            ">=" if goal else None,
            1.0 if goal else None,
            note=(
                f"min/median/max per token {min(counts)}/{statistics.median(counts):.0f}"
                f"/{max(counts)} of {admitted} admitted; 423s: {locked}; "
                f"{total / window:.0f} req/s"
            ),
            failed=f"{locked} responses were 423" if locked and goal else None,
            extra={"counts": counts, "statuses": result.statuses, "admitted": admitted},
        ),
        Row(
            f"Multi-tenant, {label}: client CPU per request vs one raw httpx caller",
            result.cpu / max(total, 1) * 1e6,
            raw * 1e6,
            "µs CPU",
            note=(
                f"client process {result.cpu / window:.2f} cores; emulator "
                f"{result.server / max(total, 1) * 1e6:.0f} µs CPU per request, "
                f"{result.server / window:.2f} cores"
            ),
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    tenants, window = (20, 10.0) if quick else (200, 30.0)
    names = [backend.name for backend in installed()]
    setups = [(setup, name) for name in names for setup in ("own", "shared", "httpcore")]
    results = {}
    raw: dict[str, float] = {}
    for setup, http in setups:
        # A fresh emulator each time: one run's tokens must not carry quota state over.
        with emulator_process("--any-token", "--chats", "2000") as (url, proc):
            server = psutil.Process(proc.pid)
            if setup == "own":
                raw[http] = anyio.run(_raw_cpu, url, 50 if quick else 200, http)
            walk = functools.partial(_tenants, url, server, tenants, window, setup=setup, http=http)
            results[setup, http] = anyio.run(walk)
    pool = tenants + 16
    rows = []
    for http in names:
        stock = "httpcore" if http == "httpx" else "httpcore2"
        rows += [
            *_rows(f"one pool per token [{http}]", results["own", http], raw[http], window, True),
            *_rows(f"one shared pool of {pool} [{http}]", results["shared", http], raw[http],
                   window, True),
            *_rows(f"one shared {stock} pool of {pool} [{http}]", results["httpcore", http],
                   raw[http], window, False),
        ]  # fmt: skip
    for http in names:
        stock = "httpcore" if http == "httpx" else "httpcore2"
        ours, base = results["httpcore", http], results["shared", http]
        rows.append(
            Row(
                f"Multi-tenant, one shared pool of {pool} [{http}]: client CPU per request, "
                f"{stock}'s own pool vs the SDK's pool",
                ours.cpu / max(sum(ours.counts), 1) * 1e6,
                base.cpu / max(sum(base.counts), 1) * 1e6,
                "µs CPU",
                note="pool decision row (docs/explanation/pool.md): within 5 % is ≤ 1.05",
            )
        )
    if "httpx2" in names:
        ours, base = results["shared", "httpx2"], results["shared", "httpx"]
        rows.append(
            Row(
                f"Multi-tenant, one shared pool of {pool}: client CPU per request, "
                "httpx2 vs httpx (both on the SDK's pool)",
                ours.cpu / max(sum(ours.counts), 1) * 1e6,
                base.cpu / max(sum(base.counts), 1) * 1e6,
                "µs CPU",
            )
        )
    return rows
