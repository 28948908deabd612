"""A watch beside a second "process" on one token through the Redis limiter: 0 x 423.

Real time (the Redis limiter paces by the Redis server's clock) on a scaled quota,
30 requests per 2 s, enforced by the emulator; two limiter objects stand for two
processes sharing the token through one Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import anyio
import pytest

from smartsender_async.ratelimit import RateLimit
from smartsender_async.testing import Emulator
from tests._redis_server import redis_server

pytest.importorskip("redis")

QUOTA = RateLimit(30, 2.0)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


def test_watch_beside_another_process_on_the_redis_limiter_zero_423(redis_url: str) -> None:
    from smartsender_async.ratelimit_redis import RedisRateLimiter

    emu = Emulator(seed=12, chats=60, messages_per_chat=3, rate_limit=(30, 2.0))
    chats = emu.chat_ids()
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    sent: list[int] = []
    got: list[int] = []

    async def scenario() -> None:
        mine = RedisRateLimiter(redis_url, QUOTA, prefix=prefix)
        theirs = RedisRateLimiter(redis_url, QUOTA, prefix=prefix)
        async with emu.client(rate_limit=mine) as client, emu.client(rate_limit=theirs) as other:
            stop = anyio.Event()

            async def busy() -> None:
                i = 0
                while not stop.is_set():
                    await other.chats.get(chats[i % len(chats)])
                    i += 1

            async with anyio.create_task_group() as tg:
                tg.start_soon(busy)
                async with client.watch(interval=0.2) as events:
                    for k in range(8):
                        sent.append(emu.add_inbound_message(chats[k * 5], f"m{k}")["id"])
                    async for event in events:
                        assert event.message is not None
                        got.append(event.message.id)
                        if set(got) >= set(sent):
                            break
                stop.set()
        await mine.aclose()
        await theirs.aclose()

    anyio.run(scenario)
    assert emu.stats.locked == 0
    assert sorted(got) == sorted(sent)
    assert emu.stats.by_endpoint["GET /chats/{chatId}"] > 10  # the other process was busy
