"""``client.contacts``: get, list, search, chat, messages, send."""

from __future__ import annotations

import time
from datetime import datetime

from smartsender_async.models.chats import Chat
from smartsender_async.models.common import Page
from smartsender_async.models.contacts import Contact
from smartsender_async.models.messages import Message
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
from smartsender_async.resources._base import (
    Resource,
    check_bool,
    check_id,
    check_text,
    page_params,
)
from smartsender_async.resources._streams import message_stream

__all__ = ["ContactsResource"]

_OUTGOING = (Text, Picture, File, Video, Audio, Voice, Animation, Location, ContactCard)


class ContactsResource(Resource):
    """Contacts: ``/contacts`` and ``/contacts/{contactId}/…``."""

    __slots__ = ()

    async def get(self, contact_id: int) -> Contact:
        """One contact (``GET /contacts/{contactId}``)."""
        contact_id = check_id("contact_id", contact_id)
        return await self._client.request("GET", f"/contacts/{contact_id}", model=Contact)

    async def list(self, page: int = 1, limitation: int = 20) -> Page[Contact]:
        """One page of the project's contacts (``GET /contacts``)."""
        params = page_params(page, limitation)
        return await self._client.request("GET", "/contacts", params=params, model=Page[Contact])

    async def search(self, term: str, page: int = 1, limitation: int = 20) -> Page[Contact]:
        """Contacts matching ``term`` (``GET /contacts/search``); ``term`` must not be empty."""
        term = check_text("term", term)
        params = page_params(page, limitation)
        params["term"] = term
        return await self._client.request(
            "GET", "/contacts/search", params=params, model=Page[Contact]
        )

    async def chat(self, contact_id: int) -> Chat:
        """The contact's chat (``GET /contacts/{contactId}/chat``)."""
        contact_id = check_id("contact_id", contact_id)
        return await self._client.request("GET", f"/contacts/{contact_id}/chat", model=Chat)

    async def messages(
        self, contact_id: int, page: int = 1, limitation: int = 20, *, activities: bool = False
    ) -> Page[Message]:
        """One page of the contact's messages, newest first (``GET /contacts/{id}/messages``)."""
        contact_id = check_id("contact_id", contact_id)
        params = page_params(page, limitation, activities=activities)
        return await self._client.request(
            "GET", f"/contacts/{contact_id}/messages", params=params, model=Page[Message]
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
        """Every message of the contact, newest first, each once (see ``chats.stream_messages``)."""
        contact_id = check_id("contact_id", contact_id)
        activities = check_bool("activities", activities)

        async def fetch(page: int, limitation: int) -> Page[Message]:
            return await self.messages(contact_id, page, limitation, activities=activities)

        return message_stream(fetch, since=since, concurrency=concurrency, limit=limit)

    async def send(self, contact_id: int, message: OutgoingMessage | str) -> Message:
        """Send a message to the contact (``POST /contacts/{contactId}/send``).

        ``message`` is one of :mod:`smartsender_async.outgoing`'s classes (``Text``,
        ``Picture``, ``File``, ``Video``, ``Audio``, ``Voice``, ``Animation``,
        ``Location``, ``ContactCard``) or a plain ``str`` for text.  Returns the sent
        :class:`Message`.  A send is never retried once the request may have reached the
        server, so it is never duplicated.
        """
        contact_id = check_id("contact_id", contact_id)
        if isinstance(message, str):
            message = Text(message)
        if not isinstance(message, _OUTGOING):
            raise TypeError(
                "message must be a str or one of Text, Picture, File, Video, Audio, Voice, "
                f"Animation, Location, ContactCard; got {message!r}"
            )
        body = message.to_body(int(time.time()))
        return await self._client.request(
            "POST", f"/contacts/{contact_id}/send", json_body=body, model=Message, idempotent=False
        )
