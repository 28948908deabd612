"""Models shared by every area: `Cursor`, `Page` and `ResponseInfo`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["EMPTY", "Cursor", "Page", "ResponseInfo"]

T = TypeVar("T")

#: The shared empty mapping used for ``extra`` when the server sent nothing unmapped.
EMPTY: Mapping[str, Any] = {}


@attrs.frozen
class ResponseInfo:
    """How a response was obtained: retries taken and time spent waiting on rate limits.

    Attached to every model returned by a client call as `.response_info`.

    Attributes:
        retries_taken: retries taken before this response (0 when the first attempt succeeded).
        rate_limit_wait: seconds spent waiting for the rate limiter and lock gate, over all
            attempts.
        status_code: HTTP status of the final response.

    Example:
        ```python
        project = await client.me()
        assert project.response_info is not None
        print(project.response_info.retries_taken, project.response_info.rate_limit_wait)
        ```
    """

    #: Retries taken before this response (0 when the first attempt succeeded).
    retries_taken: int = 0
    #: Seconds spent waiting for the rate limiter and lock gate, over all attempts.
    rate_limit_wait: float = 0.0
    #: HTTP status of the final response.
    status_code: int = 200


@attrs.frozen
class Cursor:
    """Where a page sits: `page` (1-based) of `pages`.

    Only `page` and `pages` are known to exist; any other cursor field the server sends
    (`total`, `limitation`?) is kept in `extra`.

    Attributes:
        page: this page's number, from 1.
        pages: how many pages the list has.
        extra: any other cursor field the server sent.

    Example:
        ```python
        page = await client.tags.list()
        if page.cursor.has_next:
            page = await client.tags.list(page=page.cursor.page + 1)
        ```
    """

    page: int
    pages: int
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)

    @property
    def has_next(self) -> bool:
        """Whether a page after this one exists."""
        return self.page < self.pages


@attrs.frozen
class Page(Generic[T]):
    """One page of a list endpoint: `{"cursor": Cursor, "collection": [...]}`.

    Iterating a page iterates its items; `len(page)` is the number of items on it and `page[0]`
    the first.

    Attributes:
        cursor: where the page sits ([Cursor][smartsender_async.Cursor]).
        items: the page's items, in the server's order.
        extra: top-level fields of the answer other than `cursor` and `collection`.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.

    Example:
        ```python
        page = await client.chats.list(limitation=5)
        print(len(page), page.cursor.pages)
        for chat in page:
            print(chat.id)
        ```
    """

    cursor: Cursor
    items: tuple[T, ...] = ()
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]
