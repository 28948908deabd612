"""`client.contacts`: contacts and everything hung on one (messages, variables, tags,
funnels, groups, gates, cart, invoices, triggers)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

from smartsender_async.errors import ResponseDecodeError
from smartsender_async.models.chats import Chat, Gate
from smartsender_async.models.common import Page
from smartsender_async.models.contacts import Contact, Funnel, Group, Tag
from smartsender_async.models.messages import Message
from smartsender_async.models.products import Invoice, ProductEssence
from smartsender_async.outgoing import (
    Animation,
    Audio,
    ContactCard,
    File,
    Location,
    OutgoingMessage,
    Picture,
    Text,
    Video,
    Voice,
)
from smartsender_async.pagination import PageStream
from smartsender_async.resources._base import check_bool, check_id, check_text
from smartsender_async.resources._shapes import (
    ApiResource,
    by_identity,
    check_key,
    check_segment,
)
from smartsender_async.resources._streams import message_stream

__all__ = ["ContactsResource", "check_values"]

T = TypeVar("T")

_OUTGOING = (Text, Picture, File, Video, Audio, Voice, Animation, Location, ContactCard)
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")


def _wire_value(name: str, value: Any) -> str | int | float | bool:
    """A variable or field value as sent: `None` is sent as `""`, which clears it."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if isinstance(value, (str, int, float)):  # bool is an int
        return value
    raise TypeError(
        f"{name} must be a str, a number, a bool or None (None clears it), got {value!r}"
    )


