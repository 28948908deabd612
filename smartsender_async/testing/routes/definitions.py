"""``/definitions`` (surface reference §2.6): global variables."""

from __future__ import annotations

from typing import Any

from smartsender_async.testing._app import Errors, Request
from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["routes"]


def routes(ctx: Context) -> list[Route]:
    definitions = ctx.project.definitions

    def fields(req: Request, besides: int | None = None) -> dict[str, Any]:
        body = req.body()
        errors = Errors()
        name = errors.text(body, "name", required=besides is None, max_length=255)
        value = body.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            errors.add("value", "The value field must be a string or an integer.")
        errors.raise_if_any()
        shape.unique(definitions, name, besides)
        out = shape.present(name=name)
        if "value" in body:  # null is a value here
            out["value"] = value
        return out

    def create(req: Request) -> dict[str, Any]:
        given = fields(req)
        # A value may be left out (one client sends {name, type}): it is then null.
        return definitions.add({"name": given["name"], "value": given.get("value")})

    def update(req: Request) -> None:
        item = shape.found(definitions, req.args[0])
        item.update(fields(req, item["id"]))

    def delete(req: Request) -> None:
        del definitions.items[shape.found(definitions, req.args[0])["id"]]

    one = "/definitions/{definitionId}"
    return [
        ("GET", "/definitions", shape.listing(lambda req: definitions.rows(), term=True)),
        ("POST", "/definitions", shape.created(create)),
        ("GET", one, shape.getter(lambda req: shape.found(definitions, req.args[0]))),
        ("PUT", one, shape.acknowledged(update)),
        ("DELETE", one, shape.acknowledged(delete)),
    ]
