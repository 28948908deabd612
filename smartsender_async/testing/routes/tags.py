"""``/tags`` (surface reference §2.4): list with ``term``, create, update, delete."""

from __future__ import annotations

import re
from typing import Any

from smartsender_async.testing._app import Errors, Request
from smartsender_async.testing._data import iso
from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["routes"]

#: Six hex digits, no ``#`` (the one real client sends ``FF0000``).
COLOR = re.compile(r"^[0-9A-Fa-f]{6}$")


def routes(ctx: Context) -> list[Route]:
    tags = ctx.project.tags

    def fields(req: Request, *, besides: int | None = None) -> dict[str, Any]:
        body = req.body()
        errors = Errors()
        name = errors.text(body, "name", required=besides is None, max_length=255)
        color = errors.text(body, "color", pattern=COLOR)
        errors.raise_if_any()
        shape.unique(tags, name, besides)
        return shape.present(name=name, color=color.upper() if color else None)

    def create(req: Request) -> dict[str, Any]:
        given = fields(req)
        # A tag created without a colour has none [UNK whether the API picks one].
        return tags.add(
            {"name": given["name"], "color": given.get("color"), "createdAt": iso(ctx.now())}
        )

    def update(req: Request) -> None:
        tag = shape.found(tags, req.args[0])
        tag.update(fields(req, besides=tag["id"]))

    def delete(req: Request) -> None:
        # Contacts render tags by reference, so the tag leaves every contact too.
        del tags.items[shape.found(tags, req.args[0])["id"]]

    return [
        ("GET", "/tags", shape.listing(lambda req: tags.rows(), term=True)),
        ("POST", "/tags", shape.created(create)),
        ("PUT", "/tags/{tagId}", shape.acknowledged(update)),
        ("DELETE", "/tags/{tagId}", shape.acknowledged(delete)),
    ]
