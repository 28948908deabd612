"""``/gates/{gateId}/messages`` (reference §1.3): edit and delete sent messages."""

from __future__ import annotations

from typing import Any

from smartsender_async.testing._app import Errors, Request, id_arg, invalid, not_found
from smartsender_async.testing._data import EDITABLE_CAPTION, EDITABLE_CONTENT
from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["routes"]


def routes(ctx: Context) -> list[Route]:
    store = ctx.project.store

    def gate(value: str) -> int:
        gate_id = id_arg(value)
        if store.gate_location(gate_id) is None:
            raise not_found()
        return gate_id

    def on_gate(gate_id: int, message_id: int) -> dict[str, Any]:
        message = store.message(message_id)
        if message is None or message["gate"]["id"] != gate_id:
            raise not_found()
        return message

    def edit(req: Request) -> None:
        gate_id = gate(req.args[0])
        body = req.body()
        errors = Errors()
        text = errors.string(body, "text", required=True)
        message_id = errors.integer(body, "messageId", required=True)
        errors.raise_if_any()
        assert text is not None and message_id is not None
        content = on_gate(gate_id, message_id)["content"]
        kind = content["type"]
        if kind in EDITABLE_CONTENT:
            key = "content"
        elif kind in EDITABLE_CAPTION:
            key = "caption"
        else:
            raise invalid({"messageId": [f"A {kind} message cannot be edited."]})
        resource = dict(content["resource"])
        resource["parameters"] = {**resource["parameters"], key: text}
        store.edit_message(message_id, {"type": kind, "resource": resource}, ctx.now())

    def delete(req: Request) -> None:
        gate_id = gate(req.args[0])
        errors = Errors()
        ids = errors.integers(req.body(), "messageIds", required=True) or []
        errors.raise_if_any()
        for message_id in ids:  # all or nothing
            on_gate(gate_id, message_id)
        store.delete_messages(ids, ctx.now())

    return [
        ("PUT", "/gates/{gateId}/messages", shape.acknowledged(edit)),
        ("DELETE", "/gates/{gateId}/messages", shape.acknowledged(delete)),
    ]
