"""``/variables`` (surface reference §2.5): the contact variables' definitions."""

from __future__ import annotations

from typing import Any

from smartsender_async.testing._app import Errors, Request
from smartsender_async.testing._data import iso
from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["TYPES", "routes"]

#: The ``type`` values ``POST /variables`` takes.
TYPES = ("url", "date", "enum", "email", "phone", "number", "string")


def routes(ctx: Context) -> list[Route]:
    project = ctx.project
    variables = project.variables

    def create(req: Request) -> dict[str, Any]:
        body = req.body()
        errors = Errors()
        name = errors.text(body, "name", required=True, max_length=255)
        kind = errors.choice(body, "type", TYPES, required=True)
        description = errors.string(body, "description")
        values = errors.string(body, "values", required=kind == "enum")
        errors.raise_if_any()
        shape.unique(variables, name)
        now = iso(ctx.now())
        item: dict[str, Any] = {"name": name, "type": kind, "description": description}
        if kind == "enum":
            item["values"] = values  # as sent: comma-separated
        project.deleted_variables.discard(str(name))
        return variables.add({**item, "createdAt": now, "updatedAt": now})

    def update(req: Request) -> None:
        item = shape.found(variables, req.args[0])
        body = req.body()
        errors = Errors()
        name = errors.text(body, "name", max_length=255)
        description = errors.string(body, "description")
        errors.raise_if_any()
        shape.unique(variables, name, item["id"])
        if name is not None:
            item["name"] = name
        if "description" in body:
            item["description"] = description
        item["updatedAt"] = iso(ctx.now())

    def delete(req: Request) -> None:
        item = shape.found(variables, req.args[0])
        del variables.items[item["id"]]
        project.delete_variable(item["name"])

    return [
        ("GET", "/variables", shape.listing(lambda req: variables.rows(), term=True)),
        ("POST", "/variables", shape.created(create)),
        ("PUT", "/variables/{variableId}", shape.acknowledged(update)),
        ("DELETE", "/variables/{variableId}", shape.acknowledged(delete)),
    ]
