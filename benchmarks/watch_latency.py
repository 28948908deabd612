"""Watch latency: from the emulator creating a message to ``client.watch()`` delivering it.

1,000 chats, the default quota (180/min, enforced by the emulator and the client's
limiter), the default budget (0.5) and interval (5 s), inbound churn on random chats.
Time is a fake clock shared by the emulator, the limiter and the watch, so an hour of
emulated time runs in seconds; each request takes ``REQUEST_TIME`` of emulated time (the
transport advances the clock by that much after the emulator answers).  The creation
time of a churn message is its exact arrival time in the emulator's Poisson process.

Bounds (issue 17): median <= interval/2 + one request time; p99 <= interval + two
request times.  The rows report ours against the bound (ratio <= 1 meets it).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harness import Row
from smartsender_async.testing import Emulator
from smartsender_async.watch import Watch
from tests._watch_harness import FakeTime

INTERVAL = 5.0
REQUEST_TIME = 0.05
CHATS = 1000
CHURN_PER_S = 0.2


def measure(minutes: float, seed: int = 1) -> dict[str, Any]:
    """Latencies (emulated seconds) of every churn message created in ``minutes``."""
    fake = FakeTime()
    emu = Emulator(
        seed=seed, chats=CHATS, messages_per_chat=3, churn_per_s=CHURN_PER_S, clock=fake.clock
    )
    created: dict[int, float] = {}
    original_due = emu._churn.due

    def due(now: float, chats: int) -> list[tuple[float, int, int]]:
        arrivals = original_due(now, chats)
        base = emu.store._next_message_id
        for k, (at, _, _) in enumerate(arrivals):
            created[base + k] = at
        return arrivals

    emu._churn.due = due  # type: ignore[method-assign]
    inner = emu.transport()

    class Timed(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            await fake.sleep(REQUEST_TIME)
            return response

    latencies: list[float] = []
    delivered: set[int] = set()
    window: list[float] = []

    async def scenario() -> int:
        async with fake.client(emu, transport=Timed()) as client:
            watch = Watch(client, interval=INTERVAL, clock=fake, sleep=fake.sleep)
            async with watch:
                # Measured: every churn message created from here to ``end``.  The watch
                # runs on until each of them is delivered (or one more minute has passed,
                # which would count the rest as lost), so the slowest are not cut off.
                began = fake()
                end = began + minutes * 60
                window[:] = [began, end]
                async for event in watch:
                    assert event.message is not None
                    mid = event.message.id
                    at = created.get(mid)
                    if at is not None and began <= at <= end:
                        assert mid not in delivered, f"message {mid} delivered twice"
                        delivered.add(mid)
                        latencies.append(fake() - at)
                    if fake() > end and (
                        fake() > end + 60
                        or all(m in delivered for m, t in created.items() if began <= t <= end)
                    ):
                        break
            return watch.requests

    requests = anyio.run(scenario)
    latencies.sort()
    began, end = window
    expected = {m for m, t in created.items() if began <= t <= end}
    return {
        "latencies": latencies,
        "lost": len(expected - delivered),
        "requests": requests,
        "emulated_s": minutes * 60,
        "locked": emu.stats.locked,
    }


def run(quick: bool = False) -> list[Row]:
    result = measure(10 if quick else 60)
    lat = result["latencies"]
    median = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    median_bound = INTERVAL / 2 + REQUEST_TIME
    p99_bound = INTERVAL + 2 * REQUEST_TIME
    note = (
        f"{len(lat)} messages, {CHATS} chats, {result['requests']} requests in "
        f"{result['emulated_s']:.0f} emulated s; request time {REQUEST_TIME} s"
    )
    problems = []
    if result["locked"]:
        problems.append(f"{result['locked']} x 423")
    if result["lost"]:
        problems.append(f"{result['lost']} messages never delivered")
    failed = "; ".join(problems) or None
    return [
        Row(
            "watch latency, median (s)",
            median,
            median_bound,
            "s",
            op="<=",
            goal=1.0,
            note=note + "; baseline = interval/2 + 1 request",
            failed=failed,
        ),
        Row(
            "watch latency, p99 (s)",
            p99,
            p99_bound,
            "s",
            op="<=",
            goal=1.0,
            note="baseline = interval + 2 requests",
            failed=failed,
        ),
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row.figure, round(row.ours or 0, 3), round(row.baseline or 0, 3), row.met, row.note)
