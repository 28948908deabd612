"""Chats and the objects embedded in them: :class:`Chat`, :class:`ChatContact`, :class:`Gate`,
:class:`Channel`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from smartsender_async.models.common import EMPTY, ResponseInfo

__all__ = ["Channel", "ChannelDetails", "Chat", "ChatContact", "Gate"]


@attrs.frozen
class Channel:
    """The messenger behind a gate: ``type`` is ``telegram``, ``viber``, ``instagram``,
    ``facebook`` or another channel; ``name`` is the bot or page name."""

    type: str | None = None
    name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class ChannelDetails(Channel):
    """A project channel as ``client.channels`` returns it: a :class:`Channel` with more.

    Beyond ``type`` and ``name``, its fields are known only from a third-party catalog
    (not seen in live data), so any of them may be ``None``: ``id`` (what
    ``channels.get`` takes), ``app``, ``link``, ``active`` (the channel is switched on),
    ``occupied``, ``referrer``, ``created_at``, ``updated_at``.
    """

    id: int | None = None
    app: str | None = None
    link: str | None = None
    active: bool | None = None
    occupied: bool | None = None
    referrer: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class Gate:
    """One channel connection of a contact (a gate per channel per contact).

    ``id`` is what :meth:`GatesResource.edit_message` and
    :meth:`GatesResource.delete_messages` take.  A third-party catalog adds ``unreadMessages``
    and ``contact``; when sent, they are in ``extra``.
    """

    id: int | None = None
    subscribed: bool | None = None
    channel: Channel | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class ChatContact:
    """The contact a chat belongs to, as embedded in the chat (``chat.contact``).

    ``original_id`` is the contact id to use with ``client.contacts`` (for example to send).
    """

    original_id: int | None = None
    full_name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Chat:
    """A conversation with one contact, across that contact's gates.

    Fields the server sends that are not mapped here are kept in ``extra`` under their
    original (camelCase) names, so nothing the server sent is lost.
    """

    id: int
    name: str | None = None
    image: str | None = None
    unread_messages: int | None = None
    contact: ChatContact | None = None
    gates: tuple[Gate, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @property
    def contact_id(self) -> int | None:
        """The contact id to send to (``contact.originalId``), if the server sent one."""
        return self.contact.original_id if self.contact is not None else None
