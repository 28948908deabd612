"""Operators: `Operator` and `OperatorInfo`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from smartsender_async.models.common import EMPTY, ResponseInfo

__all__ = ["Operator", "OperatorInfo"]


@attrs.frozen
class OperatorInfo:
    """An operator's personal details (`operator.info`)."""

    email: str | None = None
    full_name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Operator:
    """A project operator; `id` is what `client.chats.assign` takes.

    `full_name` and `email` are shortcuts for `info.full_name` and `info.email`.

    Attributes:
        id: the operator's id.
        info: their personal details (name and e-mail).
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.

    Example:
        ```python
        async for operator in client.operators.stream():
            print(operator.id, operator.full_name, operator.email)
        ```
    """

    id: int
    info: OperatorInfo | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @property
    def full_name(self) -> str | None:
        """Shortcut for `info.full_name`."""
        return self.info.full_name if self.info is not None else None

    @property
    def email(self) -> str | None:
        """Shortcut for `info.email`."""
        return self.info.email if self.info is not None else None
