"""The emulator's routes of reference §2 beyond chats, one module per API area.

:func:`all_routes` gathers them for :class:`~smartsender_async.testing._app.Api`.
"""

from __future__ import annotations

from smartsender_async.testing.routes import (
    cashiers,
    channels,
    contacts,
    definitions,
    funnels,
    gates,
    operators,
    products,
    project,
    tags,
    variables,
)
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["Context", "Route", "all_routes"]

_AREAS = (
    contacts,
    gates,
    operators,
    project,
    tags,
    funnels,
    variables,
    definitions,
    channels,
    products,
    cashiers,
)


def all_routes(ctx: Context) -> list[Route]:
    """Every route of every area."""
    return [route for area in _AREAS for route in area.routes(ctx)]
