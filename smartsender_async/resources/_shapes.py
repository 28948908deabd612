"""The shapes every API call takes, each written once: a page, a stream, a get, an
acknowledged write and a create.

A resource method is its argument checks plus one call here, naming the operation
(`"tags.create"`) and the path template (`"/tags/{tagId}"`, placeholders named as in the
reference).  The template is filled with the checked ids, and both names go to
`SmartSender.request` for tracing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, get_args
from urllib.parse import quote
from uuid import UUID

from smartsender_async.models.common import Page
from smartsender_async.pagination import PageStream
from smartsender_async.resources._base import MAX_LIMITATION, Resource, check_text, page_params
from smartsender_async.resources._streams import check_stream_args

__all__ = [
    "ApiResource",
    "Listing",
    "SearchableListing",
    "by_identity",
    "check_key",
    "check_opt_text",
    "check_segment",
    "fill",
]

T = TypeVar("T")
P = TypeVar("P", bound=Page[Any])
M = TypeVar("M")

_PLACEHOLDER = re.compile(r"\{[^{}]+\}")
_SPLIT: dict[str, list[str]] = {}


def fill(template: str, ids: Iterable[int | str]) -> str:
    """`fill("/contacts/{contactId}/tags/{tagId}", (5, 7))` → `"/contacts/5/tags/7"`.

    Ids fill the placeholders in order; a string id is percent-encoded, so a funnel key
    or an order id can never step out of its path segment.
    """
    parts = _SPLIT.get(template)
    if parts is None:
        parts = _SPLIT[template] = _PLACEHOLDER.split(template)
    values = [str(i) if i.__class__ is int else _segment(str(i)) for i in ids]
    if len(values) != len(parts) - 1:
        raise ValueError(f"{template} takes {len(parts) - 1} ids, got {len(values)}")
    out = [parts[0]]
    for value, part in zip(values, parts[1:], strict=True):
        out += (value, part)
    return "".join(out)


def _segment(text: str) -> str:
    if not text.strip(".") or text != text.strip():
        # "." and ".." would be resolved away by the URL: "/contacts/5/funnels/.." is
        # "/contacts/5", another operation entirely.
        raise ValueError(f"{text!r} cannot be a path segment")
    return quote(text, safe="")


def check_segment(name: str, value: Any) -> str:
    """A string id that goes into the path (an invoice's `orderId`): non-empty, no
    surrounding spaces, and not `.` or `..` (which a URL resolves away)."""
    if isinstance(value, UUID):  # an order id is a UUID in the documented example
        value = str(value)
    text = check_text(name, value)
    if text != text.strip() or not text.strip("."):
        raise ValueError(f"{name} must be an id such as a UUID, got {value!r}")
    return text


def check_key(name: str, value: Any) -> int | str:
    """A path key that may be a number or a string (a funnel's `serviceKey`, a group's
    `serviceId`): a positive int, or a non-empty string without surrounding spaces."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a str, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an int or a str, got {value!r}")
    if not value.strip(". \t\r\n") or value != value.strip():
        raise ValueError(
            f"{name} must be a non-empty key without surrounding spaces, got {value!r}"
        )
    return value


def check_opt_text(name: str, value: Any) -> str | None:
    """`None` or a non-empty string (an optional `term`, `description`...)."""
    return None if value is None else check_text(name, value)


def by_identity(item: Any) -> Hashable:
    """A streamed item's identity: its `id`; an item without one is never a duplicate."""
    ident = getattr(item, "id", None)
    return object() if ident is None else ident


