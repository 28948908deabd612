"""``/channels`` (surface reference §2.7): list, get, active switch, and gate creation."""

from __future__ import annotations

from typing import Any

from smartsender_async.testing._app import Errors, Request, invalid
from smartsender_async.testing._data import iso
from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route
from smartsender_async.testing.routes.contacts import EMAIL, PHONE

__all__ = ["GATE_CHANNEL_TYPES", "routes"]

#: Channel types that take ``POST /channels/{id}/gates`` ("WhatsApp only for now").
GATE_CHANNEL_TYPES = frozenset({"whatsapp"})


def routes(ctx: Context) -> list[Route]:
    project = ctx.project
    channels = project.channels

    def set_active(req: Request) -> None:
        channel = shape.found(channels, req.args[0])
        errors = Errors()
        state = errors.boolean(req.body(), "state", required=True)
        errors.raise_if_any()
        channel["active"] = bool(state)
        channel["updatedAt"] = iso(ctx.now())

    def create_gate(req: Request) -> dict[str, Any]:
        channel = shape.found(channels, req.args[0])
        body = req.body()
        errors = Errors()
        identifier = errors.string(body, "identifier", required=True)
        person = {
            "firstName": errors.text(body, "firstName", required=True, max_length=255),
            "lastName": errors.text(body, "lastName", max_length=255),
            "email": errors.text(body, "email", pattern=EMAIL),
            "phone": errors.text(body, "phone", pattern=PHONE),
            "parameters": errors.mapping(body, "parameters"),
        }
        errors.raise_if_any()
        if channel["type"] not in GATE_CHANNEL_TYPES:
            raise invalid({"channelId": ["Gates can be created on WhatsApp channels only."]})
        assert identifier is not None
        return project.create_gate(channel, identifier, person, ctx.now())

    one = "/channels/{channelId}"
    return [
        ("GET", "/channels", shape.listing(lambda req: channels.rows())),
        ("GET", one, shape.getter(lambda req: shape.found(channels, req.args[0]))),
        ("PUT", one, shape.acknowledged(set_active)),
        ("POST", f"{one}/gates", shape.created(create_gate)),
    ]
