"""The four shapes every route of reference §2 takes, written once.

* :func:`listing`: a page of ``{cursor, collection}``, with ``page``/``limitation`` checked
  and, for lists that take one, a partial, case-insensitive ``term`` on ``name``;
* :func:`getter`: one object;
* :func:`acknowledged`: a write answering ``{"state": true}``;
* :func:`created`: a write answering the object it made or changed.

A route module then reads as its validation and its state change; :func:`found` turns a
path id into a catalog item or a 404.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from smartsender_async.testing._app import (
    OK,
    Errors,
    Handler,
    Request,
    envelope,
    id_arg,
    invalid,
    not_found,
    paging,
)
from smartsender_async.testing._project import Catalog, Project

__all__ = [
    "Context",
    "Route",
    "acknowledged",
    "created",
    "found",
    "getter",
    "listing",
    "present",
    "unique",
]

#: ``(method, path template, handler)``; a template segment in braces is a path argument.
Route = tuple[str, str, Handler]


@attrs.frozen
class Context:
    """What route handlers reach: the project state and the clock (Unix seconds)."""

    project: Project
    now: Callable[[], int]


def listing(
    rows: Callable[[Request], Sequence[Any]],
    render: Callable[[Any], Any] | None = None,
    *,
    term: bool = False,
) -> Handler:
    """A list route: ``rows(req)`` paged (after the ``term`` filter when ``term``)."""

    def handle(req: Request) -> tuple[int, Any]:
        page, limitation = paging(req.query)
        items = rows(req)
        if term:
            errors = Errors()
            needle = errors.string(req.query, "term")
            errors.raise_if_any()
            if needle:
                lowered = needle.lower()
                items = [x for x in items if lowered in str(x.get("name") or "").lower()]
        start = (page - 1) * limitation
        chunk = items[start : start + limitation]
        collection = [render(x) for x in chunk] if render is not None else list(chunk)
        return 200, envelope(page, limitation, len(items), collection)

    return handle


def getter(get: Callable[[Request], Any]) -> Handler:
    """A route answering one object."""

    def handle(req: Request) -> tuple[int, Any]:
        return 200, get(req)

    return handle


def acknowledged(write: Callable[[Request], None]) -> Handler:
    """A write answering ``{"state": true}``."""

    def handle(req: Request) -> tuple[int, Any]:
        write(req)
        return 200, OK

    return handle


#: Creates answer 200 with the object [UNK whether the real API says 201].
created = getter


def found(catalog: Catalog, value: str) -> dict[str, Any]:
    """The catalog item a path id names, or 404."""
    item = catalog.get(id_arg(value))
    if item is None:
        raise not_found()
    return item


def unique(catalog: Catalog, name: str | None, besides: int | None = None) -> None:
    """422 when another item of ``catalog`` has this ``name`` (names are unique)."""
    if name is not None and catalog.taken("name", name, besides=besides):
        raise invalid({"name": ["The name has already been taken."]})


def present(**values: Any) -> dict[str, Any]:
    """The fields that were given (not ``None``): what an update changes."""
    return {k: v for k, v in values.items() if v is not None}
