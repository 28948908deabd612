"""Helpers shared by the resources' `stream*` methods."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from operator import attrgetter
from typing import Any

from smartsender_async.models.common import Page
from smartsender_async.models.messages import Message
from smartsender_async.pagination import PageStream
from smartsender_async.resources._base import MAX_LIMITATION, check_int

__all__ = ["by_id", "check_stream_args", "message_stream", "since_stop"]

#: De-duplication key of every streamed model.
by_id: Callable[[Any], int] = attrgetter("id")


def check_stream_args(concurrency: Any, limit: Any) -> None:
    """`concurrency` >= 1 and `limit` None or >= 0, checked before any I/O."""
    check_int("concurrency", concurrency, 1)
    if limit is not None:
        check_int("limit", limit, 0)


def since_stop(since: datetime | None) -> Callable[[Message], bool] | None:
    """The stop predicate for `since=`: the first message created before `since`.

    A naive `since` is taken as UTC, like the API's own zone-less timestamps.
    """
    if since is None:
        return None
    if not isinstance(since, datetime):
        raise TypeError(f"since must be a datetime, got {since!r}")
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    bound = since

    def older(message: Message) -> bool:
        created = message.created_at
        return created is not None and created < bound

    return older


def message_stream(
    fetch_page: Callable[[int, int], Awaitable[Page[Message]]],
    *,
    since: datetime | None,
    concurrency: int,
    limit: int | None,
) -> PageStream[Message]:
    """A newest-first message stream over `fetch_page(page, limitation)`."""
    check_stream_args(concurrency, limit)
    stop = since_stop(since)

    async def fetch(page: int) -> Page[Message]:
        return await fetch_page(page, MAX_LIMITATION)

    return PageStream(fetch, concurrency=concurrency, limit=limit, key=by_id, stop=stop)
