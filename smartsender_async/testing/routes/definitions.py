"""``/definitions`` (surface reference §2.6): global variables."""

from __future__ import annotations

from typing import Any

from smartsender_async.testing._app import Errors, Request, invalid
from smartsender_async.testing.routes._shapes import (
    Context,
    Route,
    acknowledged,
    created,
    found,
    getter,
    listing,
)

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
        if name is not None and definitions.taken("name", name, besides=besides):
            raise invalid({"name": ["The name has already been taken."]})
        out: dict[str, Any] = {}
        if name is not None:
            out["name"] = name
        if "value" in body:
            out["value"] = value
        return out

    def create(req: Request) -> dict[str, Any]:
        given = fields(req)
        # A value may be left out (one client sends {name, type}): it is then null.
        return definitions.add({"name": given["name"], "value": given.get("value")})

    def update(req: Request) -> None:
        item = found(definitions, req.args[0])
        item.update(fields(req, item["id"]))

    def delete(req: Request) -> None:
        del definitions.items[found(definitions, req.args[0])["id"]]

    one = "/definitions/{definitionId}"
    return [
        ("GET", "/definitions", listing(lambda req: definitions.rows(), term=True)),
        ("POST", "/definitions", created(create)),
        ("GET", one, getter(lambda req: found(definitions, req.args[0]))),
        ("PUT", one, acknowledged(update)),
        ("DELETE", one, acknowledged(delete)),
    ]
