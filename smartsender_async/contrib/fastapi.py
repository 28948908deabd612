"""FastAPI (and Starlette) integration: one client per app, handed to handlers.

```python
from fastapi import FastAPI
from smartsender_async.contrib.fastapi import SmartSenderDependency, smartsender_lifespan

app = FastAPI(lifespan=smartsender_lifespan)

@app.get("/inbox")
async def inbox(client: SmartSenderDependency) -> list[int]:
    return [chat.id for chat in await client.chats.list(selector="unread")]
```

The lifespan opens the client on startup, in the server's event loop, and closes it on
shutdown.  Every request of the app (every handler, every concurrent request) shares that
one client, so they share its connection pool and its rate limiter.  A client created per
request would leak connections and give every request a fresh quota of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from smartsender_async.client import SmartSender

__all__ = ["STATE_KEY", "SmartSenderDependency", "get_smartsender", "smartsender_lifespan"]

#: The name under which the client is kept in the lifespan state and on `app.state`.
STATE_KEY = "smartsender"


@contextlib.asynccontextmanager
async def smartsender_lifespan(
    app: Starlette, /, **client_kwargs: Any
) -> AsyncIterator[dict[str, Any]]:
    """Open one [`SmartSender`][smartsender_async.SmartSender] for `app`'s life; close it
    when the app shuts down.

    Pass it as the app's lifespan (`FastAPI(lifespan=smartsender_lifespan)`, with
    `functools.partial(smartsender_lifespan, rate_limit=...)` to configure the client), or
    enter it inside your own lifespan and yield the state it gives.  The client is also set
    as `app.state.smartsender`.  A limiter you pass in (`rate_limit=` a `RedisRateLimiter`
    shared by several server processes) stays yours to close.

    Args:
        app: the FastAPI or Starlette application.
        **client_kwargs: passed to `SmartSender`; without them the token and base URL come
            from `SMARTSENDER_TOKEN` and `SMARTSENDER_BASE_URL`.

    Yields:
        The lifespan state: `{STATE_KEY: client}`, so mounted sub-apps see the client too.

    Raises:
        ConfigurationError: from `SmartSender`, at startup: no token, or a bad `base_url`.

    Example:
        ```python
        @asynccontextmanager
        async def lifespan(app: FastAPI):
            async with smartsender_lifespan(app, observer=metrics) as state:
                yield state
        ```
    """
    client = SmartSender(**client_kwargs)
    setattr(app.state, STATE_KEY, client)
    try:
        yield {STATE_KEY: client}
    finally:
        if getattr(app.state, STATE_KEY, None) is client:
            delattr(app.state, STATE_KEY)
        await client.aclose()


def get_smartsender(connection: HTTPConnection) -> SmartSender:
    """The app's client, for `Depends(get_smartsender)` (HTTP and websocket handlers).

    Args:
        connection: the request (or websocket) being handled.

    Returns:
        The client opened by `smartsender_lifespan`, from the lifespan state or from
        `app.state.smartsender`.

    Raises:
        RuntimeError: the app does not run `smartsender_lifespan`.

    Example:
        ```python
        @app.get("/inbox")
        async def inbox(client: SmartSender = Depends(get_smartsender)) -> list[int]:
            return [chat.id for chat in await client.chats.list(selector="unread")]
        ```
    """
    client = getattr(connection.state, STATE_KEY, None)
    if client is None:
        client = getattr(connection.app.state, STATE_KEY, None)
    if not isinstance(client, SmartSender):
        raise RuntimeError(
            "no SmartSender client on this app: create the app with "
            "FastAPI(lifespan=smartsender_lifespan) from smartsender_async.contrib.fastapi "
            "(or enter smartsender_lifespan(app) in your own lifespan)"
        )
    return client


#: A handler parameter annotated with this receives the app's client:
#: `async def handler(client: SmartSenderDependency) -> ...`.
SmartSenderDependency = Annotated[SmartSender, Depends(get_smartsender)]
