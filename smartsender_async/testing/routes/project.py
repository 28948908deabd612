"""``GET /me`` (surface reference §2.9): the project the token belongs to."""

from __future__ import annotations

from smartsender_async.testing._data import PROJECT_NAME
from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["routes"]

_PROJECT = {
    "id": 501,
    "name": PROJECT_NAME,
    "photo": "https://messenger.smartsender.com/storage/projects/501/logo.png",
}


def routes(ctx: Context) -> list[Route]:
    return [("GET", "/me", shape.getter(lambda req: dict(_PROJECT)))]
