"""The project: `Project` (`GET /me`) and its global variables, `Definition`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from smartsender_async.models.common import EMPTY, ResponseInfo

__all__ = ["Definition", "Project"]


@attrs.frozen
class Project:
    """The project the token belongs to (`client.me()`).

    Only `name` and `photo` are seen in use; `id` is assumed.

    Attributes:
        id: the project's id (assumed).
        name: its name.
        photo: its picture's URL.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.

    Example:
        ```python
        project = await client.me()
        print(project.name)
        ```
    """

    id: int | None = None
    name: str | None = None
    photo: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class Definition:
    """A global variable of the project (`client.definitions`).

    Attributes:
        id: its id.
        name: its name.
        value: a string or an integer, as the server sent it.
        created_at: not documented; may stay `None`.
        updated_at: not documented; may stay `None`.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.
    """

    id: int | None = None
    name: str | None = None
    value: Any = attrs.field(default=None, hash=False)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)
