"""``/cashiers`` (surface reference §2.8): the payment systems, list and get."""

from __future__ import annotations

from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["routes"]


def routes(ctx: Context) -> list[Route]:
    cashiers = ctx.project.cashiers
    return [
        ("GET", "/cashiers", shape.listing(lambda req: cashiers.rows())),
        (
            "GET",
            "/cashiers/{cashierId}",
            shape.getter(lambda req: shape.found(cashiers, req.args[0])),
        ),
    ]
