"""arq worker integration: one client per worker process, one quota for all workers.

::

    from smartsender_async.contrib.arq import get_smartsender, on_shutdown, on_startup

    async def send_reminder(ctx, contact_id: int, text: str) -> int:
        message = await get_smartsender(ctx).contacts.send(contact_id, text)
        return message.id

    class WorkerSettings:
        functions = [send_reminder]
        on_startup = on_startup
        on_shutdown = on_shutdown

Each worker process runs one event loop; :func:`on_startup` runs in it before the first
job and :func:`on_shutdown` after the last, so the client lives and dies in that loop.
Its limiter is a :class:`~smartsender_async.ratelimit_redis.RedisRateLimiter` on the
worker's own Redis connection (``ctx["redis"]``), keyed by a digest of the token: every
worker of every host that uses the same Redis and token shares one quota and one lock
gate, so adding workers never adds requests per minute.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from smartsender_async.client import SmartSender
from smartsender_async.ratelimit import DEFAULT_RATE_LIMIT, RateLimit

__all__ = ["CTX_KEY", "get_smartsender", "on_shutdown", "on_startup", "smartsender_hooks"]

#: The worker ``ctx`` key the client is kept under.
CTX_KEY = "smartsender"

#: An arq ``on_startup`` / ``on_shutdown`` hook.
Hook = Callable[[dict[Any, Any]], Awaitable[None]]


def smartsender_hooks(
    *,
    rate: RateLimit = DEFAULT_RATE_LIMIT,
    redis_url: str | None = None,
    prefix: str = "smartsender:rl:",
    **client_kwargs: Any,
) -> tuple[Hook, Hook]:
    """Make an ``(on_startup, on_shutdown)`` pair for arq's ``WorkerSettings``.

    Args:
        rate: the quota per token, the same in every worker (Smart Sender's by default).
        redis_url: where the shared limiter keeps its state; by default the worker's own
            Redis connection (``ctx["redis"]``), so nothing more to configure.
        prefix: the limiter's Redis key prefix.
        client_kwargs: passed to :class:`SmartSender` (``token``, ``base_url``,
            ``retry``, ``observer``, ...); the token and base URL default to the
            ``SMARTSENDER_TOKEN`` and ``SMARTSENDER_BASE_URL`` environment variables.
            ``rate_limit`` is not accepted: the hooks build the shared limiter.

    To run your own start-up code too, call the hooks from yours::

        startup, shutdown = smartsender_hooks(rate=RateLimit(120, 60.0))

        async def on_startup(ctx):
            await startup(ctx)
            ctx["db"] = await open_db()
    """
    if "rate_limit" in client_kwargs:
        raise TypeError(
            "smartsender_hooks builds the shared RedisRateLimiter itself; configure it with "
            "rate= and redis_url= instead of rate_limit="
        )

    async def startup(ctx: dict[Any, Any]) -> None:
        from smartsender_async.ratelimit_redis import RedisRateLimiter

        if CTX_KEY in ctx:
            raise RuntimeError("this worker already has a SmartSender client in its ctx")
        where = redis_url if redis_url is not None else ctx.get("redis")
        if where is None:
            raise RuntimeError(
                "no Redis for the shared rate limiter: run under an arq worker (which puts "
                "its connection in ctx['redis']) or pass smartsender_hooks(redis_url=...)"
            )
        limiter = RedisRateLimiter(where, rate, prefix=prefix)
        try:
            ctx[CTX_KEY] = SmartSender(rate_limit=limiter, **client_kwargs)
        except BaseException:
            await limiter.aclose()
            raise

    async def shutdown(ctx: dict[Any, Any]) -> None:
        client = ctx.pop(CTX_KEY, None)
        if not isinstance(client, SmartSender):
            return
        limiter = client.rate_limiter
        try:
            await client.aclose()
        finally:
            # The client does not close a limiter it was given; this one is ours.
            if limiter is not None:
                await limiter.aclose()

    return startup, shutdown


def get_smartsender(ctx: dict[Any, Any]) -> SmartSender:
    """The worker's client, from a job's ``ctx``.

    Raises:
        RuntimeError: the worker was not started with these hooks.
    """
    client = ctx.get(CTX_KEY)
    if not isinstance(client, SmartSender):
        raise RuntimeError(
            "no SmartSender client in the worker ctx: set on_startup/on_shutdown in your "
            "WorkerSettings to the hooks of smartsender_async.contrib.arq"
        )
    return client


#: Default hooks: Smart Sender's quota, token and base URL from the environment.
on_startup, on_shutdown = smartsender_hooks()
