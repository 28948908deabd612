"""``client.chats``: list, get, read, close, assign, messages."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from datetime import datetime, timezone
from typing import Any

from smartsender_async.models.chats import Chat
from smartsender_async.models.common import Page
from smartsender_async.models.messages import Message
from smartsender_async.pagination import FanOutStream, PageStream
from smartsender_async.resources._base import (
    MAX_LIMITATION,
    check_bool,
    check_choice,
    check_id,
    check_text,
)
from smartsender_async.resources._shapes import ApiResource
from smartsender_async.resources._streams import (
    by_id,
    check_stream_args,
    message_stream,
    since_stop,
)

__all__ = ["CHAT_STATES", "SELECTORS", "ChatsResource"]

#: Values of ``state``.
CHAT_STATES = ("open", "closed")
#: Values of ``selector`` (``selector[name]`` on the wire).
SELECTORS = ("none", "private", "unread")
#: How many times a chat stream re-reads the head of the list after its pass.
HEAD_RESCANS = 3

_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


def _chat_order(chat: Chat) -> datetime:
    return chat.updated_at or _OLDEST


def chat_filters(
    term: str | None, state: str | None, selector: str | None, operator_id: int | None
) -> dict[str, Any]:
    """Validate the chat-list filters and spell them as the API's query keys."""
    params: dict[str, Any] = {}
    if term is not None:
        params["term"] = check_text("term", term)
    if state is not None:
        params["state"] = check_choice("state", state, CHAT_STATES)
    if selector is not None:
        params["selector[name]"] = check_choice("selector", selector, SELECTORS)
    if selector == "private":
        if operator_id is None:
            raise ValueError("selector='private' needs operator_id (whose chats to list)")
        params["selector[operatorId]"] = check_id("operator_id", operator_id)
    elif operator_id is not None:
        raise ValueError("operator_id is only used with selector='private'")
    return params


