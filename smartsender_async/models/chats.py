"""Chats and the objects embedded in them: `Chat`, `ChatContact`, `Gate`,
`Channel`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from smartsender_async.models.common import EMPTY, ResponseInfo

__all__ = ["Channel", "ChannelDetails", "Chat", "ChatContact", "Gate"]


def _extra_value(extra: Mapping[str, Any], key: str, kind: str) -> Any:
    """A field kept in `extra`, converted leniently (`None` when absent or unreadable)."""
    from smartsender_async import _convert  # imports this module

    value = extra.get(key)
    convert = {
        "int": _convert._opt_int,
        "str": _convert._opt_str,
        "bool": _convert._opt_bool,
        "time": _convert.parse_timestamp,
    }[kind]
    try:
        return convert(value)
    except (TypeError, ValueError):
        return None


@attrs.frozen
class Channel:
    """A messenger channel: its `type` and its bot or page `name`.

    `type` is `telegram`, `viber`, `instagram`, `facebook`, `whatsapp` or another. Inside a gate
    (`gate.channel`) only `type` and `name` are seen. The project-level fields that
    `client.channels` returns ([ChannelDetails][smartsender_async.ChannelDetails]) are readable
    here too, as properties read from `extra`: `id`, `app`, `link`, `active`, `occupied`,
    `referrer`, `created_at` and `updated_at` (`None` when absent).

    Attributes:
        type: the messenger (`telegram`, `viber`, ...).
        name: the bot or page name.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
    """

    type: str | None = None
    name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)

    @property
    def id(self) -> int | None:
        """The channel id (what `channels.get` takes)."""
        return _extra_value(self.extra, "id", "int")  # type: ignore[no-any-return]

    @property
    def app(self) -> str | None:
        """The channel's app (third-party catalog only)."""
        return _extra_value(self.extra, "app", "str")  # type: ignore[no-any-return]

    @property
    def link(self) -> str | None:
        """A link to the bot or page (third-party catalog only)."""
        return _extra_value(self.extra, "link", "str")  # type: ignore[no-any-return]

    @property
    def active(self) -> bool | None:
        """Whether the channel is switched on (third-party catalog only)."""
        return _extra_value(self.extra, "active", "bool")  # type: ignore[no-any-return]

    @property
    def occupied(self) -> bool | None:
        """Third-party catalog only; meaning unknown."""
        return _extra_value(self.extra, "occupied", "bool")  # type: ignore[no-any-return]

    @property
    def referrer(self) -> int | None:
        """Third-party catalog only; meaning unknown."""
        return _extra_value(self.extra, "referrer", "int")  # type: ignore[no-any-return]

    @property
    def created_at(self) -> datetime | None:
        """When the channel was connected (third-party catalog only)."""
        return _extra_value(self.extra, "createdAt", "time")  # type: ignore[no-any-return]

    @property
    def updated_at(self) -> datetime | None:
        """When the channel last changed (third-party catalog only)."""
        return _extra_value(self.extra, "updatedAt", "time")  # type: ignore[no-any-return]


@attrs.frozen
class ChannelDetails(Channel):
    """A [Channel][smartsender_async.Channel] as `client.channels` returns it (list, get, stream).

    The same fields and properties (`id`, `active`, ... read leniently from `extra`, since only
    a third-party catalog lists them: a surprising value reads as `None` instead of failing the
    whole page); it adds `response_info`, which the channels shared by many gates do not carry.

    Attributes:
        type: the messenger (`telegram`, `viber`, ...).
        name: the bot or page name.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.

    Example:
        ```python
        channel = await client.channels.get(4)
        print(channel.id, channel.type, channel.active)
        ```
    """

    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class Gate:
    """One channel connection of a contact (a gate per channel per contact).

    `id` is what `client.gates.edit_message` and `client.gates.delete_messages` take. A
    third-party catalog adds `unreadMessages` and `contact`; when sent, they are in `extra`.

    Attributes:
        id: the gate's id.
        subscribed: whether the contact is subscribed through this gate.
        channel: the gate's [Channel][smartsender_async.Channel].
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.
    """

    id: int | None = None
    subscribed: bool | None = None
    channel: Channel | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class ChatContact:
    """The contact a chat belongs to, as embedded in the chat (`chat.contact`).

    Attributes:
        original_id: the contact id to use with `client.contacts` (for example to send).
        full_name: the contact's name.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
    """

    original_id: int | None = None
    full_name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Chat:
    """A conversation with one contact, across that contact's gates.

    Attributes:
        id: the chat's id (what `client.chats` methods take).
        name: the chat's title (usually the contact's name).
        image: the avatar's URL.
        unread_messages: how many messages are unread.
        contact: the contact it belongs to ([ChatContact][smartsender_async.ChatContact]).
        gates: the contact's gates in this chat.
        created_at: when the chat began (aware UTC).
        updated_at: when it last changed (aware UTC); chat lists are newest first by it.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.

    Example:
        ```python
        chat = await client.chats.get(48213)
        if chat.contact_id is not None:
            await client.contacts.send(chat.contact_id, "Hello")
        ```
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
        """The contact id to send to (`contact.originalId`), if the server sent one."""
        return self.contact.original_id if self.contact is not None else None
