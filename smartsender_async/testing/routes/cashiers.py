"""``/cashiers`` (surface reference §2.8): the payment systems, list and get."""

from __future__ import annotations

from smartsender_async.testing.routes._shapes import Context, Route, found, getter, listing

__all__ = ["routes"]


def routes(ctx: Context) -> list[Route]:
    cashiers = ctx.project.cashiers
    return [
        ("GET", "/cashiers", listing(lambda req: cashiers.rows())),
        ("GET", "/cashiers/{cashierId}", getter(lambda req: found(cashiers, req.args[0]))),
    ]
