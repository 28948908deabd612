"""``/operators`` (reference §1.5): the list and the auto-assignment switch."""

from __future__ import annotations

from smartsender_async.testing._app import Errors, Request, id_arg, not_found
from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["routes"]


def routes(ctx: Context) -> list[Route]:
    store = ctx.project.store

    def involve(req: Request) -> None:
        operator_id = id_arg(req.args[0])
        if not store.has_operator(operator_id):
            raise not_found()
        errors = Errors()
        state = errors.boolean(req.body(), "state", required=True)
        errors.raise_if_any()
        assert state is not None
        store.operator_involved[operator_id] = state

    return [
        ("GET", "/operators", shape.listing(lambda req: store.operator_ids, store.render_operator)),
        ("PUT", "/operators/{operatorId}/involve", shape.acknowledged(involve)),
    ]
