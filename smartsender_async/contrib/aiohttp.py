"""aiohttp server integration: one client per application, opened and closed with it.

```python
from aiohttp import web
from smartsender_async.contrib.aiohttp import SMARTSENDER, smartsender_ctx

async def inbox(request: web.Request) -> web.Response:
    client = request.config_dict[SMARTSENDER]
    page = await client.chats.list(selector="unread")
    return web.json_response([chat.id for chat in page])

app = web.Application()
app.cleanup_ctx.append(smartsender_ctx())
app.router.add_get("/inbox", inbox)
```

The client is created when the application starts, in its event loop, and closed when it
cleans up.  Every handler shares it, and with it the connection pool and the limiter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from smartsender_async.client import SmartSender

__all__ = ["SMARTSENDER", "get_smartsender", "smartsender_ctx"]

#: The application key the client is stored under: `request.config_dict[SMARTSENDER]`
#: (`config_dict` also finds it from sub-applications).
SMARTSENDER: web.AppKey[SmartSender] = web.AppKey("smartsender", SmartSender)


def smartsender_ctx(
    **client_kwargs: Any,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for `app.cleanup_ctx.append(...)`: one
    [`SmartSender`][smartsender_async.SmartSender] for the application's life, stored as
    `app[SMARTSENDER]`.

    The client is built at startup, not when this is called, so that it lives in the
    application's event loop, and closed at cleanup.  A limiter you pass in (`rate_limit=`
    a shared `RedisRateLimiter`) stays yours to close.

    Args:
        **client_kwargs: passed to `SmartSender`; without them the token and base URL come
            from `SMARTSENDER_TOKEN` and `SMARTSENDER_BASE_URL`.

    Returns:
        The cleanup context, an async generator function of the application.

    Raises:
        ConfigurationError: from `SmartSender`, at startup: no token, or a bad `base_url`.

    Example:
        ```python
        app = web.Application()
        app.cleanup_ctx.append(smartsender_ctx(observer=metrics))
        ```
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

    Args:
        request: the request being handled.

    Returns:
        The client `smartsender_ctx` opened, from `request.config_dict`.

    Raises:
        RuntimeError: no application in the chain runs `smartsender_ctx`.

    Example:
        ```python
        async def inbox(request: web.Request) -> web.Response:
            page = await get_smartsender(request).chats.list(selector="unread")
            return web.json_response([chat.id for chat in page])
        ```
    """
    client = request.config_dict.get(SMARTSENDER)
    if client is None:
        raise RuntimeError(
            "no SmartSender client on this application: add "
            "app.cleanup_ctx.append(smartsender_ctx()) from smartsender_async.contrib.aiohttp"
        )
    return client
