"""Memory: peak RSS while streaming 100,000 chats, above the process's own baseline.

Method.  The emulator runs in another process (uvicorn), so none of its memory counts.
The measurement runs in a fresh child Python process (``python -m benchmarks.memory``), so
nothing the other figures allocated (pydantic, msgspec, earlier pages) is in it.  The child
imports the SDK, makes a client and fetches one page (imports, connection pool and
generated decoders all exist by then), collects garbage and reads its RSS: the baseline.
A thread then samples RSS every 5 ms with psutil while ``client.chats.stream(concurrency=8)``
walks all 5,000 pages, counting items and keeping none; the figure is max(sample) −
baseline.  ``ru_maxrss`` is not used because it cannot be reset after the baseline.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
import time

from benchmarks._harness import Row

GOAL_MB = 5.0


def _child(url: str, chats: int) -> dict[str, float]:
    import anyio
    import psutil

    from benchmarks._server import chat_stream
    from smartsender_async import SmartSender

    proc = psutil.Process()
    result: dict[str, float] = {}

    async def main() -> None:
        async with SmartSender("bench-memory", base_url=url, rate_limit=None) as client:
            await client.chats.list()
            gc.collect()
            baseline = proc.memory_info().rss
            peak = baseline
            done = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, proc.memory_info().rss)
                    time.sleep(0.005)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            count = 0
            start = time.perf_counter()
            async for _chat in chat_stream(client, concurrency=8):
                count += 1
            elapsed = time.perf_counter() - start
            done.set()
            sampler.join()
            peak = max(peak, proc.memory_info().rss)
            result.update(
                baseline_mb=baseline / 2**20,
                peak_mb=peak / 2**20,
                items=count,
                seconds=elapsed,
            )

    anyio.run(main)
    return result


def run(quick: bool = False) -> list[Row]:
    from benchmarks._server import emulator_server

    chats = 10_000 if quick else 100_000
    with emulator_server("--any-token", "--quota", "off", "--chats", str(chats)) as url:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", url, str(chats)],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    if data["items"] != chats:
        raise RuntimeError(f"streamed {data['items']} chats, expected {chats}")
    growth = data["peak_mb"] - data["baseline_mb"]
    return [
        Row(
            f"Memory: peak RSS growth streaming {chats:,} chats",
            growth,
            GOAL_MB,
            "MB",
            "<=",
            1.0,
            note=(
                f"baseline RSS {data['baseline_mb']:.1f} MB, peak {data['peak_mb']:.1f} MB, "
                f"{data['seconds']:.0f} s; baseline column = the +5 MB budget"
            ),
            extra=data,
        )
    ]


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], int(sys.argv[2]))))
