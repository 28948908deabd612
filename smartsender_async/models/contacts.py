"""Contacts: :class:`Contact` and its tags, variables, funnels and groups.

:class:`Tag`, :class:`Funnel` and :class:`Variable` are both what a contact carries and
what the project-level lists (``client.tags``, ``client.funnels``, ``client.variables``)
return: the same objects, with the fields each place sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from smartsender_async.models.common import EMPTY, ResponseInfo

__all__ = ["Contact", "Funnel", "Group", "Tag", "Variable"]


@attrs.frozen
class Tag:
    """A tag (``GET /tags``, ``contact.tags``, ``contacts.tags(id)``).

    ``id`` is what ``contacts.add_tag`` and ``tags.update`` take.  ``color`` is a 6-digit
    hex string, probably without ``#`` (inferred from the create call, not seen in a
    response); ``created_at`` is seen in the project list, not in a contact's tags.
    """

    id: int | None = None
    name: str | None = None
    color: str | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class Variable:
    """A contact variable.

    In ``contact.variables`` it is a ``name`` and its ``value`` as the server sent it.  In
    ``client.variables`` it is the variable's definition: ``name``, ``type`` (``url``,
    ``date``, ``enum``, ``email``, ``phone``, ``number`` or ``string``) and
    ``description``.  ``id``, ``created_at`` and ``updated_at`` come only from a
    third-party catalog (not seen in live data), so they may stay ``None``.
    """

    name: str | None = None
    value: Any = attrs.field(default=None, hash=False)
    id: int | None = None
    type: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class Funnel:
    """A funnel; ``service_key`` (not an id) is what ``contacts.subscribe`` takes.

    The JSON type of ``serviceKey`` is unknown: a number arrives here as its string.
    ``id`` comes only from a third-party catalog, so it may stay ``None``.
    """

    name: str | None = None
    service_key: str | None = None
    id: int | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Group:
    """A contact group (``contacts.groups(id)``).

    Its fields are not documented: ``id`` and ``name`` are assumed, anything else the
    server sends is in ``extra``.  Which key ``contacts.add_group`` takes (the path says
    ``serviceId``) is unknown; :attr:`service_id` reads a ``serviceId`` when one is sent.
    """

    id: int | None = None
    name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)

    @property
    def service_id(self) -> int | None:
        """The group's ``serviceId`` (the key the group paths name), when the server sends
        one as an integer id; ``None`` otherwise.  [UNK]: no model page was found."""
        from smartsender_async.models.chats import _extra_value

        value = _extra_value(self.extra, "serviceId", "int")
        return value if isinstance(value, int) and value > 0 else None


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
