"""Contacts: :class:`Contact` and its tags, variables and funnels."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from smartsender_async.models.common import EMPTY, ResponseInfo

__all__ = ["Contact", "Funnel", "Tag", "Variable"]


@attrs.frozen
class Tag:
    """A tag attached to a contact."""

    id: int | None = None
    name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Variable:
    """A contact variable: ``name`` and its ``value`` as the server sent it."""

    name: str | None = None
    value: Any = attrs.field(default=None, hash=False)
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Funnel:
    """A funnel a contact is in; ``service_key`` (not an id) identifies it in the API."""

    name: str | None = None
    service_key: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Contact:
    """A project contact (``GET /contacts/{id}``, ``GET /contacts/search``).

    ``notes`` are kept as the server's dicts. Unmapped fields are kept in ``extra``.
    """

    id: int
    full_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    photo: str | None = None
    created_at: datetime | None = None
    tags: tuple[Tag, ...] = ()
    variables: tuple[Variable, ...] = ()
    funnels: tuple[Funnel, ...] = ()
    notes: tuple[Mapping[str, Any], ...] = attrs.field(default=(), hash=False)
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)
