"""aiohttp server integration: one client per application, opened and closed with it.

::

    from aiohttp import web
    from smartsender_async.contrib.aiohttp import SMARTSENDER, smartsender_ctx

    async def inbox(request: web.Request) -> web.Response:
        client = request.config_dict[SMARTSENDER]
        page = await client.chats.list(selector="unread")
        return web.json_response([chat.id for chat in page])

    app = web.Application()
    app.cleanup_ctx.append(smartsender_ctx())
    app.router.add_get("/inbox", inbox)

The client is created when the application starts, in its event loop, and closed when it
cleans up.  Every handler shares it, and with it the connection pool and the limiter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from smartsender_async.client import SmartSender

__all__ = ["SMARTSENDER", "get_smartsender", "smartsender_ctx"]

#: The application key the client is stored under: ``request.config_dict[SMARTSENDER]``
#: (``config_dict`` also finds it from sub-applications).
SMARTSENDER: web.AppKey[SmartSender] = web.AppKey("smartsender", SmartSender)


def smartsender_ctx(
    **client_kwargs: Any,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for ``app.cleanup_ctx.append(...)``: one :class:`SmartSender`
    for the application's life, stored as ``app[SMARTSENDER]``.

    ``client_kwargs`` go to :class:`SmartSender`; without them the token and base URL
    come from ``SMARTSENDER_TOKEN`` and ``SMARTSENDER_BASE_URL``.  The client is built at
    startup, not when this is called, so that it lives in the application's event loop.
    A limiter you pass in (``rate_limit=`` a shared ``RedisRateLimiter``) stays yours to
    close.
    """

    async def smartsender_client(app: web.Application) -> AsyncIterator[None]:
        client = SmartSender(**client_kwargs)
        app[SMARTSENDER] = client
        try:
            yield
        finally:
            await client.aclose()

    return smartsender_client


def get_smartsender(request: web.Request) -> SmartSender:
    """The application's client (looked up through sub-applications).

    Raises:
        RuntimeError: no application in the chain runs :func:`smartsender_ctx`.
    """
    client = request.config_dict.get(SMARTSENDER)
    if client is None:
        raise RuntimeError(
            "no SmartSender client on this application: add "
            "app.cleanup_ctx.append(smartsender_ctx()) from smartsender_async.contrib.aiohttp"
        )
    return client
