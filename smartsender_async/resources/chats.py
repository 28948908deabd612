"""`client.chats`: list, get, read, close, assign, messages."""

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
    """Chats: `GET /chats` and `/chats/{chatId}/…`, reached as `client.chats`.

    Every method checks its arguments before anything is sent.

    Example:
        ```python
        async with SmartSender() as client:
            async for chat in client.chats.stream(state="open", limit=10):
                print(chat.id, chat.name)
        ```
    """

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
        """One page of chats (`GET /chats`).

        Args:
            page: 1-based page number.
            limitation: page size, 1..20.
            term: a search keyword.
            state: `"open"` or `"closed"`.
            selector: `"none"` (all), `"private"` (one operator's; needs
                `operator_id`) or `"unread"`.
            operator_id: the operator for `selector="private"`.

        Returns:
            The page; iterate it for its chats, `page.cursor` says where it sits.

        Raises:
            TypeError: an argument has the wrong type (no request is sent).
            ValueError: `page` or `limitation` is out of range, `state` or `selector` is not
                one of the values above, or `operator_id` is missing for (or given without)
                `selector="private"` (no request is sent).
            APIError: the API answered with an error (a subclass per status, such as
                `AuthenticationError` or `RateLimitedError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.chats.list(state="open", limitation=5)
            for chat in page:
                print(chat.id, chat.unread_messages)
            ```
        """
        filters = chat_filters(term, state, selector, operator_id)
        return await self._page(Page[Chat], "chats.list", "/chats", (), page, limitation, **filters)

    async def get(self, chat_id: int) -> Chat:
        """One chat (`GET /chats/{chatId}`).

        Args:
            chat_id: the chat's id.

        Returns:
            The chat.

        Raises:
            TypeError: `chat_id` is not an int or a string of ASCII digits.
            ValueError: `chat_id` is not positive.
            NotFoundError: no chat has this id.
            APIError: any other error answer.
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            chat = await client.chats.get(48213)
            print(chat.contact.full_name if chat.contact else None)
            ```
        """
        ids = (check_id("chat_id", chat_id),)
        return await self._get(Chat, "chats.get", "/chats/{chatId}", ids)

    async def read(self, chat_id: int) -> None:
        """Mark every message in the chat as read (`PUT /chats/{chatId}/read`).

        Args:
            chat_id: the chat's id.

        Raises:
            TypeError: `chat_id` is not an int or a string of ASCII digits.
            ValueError: `chat_id` is not positive.
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no chat has this id.
            APIError: any other error answer.
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.chats.read(48213)
            ```
        """
        ids = (check_id("chat_id", chat_id),)
        await self._ack("PUT", "chats.read", "/chats/{chatId}/read", ids)

    async def close(self, chat_id: int) -> None:
        """Close the chat (`PUT /chats/{chatId}/close`).

        Args:
            chat_id: the chat's id.

        Raises:
            TypeError: `chat_id` is not an int or a string of ASCII digits.
            ValueError: `chat_id` is not positive.
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no chat has this id.
            APIError: any other error answer.
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.chats.close(48213)
            ```
        """
        ids = (check_id("chat_id", chat_id),)
        await self._ack("PUT", "chats.close", "/chats/{chatId}/close", ids)

    async def assign(self, chat_id: int, operator_id: int, *, text: str | None = None) -> None:
        """Forward the chat to an operator (`POST /chats/{chatId}/forward/{operatorId}`).

        This call is never retried once the request may have reached the server.

        Args:
            chat_id: the chat's id.
            operator_id: the operator who takes the chat.
            text: an informative note for the operator.

        Raises:
            TypeError: an id is not an int or a string of ASCII digits, or `text` is not a str.
            ValueError: an id is not positive, or `text` is empty.
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: the chat or the operator does not exist.
            APIError: any other error answer.
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.chats.assign(48213, 7, text="VIP customer, answer first")
            ```
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
        """One page of the chat's messages, newest first (`GET /chats/{chatId}/messages`).

        Args:
            chat_id: the chat's id.
            page: 1-based page number.
            limitation: page size, 1..20.
            activities: also include system/activity messages.

        Returns:
            The page of messages.

        Raises:
            TypeError: `chat_id` is not an id, `page` or `limitation` not an int, or
                `activities` not a bool (no request is sent).
            ValueError: `chat_id` is not positive, or `page` or `limitation` is out of range.
            NotFoundError: no chat has this id.
            APIError: any other error answer.
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.chats.messages(48213, limitation=10)
            for message in page:
                print(message.created_at, message.id)
            ```
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
        """Every chat matching the filters, each once, fetching `concurrency` pages at a time.

        Use `async for chat in client.chats.stream(...)` (or `async with` it).  Chats
        come in list order (most recently updated first).  A chat that moves to the head of
        the list during the walk is still delivered: after its pass the stream re-reads the
        head pages (up to `HEAD_RESCANS` times) until it meets chats unchanged since the
        walk began.  The guide "Streams and fan-out" states the exact guarantees.

        Args:
            term: a search keyword.
            state: `"open"` or `"closed"`.
            selector: `"none"`, `"private"` (needs `operator_id`) or `"unread"`.
            operator_id: the operator for `selector="private"`.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many chats without fetching unneeded pages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: an argument has the wrong type (raised here, before any request).
            ValueError: a filter value is not allowed, `concurrency` is below 1 or `limit`
                negative (raised here, before any request).
            APIError: while iterating, the API answered with an error.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for chat in client.chats.stream(selector="unread", limit=50):
                print(chat.id)
            ```
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

        Args:
            chat_id: the chat's id.
            activities: also include system/activity messages.
            since: stop at the first message created before this time (a naive datetime is
                taken as UTC) and fetch no page after that one.
            concurrency: how many pages are fetched at once, at least 1.
            limit: stop after this many messages (`None`: all).

        Returns:
            A stream; nothing is sent until it is iterated.

        Raises:
            TypeError: `chat_id` is not an id, `activities` not a bool, `since` not a
                datetime, or `concurrency`/`limit` not an int (raised here, before any request).
            ValueError: `chat_id` is not positive, `concurrency` below 1 or `limit` negative.
            NotFoundError: while iterating, no chat has this id.
            APIError: while iterating, any other error answer.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            from datetime import datetime, timedelta, timezone

            since = datetime.now(timezone.utc) - timedelta(days=1)
            async for message in client.chats.stream_messages(48213, since=since):
                print(message.created_at)
            ```
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
        """`(chat, message)` pairs for many chats under one bound of `concurrency` requests.

        Each chat's messages come newest first, each once.

        Args:
            chats: the chats to read; defaults to every chat (`self.stream()`).  A list or
                tuple may hold chat ids instead of chats (each is then yielded as
                `Chat(id=...)`); any other iterable or async iterable must yield `Chat`s.
            concurrency: how many requests run at once over all chats, at least 1.
            since: per chat, stop at the first message created before this time (naive is UTC).
            activities: also include system/activity messages.

        Returns:
            A fan-out stream of `(chat, message)` pairs; nothing is sent until it is iterated.

        Raises:
            TypeError: `chats` is not an iterable, an id in a list is not an int, `since` is
                not a datetime or `activities` not a bool (raised here, before any request).
            ValueError: an id is not positive or `concurrency` is below 1.
            APIError: while iterating, the API answered with an error.
            APIConnectionError: while iterating, the server could not be reached.

        Example:
            ```python
            async for chat, message in client.chats.stream_all_messages([48213, 48214]):
                print(chat.id, message.id)
            ```
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