class ApiResource(Resource):
    """A `Resource` with the call shapes as methods."""

    __slots__ = ()

    async def _page(
        self,
        page_type: type[P],
        operation: str,
        template: str,
        ids: tuple[int | str, ...] = (),
        page: Any = 1,
        limitation: Any = 20,
        **query: Any,
    ) -> P:
        """`GET` one page; `query` entries that are `None` are left out."""
        params = page_params(page, limitation)
        params.update((k, v) for k, v in query.items() if v is not None)
        return await self._client.request(
            "GET",
            fill(template, ids),
            params=params,
            model=page_type,
            operation=operation,
            template=template,
        )

    async def _get(
        self, model: type[M], operation: str, template: str, ids: tuple[int | str, ...] = ()
    ) -> M:
        """`GET` one object."""
        return await self._client.request(
            "GET", fill(template, ids), model=model, operation=operation, template=template
        )

    async def _create(
        self,
        model: type[M],
        method: str,
        operation: str,
        template: str,
        ids: tuple[int | str, ...] = (),
        body: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> M:
        """A write whose answer is the object written (`POST /tags` → Tag);
        `{"state": false}` raises `smartsender_async.errors.WriteRejectedError`."""
        return await self._client._write(
            method,
            fill(template, ids),
            json_body=None if body is None else dict(body),
            model=model,
            idempotent=idempotent,
            operation=operation,
            template=template,
        )

    async def _ack(
        self,
        method: str,
        operation: str,
        template: str,
        ids: tuple[int | str, ...] = (),
        body: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
        inferred: bool = False,
    ) -> None:
        """A write answered `{"state": true}`; `{"state": false}` raises
        `smartsender_async.errors.WriteRejectedError`.

        `inferred`: the reference only infers the `{"state": true}` answer (its
        response block was lost), so an empty 2xx body or an object without `state` is
        taken as success too, rather than raising after a write that went through."""
        await self._client._acknowledge(
            method,
            fill(template, ids),
            json_body=None if body is None else dict(body),
            idempotent=idempotent,
            operation=operation,
            template=template,
            tolerant=inferred,
        )

    @staticmethod
    def _stream(
        fetch: Callable[[int, int], Awaitable[Page[T]]],
        concurrency: Any,
        limit: Any,
        key: Callable[[T], Hashable] = by_identity,
    ) -> PageStream[T]:
        """Every item of a list, `concurrency` pages at a time, each once;
        `fetch(page, limitation)` is the resource's own page method."""
        check_stream_args(concurrency, limit)

        async def fetch_page(page: int) -> Page[T]:
            return await fetch(page, MAX_LIMITATION)

        return PageStream(fetch_page, concurrency=concurrency, limit=limit, key=key)


class _Area(ApiResource, Generic[T]):
    """An API area with a list: a subclass names its area, `class TagsResource(
    SearchableListing[Tag], area="tags")`, and gets `list` on `GET /tags` decoded as
    `Page[Tag]` (operation `"tags.list"`)."""

    __slots__ = ()
    _page_type: ClassVar[type[Page[Any]]]
    _area: ClassVar[str]
    _path: ClassVar[str]

    def __init_subclass__(cls, area: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if area is not None:
            (item,) = get_args(cls.__orig_bases__[0])  # type: ignore[attr-defined]
            cls._page_type, cls._area, cls._path = Page[item], area, f"/{area}"  # type: ignore[valid-type]


class Listing(_Area[T]):
    """An area whose list is `GET /<area>?page&limitation`: `list` and `stream`."""

    __slots__ = ()

    async def list(self, page: int = 1, limitation: int = 20) -> Page[T]:
        """One page of the list (`GET /<area>?page=&limitation=`).

        Args:
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page; iterate it for its items, `page.cursor` says where it sits.

        Raises:
            TypeError: `page` or `limitation` is not an int (no request is sent).
            ValueError: `page` or `limitation` is out of range (no request is sent).
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            page = await client.operators.list(limitation=10)
            print(page.cursor.pages, [operator.id for operator in page])
            ```
        """
        return await self._page(
            self._page_type, f"{self._area}.list", self._path, (), page, limitation
        )

    def stream(self, *, concurrency: int = 4, limit: int | None = None) -> PageStream[T]:
        """Every item of the list, each once, fetching `concurrency` pages at a time.

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
            async for channel in client.channels.stream(limit=10):
                print(channel.id)
            ```
        """
        return self._stream(self.list, concurrency, limit)


class SearchableListing(_Area[T]):
    """An area whose list takes an optional `term`: `list(term)` and `stream(term)`.

    The server matches `term` partially; filter the results again for an exact name.
    """

    __slots__ = ()

    async def list(self, term: str | None = None, page: int = 1, limitation: int = 20) -> Page[T]:
        """One page of the list, filtered by `term` when given (`GET /<area>?term=`).

        The server matches `term` partially; filter the results again for an exact name.

        Args:
            term: a search keyword (a partial match); `None` lists everything.
            page: 1-based page number.
            limitation: page size, 1..20.

        Returns:
            The page; iterate it for its items.

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
            page = await client.tags.list("vip")
            exact = [tag for tag in page if tag.name == "vip"]
            ```
        """
        term = check_opt_text("term", term)
        return await self._page(
            self._page_type, f"{self._area}.list", self._path, (), page, limitation, term=term
        )

    def stream(
        self, term: str | None = None, *, concurrency: int = 4, limit: int | None = None
    ) -> PageStream[T]:
        """Every item matching `term` (all items without it), each once.

        Fetches `concurrency` pages at a time.

        Args:
            term: a search keyword (a partial match); `None` streams everything.
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
            async for variable in client.variables.stream("city"):
                print(variable.name, variable.type)
            ```
        """
        term = check_opt_text("term", term)

        async def fetch(page: int, limitation: int) -> Page[T]:
            return await self.list(term, page, limitation)

        return self._stream(fetch, concurrency, limit)
