"""``GET /funnels`` (surface reference §2.4; seen in code only): list with ``term``."""

from __future__ import annotations

from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["routes"]


def routes(ctx: Context) -> list[Route]:
    funnels = ctx.project.funnels
    return [("GET", "/funnels", shape.listing(lambda req: funnels.rows(), term=True))]