class ChatsResource(ApiResource):
    """Chats: ``GET /chats`` and ``/chats/{chatId}/…``."""

    __slots__ = ()

    async def list(
        self,
        page: int = 1,
        limitation: int = 20,
        *,
        term: str | None = None,
        state: str | None = None,
        selector: str | None = None,
        operator_id: int | None = None,
    ) -> Page[Chat]:
        """One page of chats (``GET /chats``).

        Args:
            page: 1-based page number.
            limitation: page size, 1..20.
            term: a search keyword.
            state: ``"open"`` or ``"closed"``.
            selector: ``"none"`` (all), ``"private"`` (one operator's; needs
                ``operator_id``) or ``"unread"``.
            operator_id: the operator for ``selector="private"``.
        """
        filters = chat_filters(term, state, selector, operator_id)
        return await self._page(Page[Chat], "chats.list", "/chats", (), page, limitation, **filters)

    async def get(self, chat_id: int) -> Chat:
        """One chat (``GET /chats/{chatId}``)."""
        ids = (check_id("chat_id", chat_id),)
        return await self._get(Chat, "chats.get", "/chats/{chatId}", ids)

    async def read(self, chat_id: int) -> None:
        """Mark every message in the chat as read (``PUT /chats/{chatId}/read``)."""
        ids = (check_id("chat_id", chat_id),)
        await self._ack("PUT", "chats.read", "/chats/{chatId}/read", ids)

    async def close(self, chat_id: int) -> None:
        """Close the chat (``PUT /chats/{chatId}/close``)."""
        ids = (check_id("chat_id", chat_id),)
        await self._ack("PUT", "chats.close", "/chats/{chatId}/close", ids)

    async def assign(self, chat_id: int, operator_id: int, *, text: str | None = None) -> None:
        """Forward the chat to an operator (``POST /chats/{chatId}/forward/{operatorId}``).

        ``text`` is an informative note for the operator.  This call is never retried once
        the request may have reached the server.
        """
        ids = (check_id("chat_id", chat_id), check_id("operator_id", operator_id))
        body: dict[str, Any] = {}
        if text is not None:
            body["text"] = check_text("text", text)
        template = "/chats/{chatId}/forward/{operatorId}"
        await self._ack("POST", "chats.assign", template, ids, body, idempotent=False)

    async def messages(
        self, chat_id: int, page: int = 1, limitation: int = 20, *, activities: bool = False
    ) -> Page[Message]:
        """One page of the chat's messages, newest first (``GET /chats/{chatId}/messages``).

        ``activities=True`` includes system/activity messages.
        """
        ids = (check_id("chat_id", chat_id),)
        return await self._page(
            Page[Message],
            "chats.messages",
            "/chats/{chatId}/messages",
            ids,
            page,
            limitation,
            activities=1 if check_bool("activities", activities) else None,
        )

    # ------------------------------------------------------------------ streams

    def stream(
        self,
        *,
        term: str | None = None,
        state: str | None = None,
        selector: str | None = None,
        operator_id: int | None = None,
        concurrency: int = 4,
        limit: int | None = None,
    ) -> PageStream[Chat]:
        """Every chat matching the filters, each once, fetching ``concurrency`` pages at a time.

        Use ``async for chat in client.chats.stream(...)`` (or ``async with`` it).  Chats
        come in list order (most recently updated first).  A chat that moves to the head of
        the list during the walk is still delivered: after its pass the stream re-reads the
        head pages (up to ``HEAD_RESCANS`` times) until it meets chats unchanged since the
        walk began.  ``limit`` stops after that many chats without fetching unneeded pages.
        See README "Streaming" for the exact guarantees.
        """
        chat_filters(term, state, selector, operator_id)  # reject bad filters before any I/O
        check_stream_args(concurrency, limit)

        async def fetch(page: int) -> Page[Chat]:
            return await self.list(
                page,
                MAX_LIMITATION,
                term=term,
                state=state,
                selector=selector,
                operator_id=operator_id,
            )

        return PageStream(
            fetch,
            concurrency=concurrency,
            limit=limit,
            key=by_id,
            head_rescans=HEAD_RESCANS,
            order_key=_chat_order,
        )

    def stream_messages(
        self,
        chat_id: int,
        *,
        activities: bool = False,
        since: datetime | None = None,
        concurrency: int = 4,
        limit: int | None = None,
    ) -> PageStream[Message]:
        """Every message of the chat, newest first, each once.

        ``since`` stops at the first message created before it (a naive datetime is taken
        as UTC) and fetches no page after that one.
        """
        chat_id = check_id("chat_id", chat_id)
        activities = check_bool("activities", activities)

        async def fetch(page: int, limitation: int) -> Page[Message]:
            return await self.messages(chat_id, page, limitation, activities=activities)

        return message_stream(fetch, since=since, concurrency=concurrency, limit=limit)

    def stream_all_messages(
        self,
        chats: Iterable[Chat | int] | AsyncIterable[Chat] | None = None,
        *,
        concurrency: int = 8,
        since: datetime | None = None,
        activities: bool = False,
    ) -> FanOutStream[Chat, Message]:
        """``(chat, message)`` pairs for many chats under one bound of ``concurrency`` requests.

        ``chats`` defaults to every chat (``self.stream()``); a list or tuple may hold chat
        ids instead of chats (each is then yielded as ``Chat(id=...)``).  Each chat's messages come
        newest first, each once; ``since`` applies per chat.
        """
        check_stream_args(concurrency, None)
        activities = check_bool("activities", activities)
        stop = since_stop(since)
        parents: Iterable[Chat] | AsyncIterable[Chat]
        if chats is None:
            parents = self.stream(concurrency=concurrency)
        elif isinstance(chats, (list, tuple)):
            # Chat ids are accepted too; checked here, before any request.
            parents = [c if isinstance(c, Chat) else Chat(id=check_id("chats[]", c)) for c in chats]
        elif isinstance(chats, (Iterable, AsyncIterable)):
            parents = chats  # type: ignore[assignment]
        else:
            raise TypeError(f"chats must be an iterable of Chat (or chat ids), got {chats!r}")

        async def fetch(chat: Chat, page: int) -> Page[Message]:
            return await self.messages(chat.id, page, MAX_LIMITATION, activities=activities)

        return FanOutStream(
            parents,
            fetch,
            concurrency=concurrency,
            key=by_id,
            stop=stop,
            close_parents=chats is None,
        )
