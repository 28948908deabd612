"""Contacts: `Contact` and its tags, variables, funnels and groups.

`Tag`, `Funnel` and `Variable` are both what a contact carries and
what the project-level lists (`client.tags`, `client.funnels`, `client.variables`)
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
    """A tag (`GET /tags`, `contact.tags`, `client.contacts.tags(id)`).

    `id` is what `client.contacts.add_tag` and `client.tags.update` take.

    Attributes:
        id: the tag's id.
        name: its name.
        color: a 6-digit hex string, probably without `#` (inferred from the create call, not
            seen in a response).
        created_at: seen in the project list, not in a contact's tags.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.
    """

    id: int | None = None
    name: str | None = None
    color: str | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class Variable:
    """A contact variable: a name and value on a contact, or a definition in `client.variables`.

    In `contact.variables` it is a `name` and its `value` as the server sent it. In
    `client.variables` it is the variable's definition: `name`, `type` and `description`.

    Attributes:
        name: the variable's name.
        value: its value on a contact, as the server sent it.
        id: its id (third-party catalog only; may stay `None`).
        type: `url`, `date`, `enum`, `email`, `phone`, `number` or `string`.
        description: its description.
        created_at: third-party catalog only; may stay `None`.
        updated_at: third-party catalog only; may stay `None`.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.

    Example:
        ```python
        contact = await client.contacts.get(5)
        city = next((v.value for v in contact.variables if v.name == "city"), None)
        ```
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
    """A funnel; `service_key` (not an id) is what `client.contacts.subscribe` takes.

    Attributes:
        name: the funnel's name.
        service_key: its key; the JSON type of `serviceKey` is unknown, so a number arrives here
            as its string.
        id: its id (third-party catalog only; may stay `None`).
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
    """

    name: str | None = None
    service_key: str | None = None
    id: int | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Group:
    """A contact group (`client.contacts.groups(id)`).

    Its fields are not documented: `id` and `name` are assumed, anything else the server sends
    is in `extra`. Which key `client.contacts.add_group` takes (the path says `serviceId`) is
    unknown; `service_id` reads a `serviceId` when one is sent.

    Attributes:
        id: the group's id (assumed).
        name: its name (assumed).
        service_id: the `serviceId` the group paths take, when the server sends one.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
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
    """A project contact (`GET /contacts/{id}`, `GET /contacts/search`).

    Attributes:
        id: the contact's id (what `client.contacts` methods take).
        full_name: the name as shown.
        first_name: the first name.
        last_name: the last name.
        email: the e-mail address.
        phone: the phone number.
        photo: the photo's URL.
        created_at: when the contact appeared (aware UTC).
        tags: its [Tag][smartsender_async.Tag]s.
        variables: its [Variable][smartsender_async.Variable]s and their values.
        funnels: the [Funnel][smartsender_async.Funnel]s it is in.
        notes: the notes, kept as the server's dicts.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.

    Example:
        ```python
        contact = await client.contacts.get(5)
        print(contact.full_name, [tag.name for tag in contact.tags])
        ```
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