def check_values(values: Any) -> dict[str, Any]:
    """`values` for `PUT /contacts/{id}`: variable names mapped to values."""
    if not isinstance(values, Mapping):
        raise TypeError(f"values must be a mapping of variable names to values, got {values!r}")
    out: dict[str, Any] = {}
    for name, value in values.items():
        check_text("values key (a variable name)", name)
        out[name] = _wire_value(f"values[{name!r}]", value)
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _check_date(value: Any) -> str:
    """`Y-m-d H:i:s`: a datetime (an aware one is taken to UTC) or text of that form."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d} 00:00:00"
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:  # the form is right; the calendar must be too ("2026-13-45" is not a date)
            datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise ValueError(f"date is not a real date and time: {value!r}") from None
        return value
    raise TypeError(f"date must be a datetime or a 'YYYY-MM-DD HH:MM:SS' string, got {value!r}")


def _check_amount(value: Any) -> int | float:
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"amount must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"amount must be a positive finite number, got {value!r}")
    return value


def _check_currency(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"currency must be a str, got {value!r}")
    if not _CURRENCY.fullmatch(value):
        raise ValueError(f"currency must be a 3-letter code such as 'UAH', got {value!r}")
    return value.lower()


def _funnel_key(funnel: Funnel) -> Hashable:
    return funnel.service_key if funnel.service_key is not None else by_identity(funnel)


def _invoice_key(invoice: Invoice) -> Hashable:
    return invoice.order_id if invoice.order_id is not None else by_identity(invoice)


class ContactsResource(ApiResource):
    """Contacts: `/contacts` and `/contacts/{contactId}/…`, reached as `client.contacts`.

    Every method checks its arguments before anything is sent.

    Example:
        ```python
        async with SmartSender() as client:
            contact = await client.contacts.get(5)
            await client.contacts.send(contact.id, "Hello!")
        ```
    """

    __slots__ = ()

    # ------------------------------------------------------------------ reading

    async def list(self, page: int = 1, limitation: int = 20) -> Page[Contact]:
        """One page of the project's contacts (`GET /contacts`).

        Args:
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page; iterate it for its contacts.

        Raises:
            TypeError: `page` or `limitation` is not an int (no request is sent).
            ValueError: `page` or `limitation` is out of range (no request is sent).
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.contacts.list(limitation=10)
            print(page.cursor.pages, [c.id for c in page])
            ```
        """
        return await self._page(Page[Contact], "contacts.list", "/contacts", (), page, limitation)

    def stream(self, *, concurrency: int = 4, limit: int | None = None) -> PageStream[Contact]:
        """Every contact of the project, each once, fetching `concurrency` pages at a time.

        Args:
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many items without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `concurrency` or `limit` is not an int (raised here, before any request).
            ValueError: `concurrency` is below 1 or `limit` is negative (raised here, before any
                request).
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for contact in client.contacts.stream(limit=100):
                print(contact.id, contact.full_name)
            ```
        """
        return self._stream(self.list, concurrency, limit)

    async def search(self, term: str, page: int = 1, limitation: int = 20) -> Page[Contact]:
        """Contacts matching `term` (`GET /contacts/search`).

        The match is partial: filter again for an exact email or phone.

        Args:
            term: the keyword (a name, an email, a phone); must not be empty.
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page of matching contacts.

        Raises:
            TypeError: `term` is not a str, or `page` or `limitation` not an int (no request is
                sent).
            ValueError: `term` is empty, or `page` or `limitation` is out of range (no request is
                sent).
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.contacts.search("ann@example.com")
            exact = [c for c in page if c.email == "ann@example.com"]
            ```
        """
        term = check_text("term", term)
        return await self._page(
            Page[Contact], "contacts.search", "/contacts/search", (), page, limitation, term=term
        )

    def stream_search(
        self, term: str, *, concurrency: int = 4, limit: int | None = None
    ) -> PageStream[Contact]:
        """Every contact matching `term`, each once.

        Args:
            term: the keyword; must not be empty.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many items without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `term` is not a str, or `concurrency` or `limit` is not an int (raised here,
                before any request).
            ValueError: `concurrency` is below 1 or `limit` is negative (raised here, before any
                request).
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for contact in client.contacts.stream_search("Ann"):
                print(contact.id)
            ```
        """
        term = check_text("term", term)

        async def fetch(page: int, limitation: int) -> Page[Contact]:
            return await self.search(term, page, limitation)

        return self._stream(fetch, concurrency, limit)

    async def get(self, contact_id: int) -> Contact:
        """One contact (`GET /contacts/{contactId}`), with its tags, funnels and variables.

        Args:
            contact_id: the contact's id.

        Returns:
            The contact.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits (no request is sent).
            ValueError: `contact_id` is not positive (no request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            contact = await client.contacts.get(5)
            print(contact.full_name, [tag.name for tag in contact.tags])
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        return await self._get(Contact, "contacts.get", "/contacts/{contactId}", ids)

    async def info(self, contact_id: int) -> dict[str, Any]:
        """The contact with its variables flattened (`GET /contacts/{contactId}/info`).

        Args:
            contact_id: the contact's id.

        Returns:
            The server's object as a dict: the contact's fields plus one key per variable (`{"id":
            5, "firstName": "Ann", "city": "Lviv", ...}`).

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits (no request is sent).
            ValueError: `contact_id` is not positive (no request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not a JSON object.

        Example:
            ```python
            info = await client.contacts.info(5)
            print(info.get("city"))
            ```
        """
        contact_id = check_id("contact_id", contact_id)
        template = "/contacts/{contactId}/info"
        path = f"/contacts/{contact_id}/info"
        data = await self._client.request("GET", path, operation="contacts.info", template=template)
        if not isinstance(data, dict):
            raise ResponseDecodeError(
                f"GET {path}: expected an object", status_code=200, raw_body=repr(data)[:2000]
            )
        return data

    async def chat(self, contact_id: int) -> Chat:
        """The contact's chat (`GET /contacts/{contactId}/chat`).

        Args:
            contact_id: the contact's id.

        Returns:
            The chat.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits (no request is sent).
            ValueError: `contact_id` is not positive (no request is sent).
            NotFoundError: no contact has this id, or it has no chat.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            chat = await client.contacts.chat(5)
            await client.chats.read(chat.id)
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        return await self._get(Chat, "contacts.chat", "/contacts/{contactId}/chat", ids)

    async def gates(self, contact_id: int, page: int = 1, limitation: int = 20) -> Page[Gate]:
        """One page of the contact's gates, one per channel (`GET /contacts/{contactId}/gates`).

        Args:
            contact_id: the contact's id.
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page of gates.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `page` or
                `limitation` is not an int (no request is sent).
            ValueError: `contact_id` is not positive, or `page` or `limitation` is out of range (no
                request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.contacts.gates(5)
            for gate in page:
                print(gate.id, gate.channel)
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        return await self._page(
            Page[Gate], "contacts.gates", "/contacts/{contactId}/gates", ids, page, limitation
        )

    def stream_gates(
        self, contact_id: int, *, concurrency: int = 4, limit: int | None = None
    ) -> PageStream[Gate]:
        """Every gate of the contact, each once.

        Args:
            contact_id: the contact's id.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many items without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `concurrency` or
                `limit` is not an int (raised here, before any request).
            ValueError: `contact_id` is not positive, `concurrency` is below 1 or `limit` is
                negative (raised here, before any request).
            NotFoundError: while iterating, no contact has this id.
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for item in client.contacts.stream_gates(5):
                print(item)
            ```
        """
        return self._each(self.gates, contact_id, concurrency, limit)

    # ------------------------------------------------------------------ messages

    async def messages(
        self, contact_id: int, page: int = 1, limitation: int = 20, *, activities: bool = False
    ) -> Page[Message]:
        """One page of the contact's messages, newest first (`GET /contacts/{contactId}/messages`).

        Args:
            contact_id: the contact's id.
            page: 1-based page number.
            limitation: page size, 1..20.
            activities: also include system/activity messages.

        Returns:
            The page of messages.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, `page` or
                `limitation` not an int, or `activities` not a bool (no request is sent).
            ValueError: `contact_id` is not positive, or `page` or `limitation` is out of range (no
                request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.contacts.messages(5, limitation=5)
            print([m.id for m in page])
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        template = "/contacts/{contactId}/messages"
        activity = 1 if check_bool("activities", activities) else None
        return await self._page(
            Page[Message], "contacts.messages", template, ids, page, limitation, activities=activity
        )

    def stream_messages(
        self,
        contact_id: int,
        *,
        activities: bool = False,
        since: datetime | None = None,
        concurrency: int = 4,
        limit: int | None = None,
    ) -> PageStream[Message]:
        """Every message of the contact, newest first, each once.

        Works like `client.chats.stream_messages`.

        Args:
            contact_id: the contact's id.
            activities: also include system/activity messages.
            since: stop at the first message created before this time (a naive datetime is taken as
                UTC) and fetch no page after it.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many items without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `activities` is
                not a bool, `since` not a datetime, or `concurrency` or `limit` is not an int
                (raised here, before any request).
            ValueError: `contact_id` is not positive, `concurrency` is below 1 or `limit` is
                negative (raised here, before any request).
            NotFoundError: while iterating, no contact has this id.
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for message in client.contacts.stream_messages(5, limit=20):
                print(message.created_at)
            ```
        """
        contact_id = check_id("contact_id", contact_id)
        activities = check_bool("activities", activities)

        async def fetch(page: int, limitation: int) -> Page[Message]:
            return await self.messages(contact_id, page, limitation, activities=activities)

        return message_stream(fetch, since=since, concurrency=concurrency, limit=limit)

    async def send(self, contact_id: int, message: OutgoingMessage | str) -> Message:
        """Send a message to the contact (`POST /contacts/{contactId}/send`).

        A send is never retried once the request may have reached the server, so it is never
        duplicated.

        Args:
            contact_id: the contact's id.
            message: one of the outgoing message classes ([Text][smartsender_async.Text],
                [Picture][smartsender_async.Picture], `File`, `Video`, `Audio`, `Voice`,
                `Animation`, `Location`, `ContactCard`) or a plain `str` for text.

        Returns:
            The sent [Message][smartsender_async.Message].

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `message` is
                neither a str nor an outgoing message (no request is sent).
            ValueError: `contact_id` is not positive, or the text is empty (no request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            from smartsender_async import Picture

            await client.contacts.send(5, "Your order has shipped")
            await client.contacts.send(5, Picture("https://example.com/parcel.png"))
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        if isinstance(message, str):
            message = Text(message)
        if not isinstance(message, _OUTGOING):
            raise TypeError(
                "message must be a str or one of Text, Picture, File, Video, Audio, Voice, "
                f"Animation, Location, ContactCard; got {message!r}"
            )
        body = message.to_body(int(time.time()))
        return await self._create(
            Message, "POST", "contacts.send", "/contacts/{contactId}/send", ids, body
        )

    # ------------------------------------------------------------------ writing

    async def update(
        self, contact_id: int, *, values: Mapping[str, Any] | None = None, **fields: Any
    ) -> None:
        """Set variables and system fields (`PUT /contacts/{contactId}`).

        Args:
            contact_id: the contact's id.
            values: variable name → value. `None` is sent as `""`, which clears the variable. Names
                are the variables' names (`client.variables`); what the server does with an unknown
                name is not known.
            **fields: system fields, in snake_case or camelCase (`first_name="Ann"` is sent as
                `firstName`). Which fields the server accepts is not documented: most likely
                `firstName`, `lastName`, `email`, `phone`.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or a value has a type
                the API cannot take (no request is sent).
            ValueError: `contact_id` is not positive, a name is empty, a field is named twice
                (`first_name` and `firstName`), or there is nothing to update (no request is
                sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            values = {"city": "Lviv", "coupon": None}
            await client.contacts.update(5, values=values, first_name="Ann")
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        body: dict[str, Any] = {}
        for name, value in fields.items():
            if not _FIELD_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a field name (snake_case or camelCase)")
            wire_name = _camel(name)
            if wire_name in body:
                # first_name= and firstName= both mean firstName: never drop one silently
                raise ValueError(f"{name!r} repeats the field {wire_name!r}")
            body[wire_name] = _wire_value(name, value)
        if values is not None and (wire := check_values(values)):
            body["values"] = wire
        if not body:
            raise ValueError("nothing to update: pass values= and/or fields")
        await self._ack("PUT", "contacts.update", "/contacts/{contactId}", ids, body)

    async def fire(self, contact_id: int, name: str) -> None:
        """Fire a trigger (an event) for the contact (`POST /contacts/{contactId}/fire`).

        Sends `{"name": name}`; the name is case-sensitive. Not retried once the request may have
        reached the server, so a trigger never fires twice.

        Args:
            contact_id: the contact's id.
            name: the trigger's name.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `name` not a str
                (no request is sent).
            ValueError: `contact_id` is not positive, or `name` is empty (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.contacts.fire(5, "order_paid")
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        body = {"name": check_text("name", name)}
        await self._ack("POST", "contacts.fire", "/contacts/{contactId}/fire", ids, body)

    async def merge(self, contact_id: int, other_id: int) -> None:
        """Merge two contacts (`POST /contacts/{contactId}/unite/{targetContactId}`).

        Known only from a third-party catalog, which says `other_id` is merged into `contact_id`.
        Which contact survives is **unknown**: re-read both afterwards.
        The answer is the catalog's `{"state": true}`; an empty 2xx answer or an object
        without `state` is taken as success too (`{"state": false}` still raises).

        Args:
            contact_id: the contact's id.
            other_id: the other contact's id.

        Raises:
            TypeError: `contact_id` or `other_id` is not an int or a string of ASCII digits (no
                request is sent).
            ValueError: an id is not positive, or both ids are the same contact (no request is
                sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: either contact does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.contacts.merge(5, 6)
            ```
        """
        ids = (check_id("contact_id", contact_id), check_id("other_id", other_id))
        if ids[0] == ids[1]:
            raise ValueError("contact_id and other_id must be different contacts")
        template = "/contacts/{contactId}/unite/{targetContactId}"
        await self._ack("POST", "contacts.merge", template, ids, inferred=True)

    # ------------------------------------------------------------------ tags

    async def tags(self, contact_id: int, page: int = 1, limitation: int = 20) -> Page[Tag]:
        """One page of the contact's tags (`GET /contacts/{contactId}/tags`).

        Args:
            contact_id: the contact's id.
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page of tags.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `page` or
                `limitation` is not an int (no request is sent).
            ValueError: `contact_id` is not positive, or `page` or `limitation` is out of range (no
                request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.contacts.tags(5)
            print([tag.name for tag in page])
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        return await self._page(
            Page[Tag], "contacts.tags", "/contacts/{contactId}/tags", ids, page, limitation
        )

    def stream_tags(
        self, contact_id: int, *, concurrency: int = 4, limit: int | None = None
    ) -> PageStream[Tag]:
        """Every tag of the contact, each once.

        Args:
            contact_id: the contact's id.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many items without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `concurrency` or
                `limit` is not an int (raised here, before any request).
            ValueError: `contact_id` is not positive, `concurrency` is below 1 or `limit` is
                negative (raised here, before any request).
            NotFoundError: while iterating, no contact has this id.
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for item in client.contacts.stream_tags(5):
                print(item)
            ```
        """
        return self._each(self.tags, contact_id, concurrency, limit)

    async def add_tag(self, contact_id: int, tag_id: int) -> None:
        """Attach a tag (`POST /contacts/{contactId}/tags/{tagId}`).

        Sent with no body.

        Args:
            contact_id: the contact's id.
            tag_id: the tag's id (`client.tags`).

        Raises:
            TypeError: `contact_id` or `tag_id` is not an int or a string of ASCII digits (no
                request is sent).
            ValueError: `contact_id` or `tag_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: the contact or the tag does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.contacts.add_tag(5, 12)
            ```
        """
        ids = (check_id("contact_id", contact_id), check_id("tag_id", tag_id))
        await self._ack("POST", "contacts.add_tag", "/contacts/{contactId}/tags/{tagId}", ids)

    async def remove_tag(self, contact_id: int, tag_id: int) -> None:
        """Detach a tag (`DELETE /contacts/{contactId}/tags/{tagId}`).

        Args:
            contact_id: the contact's id.
            tag_id: the tag's id.

        Raises:
            TypeError: `contact_id` or `tag_id` is not an int or a string of ASCII digits (no
                request is sent).
            ValueError: `contact_id` or `tag_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: the contact or the tag does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.contacts.remove_tag(5, 12)
            ```
        """
        ids = (check_id("contact_id", contact_id), check_id("tag_id", tag_id))
        await self._ack("DELETE", "contacts.remove_tag", "/contacts/{contactId}/tags/{tagId}", ids)

    # ------------------------------------------------------------------ funnels

    async def funnels(self, contact_id: int, page: int = 1, limitation: int = 20) -> Page[Funnel]:
        """One page of the funnels the contact is in (`GET /contacts/{contactId}/funnels`).

        Args:
            contact_id: the contact's id.
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page of funnels.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `page` or
                `limitation` is not an int (no request is sent).
            ValueError: `contact_id` is not positive, or `page` or `limitation` is out of range (no
                request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.contacts.funnels(5)
            print([funnel.service_key for funnel in page])
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        return await self._page(
            Page[Funnel], "contacts.funnels", "/contacts/{contactId}/funnels", ids, page, limitation
        )

    def stream_funnels(
        self, contact_id: int, *, concurrency: int = 4, limit: int | None = None
    ) -> PageStream[Funnel]:
        """Every funnel the contact is in, each once (by `service_key`).

        Args:
            contact_id: the contact's id.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many items without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `concurrency` or
                `limit` is not an int (raised here, before any request).
            ValueError: `contact_id` is not positive, `concurrency` is below 1 or `limit` is
                negative (raised here, before any request).
            NotFoundError: while iterating, no contact has this id.
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for item in client.contacts.stream_funnels(5):
                print(item)
            ```
        """
        return self._each(self.funnels, contact_id, concurrency, limit, _funnel_key)

    async def subscribe(self, contact_id: int, service_key: int | str) -> None:
        """Subscribe the contact to a funnel (`POST /contacts/{contactId}/funnels/{serviceKey}`).

        Args:
            contact_id: the contact's id.
            service_key: the funnel's `service_key` (`client.funnels`), not its id: an int or a str.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `service_key` not
                an int or a str (no request is sent).
            ValueError: `contact_id` is not positive, or `service_key` is negative, empty or padded
                with spaces (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: the contact or the funnel does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.contacts.subscribe(5, "welcome")
            ```
        """
        ids = (check_id("contact_id", contact_id), check_key("service_key", service_key))
        template = "/contacts/{contactId}/funnels/{serviceKey}"
        await self._ack("POST", "contacts.subscribe", template, ids)

    async def unsubscribe(self, contact_id: int, service_key: int | str) -> None:
        """Take the contact out of a funnel (`DELETE /contacts/{contactId}/funnels/{serviceKey}`).

        Args:
            contact_id: the contact's id.
            service_key: the funnel's `service_key`: an int or a str.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `service_key` not
                an int or a str (no request is sent).
            ValueError: `contact_id` is not positive, or `service_key` is negative, empty or padded
                with spaces (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: the contact or the funnel does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.contacts.unsubscribe(5, "welcome")
            ```
        """
        ids = (check_id("contact_id", contact_id), check_key("service_key", service_key))
        template = "/contacts/{contactId}/funnels/{serviceKey}"
        await self._ack("DELETE", "contacts.unsubscribe", template, ids)

    # ------------------------------------------------------------------ groups

    async def groups(self, contact_id: int, page: int = 1, limitation: int = 20) -> Page[Group]:
        """One page of the contact's groups (`GET /contacts/{contactId}/groups`).

        Args:
            contact_id: the contact's id.
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page of groups.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `page` or
                `limitation` is not an int (no request is sent).
            ValueError: `contact_id` is not positive, or `page` or `limitation` is out of range (no
                request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.contacts.groups(5)
            print(len(page))
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        return await self._page(
            Page[Group], "contacts.groups", "/contacts/{contactId}/groups", ids, page, limitation
        )

    def stream_groups(
        self, contact_id: int, *, concurrency: int = 4, limit: int | None = None
    ) -> PageStream[Group]:
        """Every group of the contact, each once.

        Args:
            contact_id: the contact's id.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many items without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `concurrency` or
                `limit` is not an int (raised here, before any request).
            ValueError: `contact_id` is not positive, `concurrency` is below 1 or `limit` is
                negative (raised here, before any request).
            NotFoundError: while iterating, no contact has this id.
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for item in client.contacts.stream_groups(5):
                print(item)
            ```
        """
        return self._each(self.groups, contact_id, concurrency, limit)

    async def add_group(self, contact_id: int, service_id: int) -> None:
        """Add the contact to a group (`POST /contacts/{contactId}/groups/{serviceId}`).

        The answer is assumed to be `{"state": true}` (the documented block was lost),
        so an empty 2xx answer or an object without `state` is taken as success too.

        Args:
            contact_id: the contact's id.
            service_id: the group's `service_id`.

        Raises:
            TypeError: `contact_id` or `service_id` is not an int or a string of ASCII digits (no
                request is sent).
            ValueError: `contact_id` or `service_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: the contact or the group does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.contacts.add_group(5, 3)
            ```
        """
        ids = (check_id("contact_id", contact_id), check_id("service_id", service_id))
        template = "/contacts/{contactId}/groups/{serviceId}"
        await self._ack("POST", "contacts.add_group", template, ids, inferred=True)

    async def remove_group(self, contact_id: int, service_id: int) -> None:
        """Take the contact out of a group (`DELETE /contacts/{contactId}/groups/{serviceId}`).

        The answer is inferred, as for `add_group`.

        Args:
            contact_id: the contact's id.
            service_id: the group's `service_id`.

        Raises:
            TypeError: `contact_id` or `service_id` is not an int or a string of ASCII digits (no
                request is sent).
            ValueError: `contact_id` or `service_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: the contact or the group does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.contacts.remove_group(5, 3)
            ```
        """
        ids = (check_id("contact_id", contact_id), check_id("service_id", service_id))
        template = "/contacts/{contactId}/groups/{serviceId}"
        await self._ack("DELETE", "contacts.remove_group", template, ids, inferred=True)

    # ------------------------------------------------------------------ cart and invoices

    async def cart(
        self, contact_id: int, page: int = 1, limitation: int = 20
    ) -> Page[ProductEssence]:
        """One page of the contact's cart (`GET /contacts/{contactId}/checkout`).

        Each line is a [ProductEssence][smartsender_async.ProductEssence] (its `quantity` from
        `pivot`); an empty cart is an empty page. A successful payment empties the cart.

        Args:
            contact_id: the contact's id.
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page of cart lines.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `page` or
                `limitation` is not an int (no request is sent).
            ValueError: `contact_id` is not positive, or `page` or `limitation` is out of range (no
                request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.contacts.cart(5)
            print(sum(line.quantity or 0 for line in page))
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        return await self._page(
            Page[ProductEssence],
            "contacts.cart",
            "/contacts/{contactId}/checkout",
            ids,
            page,
            limitation,
        )

    def stream_cart(
        self, contact_id: int, *, concurrency: int = 4, limit: int | None = None
    ) -> PageStream[ProductEssence]:
        """Every line of the contact's cart, each once.

        Args:
            contact_id: the contact's id.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many items without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `concurrency` or
                `limit` is not an int (raised here, before any request).
            ValueError: `contact_id` is not positive, `concurrency` is below 1 or `limit` is
                negative (raised here, before any request).
            NotFoundError: while iterating, no contact has this id.
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for item in client.contacts.stream_cart(5):
                print(item)
            ```
        """
        return self._each(self.cart, contact_id, concurrency, limit)

    async def invoices(self, contact_id: int, page: int = 1, limitation: int = 20) -> Page[Invoice]:
        """One page of the contact's invoices (`GET /contacts/{contactId}/invoices`).

        Args:
            contact_id: the contact's id.
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page of invoices.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `page` or
                `limitation` is not an int (no request is sent).
            ValueError: `contact_id` is not positive, or `page` or `limitation` is out of range (no
                request is sent).
            NotFoundError: no contact has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.contacts.invoices(5)
            print([invoice.order_id for invoice in page])
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        template = "/contacts/{contactId}/invoices"
        return await self._page(Page[Invoice], "contacts.invoices", template, ids, page, limitation)

    def stream_invoices(
        self, contact_id: int, *, concurrency: int = 4, limit: int | None = None
    ) -> PageStream[Invoice]:
        """Every invoice of the contact, each once (by `order_id`).

        Args:
            contact_id: the contact's id.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many items without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `concurrency` or
                `limit` is not an int (raised here, before any request).
            ValueError: `contact_id` is not positive, `concurrency` is below 1 or `limit` is
                negative (raised here, before any request).
            NotFoundError: while iterating, no contact has this id.
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for item in client.contacts.stream_invoices(5):
                print(item)
            ```
        """
        return self._each(self.invoices, contact_id, concurrency, limit, _invoice_key)

    async def invoice(self, contact_id: int, order_id: str) -> Invoice:
        """One invoice by its order id (`GET /contacts/{contactId}/invoices/{orderId}`).

        Args:
            contact_id: the contact's id.
            order_id: the invoice's order id (such as a UUID).

        Returns:
            The invoice.

        Raises:
            TypeError: `contact_id` is not an int or a string of ASCII digits, or `order_id` not a
                str (no request is sent).
            ValueError: `contact_id` is not positive, or `order_id` is empty, padded with spaces,
                `.` or `..` (no request is sent).
            NotFoundError: the contact or the invoice does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            invoice = await client.contacts.invoice(5, "2f0c6a1e-3b1d-4c55-9a37-1b2f1d7e9c10")
            print(invoice.paid)
            ```
        """
        ids = (check_id("contact_id", contact_id), check_segment("order_id", order_id))
        template = "/contacts/{contactId}/invoices/{orderId}"
        return await self._get(Invoice, "contacts.invoice", template, ids)

    async def create_invoice(
        self, contact_id: int, *, essence_id: int, payment_system_id: int
    ) -> Invoice:
        """Create an invoice for a product variant (`POST /contacts/{contactId}/invoices`).

        Args:
            contact_id: the contact's id.
            essence_id: the [ProductEssence][smartsender_async.ProductEssence] to bill.
            payment_system_id: the payment system (a [Cashier][smartsender_async.Cashier] id).

        Returns:
            The created invoice.

        Raises:
            TypeError: `contact_id` or `essence_id` or `payment_system_id` is not an int or a string
                of ASCII digits (no request is sent).
            ValueError: `contact_id` or `essence_id` or `payment_system_id` is not positive (no
                request is sent).
            NotFoundError: the contact, the variant or the payment system does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            invoice = await client.contacts.create_invoice(
                5, essence_id=31, payment_system_id=2
            )
            print(invoice.order_id)
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        body = {
            "essenceId": check_id("essence_id", essence_id),
            "paymentSystemId": check_id("payment_system_id", payment_system_id),
        }
        template = "/contacts/{contactId}/invoices"
        return await self._create(Invoice, "POST", "contacts.create_invoice", template, ids, body)

    async def pay_invoice(
        self,
        contact_id: int,
        *,
        order_id: str,
        essence_id: int,
        payment_system_id: int,
        amount: float,
        currency: str,
        date: datetime | date | str,
    ) -> Invoice:
        """Record a payment made outside Smart Sender (`PUT /contacts/{contactId}/invoices`).

        Pays the invoice `order_id`, or creates and pays it when missing; an amount below the total
        still counts as paid. Not retried once the request may have reached the server.

        Args:
            contact_id: the contact's id.
            order_id: the invoice's order id.
            essence_id: the product variant paid for.
            payment_system_id: the payment system (a [Cashier][smartsender_async.Cashier] id).
            amount: the amount paid (positive; an int, a float or a Decimal).
            currency: a 3-letter code; sent lower-case (`"UAH"` → `"uah"`).
            date: when it was paid: a datetime (an aware one is converted to UTC), a date (midnight)
                or a `"YYYY-MM-DD HH:MM:SS"` string (other forms, ISO 8601's `T` included, are
                refused: pass a datetime instead).

        Returns:
            The paid invoice.

        Raises:
            TypeError: an id, `amount`, `currency` or `date` has the wrong type (no request is
                sent).
            ValueError: an id is not positive, `amount` is not positive, `currency` is not 3
                letters, or `date` is not a valid time (no request is sent).
            NotFoundError: the contact, the variant or the payment system does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            from datetime import datetime, timezone

            await client.contacts.pay_invoice(
                5,
                order_id="A-1001",
                essence_id=31,
                payment_system_id=2,
                amount=250,
                currency="UAH",
                date=datetime.now(timezone.utc),
            )
            ```
        """
        ids = (check_id("contact_id", contact_id),)
        body = {
            "date": _check_date(date),
            "amount": _check_amount(amount),
            "currency": _check_currency(currency),
            "orderId": check_segment("order_id", order_id),
            "essenceId": check_id("essence_id", essence_id),
            "paymentSystemId": check_id("payment_system_id", payment_system_id),
        }
        template = "/contacts/{contactId}/invoices"
        return await self._create(
            Invoice, "PUT", "contacts.pay_invoice", template, ids, body, idempotent=False
        )

    # ------------------------------------------------------------------ helpers

    def _each(
        self,
        pages: Callable[[int, int, int], Awaitable[Page[T]]],
        contact_id: Any,
        concurrency: Any,
        limit: Any,
        key: Callable[[T], Hashable] = by_identity,
    ) -> PageStream[T]:
        """A stream over one of the contact's lists (`pages(contact_id, page, limitation)`)."""
        contact = check_id("contact_id", contact_id)

        async def fetch(page: int, limitation: int) -> Page[T]:
            return await pages(contact, page, limitation)

        return self._stream(fetch, concurrency, limit, key)
