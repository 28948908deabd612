"""The concurrent, ordered page scheduler behind every `stream(...)` method.

A list endpoint is seen here as a function `fetch(page_number) -> Page[T]`. A
`PageStream` walks it: page 1 alone first (it reveals `pages`), then windows of
up to `concurrency` pages fetched at the same time. Items come out in page order,
de-duplicated by id. `FanOutStream` does the same for the children of many parents
(the messages of many chats) under one shared bound.

Structure, and why it is safe
-----------------------------
Neither stream is an async generator and neither keeps a task alive while the consumer
holds control. `__anext__` serves items from a buffer. Only when the buffer is empty does
it open a task group *inside that call*, fetch one window, wait for every request in it,
close the task group and return. So when `async for` hands an item to the loop body,
no request is in flight and no cancel scope is open. `break`, an exception in the loop
body, `aclose()` and garbage collection therefore cannot leak a task, cannot cross a
cancel scope into another task, and cannot send anything afterwards. This holds under
asyncio and trio, and also when the consumer is itself an async generator.

The price is that fetching does not overlap the loop body. With a fixed latency `L` the
stream takes `L * (1 + ceil((n - 1) / concurrency))` for `n` pages plus the consumer's
own time. A rolling window would not do better: memory is bounded at `concurrency`
pages, a finished request does not free memory (only the consumer does), and the consumer
runs outside the call.

Guarantees (churn is described in README "Streaming")
---------------------------------------------------
* Order: items in page order, and in server order within a page.
* Bounded: at most `concurrency` requests in flight, at most `concurrency` pages
  buffered (about `2 * concurrency` for `FanOutStream`), plus the id set.
* Frugal: with `limit`, a page is not requested unless full pages before it could fall
  short of `limit`. A `stop` hit or a failed page cancels later requests of its window.
  An early `break` after the first item has cost page 1 only.
* Errors: an exception from `fetch` (after the client's retries) is raised by
  `__anext__` after every item of the pages before the failed one. Later requests of the
  window are cancelled. The stream is then closed.
* Ending: the pass ends after a page that is empty or whose `cursor.pages` says it is the
  last one. `pages` is re-read from every page, so the walk follows it when it grows or
  shrinks.
* After the end, an error or `aclose()`, `__anext__` raises `StopAsyncIteration` and
  sends nothing.
"""

from __future__ import annotations

import functools
import math
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import anyio

from smartsender_async.models.common import Page

__all__ = ["FanOutStream", "IdSet", "PageStream"]

T = TypeVar("T")
P = TypeVar("P")
C = TypeVar("C")

#: A factory of context managers that each page fetch of a stream runs inside.
Carry = Callable[[], AbstractContextManager[object]]

#: Set by an instrumentation (``contrib.opentelemetry``), ``None`` otherwise.  Called once,
#: when a stream's iteration begins (its first ``__anext__``), in the consumer's task; what
#: it returns is entered around every page fetch of that stream, in the fetch's own task.
#: That is how a trace context current when iteration began reaches the concurrent fetches,
#: whatever is current at later ``__anext__`` calls.
context_carrier: Callable[[], Carry | None] | None = None
_UNCAPTURED: Any = object()

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class SupportsLessThan(Protocol):
    """Anything ordered with `<`: datetimes, numbers, strings."""

    def __lt__(self, other: Any, /) -> bool: ...


class IdSet:
    """A set of ids that costs about 8 bytes per int instead of about 70.

    Ints that fit in 64 bits live in a sorted `array('q')` (binary search) plus a small
    `set` of recent additions, merged into the array when it reaches `tail_size`.
    Anything else (strings, huge ints) goes to a plain `set`; values of other types
    that merely compare equal to an int (`1.0`) are not matched with it. 100,000 chat
    ids cost about 0.8 MB here and about 7 MB in a `set`.
    """

    __slots__ = ("_base", "_other", "_tail", "_tail_size")

    def __init__(self, ids: Iterable[Hashable] = (), *, tail_size: int = 2048) -> None:
        if tail_size < 1:
            raise ValueError("tail_size must be at least 1")
        self._base = array("q")
        self._tail: set[int] = set()
        self._other: set[Hashable] = set()
        self._tail_size = tail_size
        for item in ids:
            self.add(item)

    @staticmethod
    def _compact(item: Hashable) -> bool:
        # bool counts as int, so True and 1 are the same id, as in a plain set.
        return isinstance(item, int) and _INT64_MIN <= item <= _INT64_MAX

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, Hashable):
            return False
        if not self._compact(item):
            return item in self._other
        assert isinstance(item, int)
        if item in self._tail:
            return True
        base = self._base
        index = bisect_left(base, item)
        return index < len(base) and base[index] == item

    def add(self, item: Hashable) -> bool:
        """Add `item`; return `True` if it was not there before."""
        if item.__class__ is int and _INT64_MIN <= item <= _INT64_MAX:
            # The common case (every id of a stream), inlined: called once per item.
            tail = self._tail
            if item in tail:
                return False
            base = self._base
            index = bisect_left(base, item)
            if index < len(base) and base[index] == item:
                return False
            tail.add(item)
            if len(tail) >= self._tail_size:
                self._merge()
            return True
        if item in self:
            return False
        if self._compact(item):
            assert isinstance(item, int)
            self._tail.add(int(item))
            if len(self._tail) >= self._tail_size:
                self._merge()
        else:
            self._other.add(item)
        return True

    def _merge(self) -> None:
        # Merge in place, from the back: grow the array by the tail's size, then move
        # runs of old ids up (memoryview assignment is a memmove) and drop each new id
        # into the gap. The peak is the grown array alone, with no per-id objects.
        new = sorted(self._tail)
        base = self._base
        unmerged = len(base)  # base[:unmerged] still holds old ids, untouched
        base.extend(new)  # values are placeholders, overwritten below
        end = len(base)
        with memoryview(base) as view:
            for item in reversed(new):
                index = bisect_left(base, item, 0, unmerged)
                run = unmerged - index
                view[end - run : end] = view[index:unmerged]
                end -= run + 1
                view[end] = item
                unmerged = index
        self._tail = set()

    def __len__(self) -> int:
        return len(self._base) + len(self._tail) + len(self._other)

    def __repr__(self) -> str:
        return f"<IdSet of {len(self)} ids>"


class _Job:
    """One page request inside a window; `group` is the walk it belongs to."""

    __slots__ = ("call", "group", "page", "result", "scope", "terminal")

    def __init__(
        self,
        group: object,
        page: int,
        call: Callable[[], Awaitable[Page[Any]]],
        terminal: Callable[[Page[Any]], bool],
    ) -> None:
        self.group = group
        self.page = page
        self.call = call
        self.terminal = terminal
        self.result: Page[Any] | Exception | None = None
        self.scope: anyio.CancelScope | None = None


class _StreamBase:
    """Lifecycle, the one-window-per-call runner and the counters both streams share."""

    def __init__(self, concurrency: int) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        self._concurrency = concurrency
        self._buffer: deque[Any] = deque()  # items ready for the consumer
        self._error: Exception | None = None  # raised once the buffer is drained
        self._closed = False
        self._running = False
        self._window: anyio.CancelScope | None = None
        self._in_flight = 0
        #: Page requests started (successful, failed or cancelled).
        self.requests = 0
        #: Page requests that returned a page.
        self.pages_fetched = 0
        #: Items handed to the consumer.
        self.items_yielded = 0
        #: Items dropped because their key had already been delivered.
        self.duplicates = 0
        #: The most page requests that were in flight at the same time.
        self.max_in_flight = 0
        self._carry: Carry | None = _UNCAPTURED  # see context_carrier

    @property
    def concurrency(self) -> int:
        """The most page requests this stream keeps in flight."""
        return self._concurrency

    @property
    def closed(self) -> bool:
        """Whether the stream has ended, failed or been closed; it sends nothing more."""
        return self._closed

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the stream; closing twice is harmless.

        Called from another task while the stream is fetching, it cancels that window; the
        waiting `__anext__` then raises `StopAsyncIteration`.  Leaving an `async with` block
        calls it.

        Example:
            ```python
            stream = client.contacts.stream()
            async for contact in stream:
                if contact.email == "ann@example.com":
                    break
            await stream.aclose()  # cancels the pages still in flight
            ```
        """
        self._close()
        if self._window is not None:
            self._window.cancel()

    def _close(self) -> None:
        self._closed = True
        self._release()

    def _release(self) -> None:
        """Drop buffered data once closed (subclasses extend)."""

    def _enter_anext(self) -> None:
        if self._running:
            raise RuntimeError("anext(): the stream is already being iterated by another task")
        self._running = True

    async def _next_slow(self) -> Any:
        """`__anext__` when the buffer cannot serve it at once: fetch until an item, the
        stored error or the end comes up."""
        self._enter_anext()
        if self._carry is _UNCAPTURED:
            capture = context_carrier
            self._carry = capture() if capture is not None else None
        try:
            while True:
                if self._closed:
                    raise StopAsyncIteration
                if self._buffer:
                    self.items_yielded += 1
                    return self._buffer.popleft()
                if self._error is not None:
                    error = self._error
                    await self.aclose()
                    raise error
                if self._take_ready():
                    continue
                if self._exhausted():
                    await self.aclose()
                    raise StopAsyncIteration
                await self._fill()
        finally:
            self._running = False

    def _take_ready(self) -> bool:
        """Move ready items into the buffer without fetching; whether anything changed."""
        return False

    def _exhausted(self) -> bool:
        """Whether nothing more will come."""
        raise NotImplementedError

    async def _fill(self) -> None:
        """Fetch one window."""
        raise NotImplementedError

    async def _run_window(self, jobs: list[_Job]) -> None:
        """Run `jobs` concurrently and return once every one of them has finished.

        Requests start in list order (each waits for the previous one to have called
        `fetch`), so a server answering in arrival order reads pages in page order.
        A job whose page turned out terminal (failed, empty, `stop` hit) cancels the
        jobs of the same group with a higher page number. Exceptions from `fetch` are
        stored on the job, never raised here.
        """
        cutoff: dict[int, int] = {}

        def terminate(job: _Job) -> None:
            group = id(job.group)
            if job.page < cutoff.get(group, job.page + 1):
                cutoff[group] = job.page
            for other in jobs:
                if other.group is job.group and other.page > job.page and other.scope:
                    other.scope.cancel()

        async def run(job: _Job, previous: anyio.Event | None, started: anyio.Event) -> None:
            with anyio.CancelScope() as scope:
                job.scope = scope
                try:
                    if previous is not None:
                        await previous.wait()
                    if job.page > cutoff.get(id(job.group), job.page):
                        return
                finally:
                    started.set()
                self.requests += 1
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
                carry = self._carry
                try:
                    if carry is None:
                        page = await job.call()
                    else:
                        with carry():
                            page = await job.call()
                except Exception as error:
                    job.result = error
                    terminate(job)
                    return
                finally:
                    self._in_flight -= 1
                self.pages_fetched += 1
                job.result = page
                if _terminal(job):
                    terminate(job)

        try:
            async with anyio.create_task_group() as group:
                self._window = group.cancel_scope
                previous: anyio.Event | None = None
                for job in jobs:
                    started = anyio.Event()
                    group.start_soon(run, job, previous, started)
                    previous = started
        finally:
            self._window = None


def _terminal(job: _Job) -> bool:
    """Whether the walk of `job`'s group ends at its page."""
    assert isinstance(job.result, Page)
    try:
        return job.terminal(job.result)
    except Exception:
        # A failing stop/order_key callback. In-order processing meets the same error
        # and raises it at its position in the stream; here it only ends the walk.
        return True


def _pass_continues(number: int, page: Page[Any]) -> bool:
    """Whether a walk goes on after `page` (number `number`)."""
    return bool(page.items) and number < page.cursor.pages


class PageStream(_StreamBase, Generic[T]):
    """Items of a paged list, fetched up to `concurrency` pages at a time, in page order.

    The resources' `stream*` methods return one; build one yourself for a list the SDK
    does not stream.  Use it as `async for item in stream`, or
    `async with stream as s: async for item in s` to close it even when you stop early.
    An exception raised by `fetch` is raised by the iteration, after the items before it.

    Args:
        fetch: `fetch(n)` returns page `n` (1-based). It should go through the
            client's rate limiter and retries; an exception it raises ends the stream there.
        concurrency: the most page requests in flight, and pages per window.
        limit: stop after this many items; pages that cannot be needed are not fetched.
        key: the item's identity (its id). With it, an item whose key was already
            delivered is dropped. Needed for `head_rescans`.
        stop: stop at the first item for which this returns true, without yielding it
            and without fetching later pages (`since=` on newest-first message lists).
        head_rescans: after the pass, re-read the head of the list up to this many
            times to deliver items that moved to the front while the pass ran (chat lists).
            A rescan runs only if the pass before it read more than one page, and a further
            rescan only if the previous one delivered something new.
        order_key: the list's sort key, descending (a chat's `updated_at`). It lets
            a rescan stop exactly where items unchanged since the previous pass begin: at the
            first item whose key is below the largest key on that pass's page 1. Without it a
            rescan stops after the first page holding an already delivered item.

    Attributes:
        requests: page requests started (successful, failed or cancelled).
        pages_fetched: page requests that returned a page.
        items_yielded: items handed to the consumer.
        duplicates: items dropped because their key had already been delivered.
        max_in_flight: the most page requests that were in flight at the same time.
        rescans: head rescans performed so far.

    Raises:
        ValueError: `concurrency` is not a positive int, `limit` is negative,
            `head_rescans` is negative, or `head_rescans` is given without `key`.
        RuntimeError: while iterating, a second task iterates the same stream at once.

    Example:
        ```python
        from smartsender_async import Page, PageStream, Tag

        async def fetch(n: int) -> Page[Tag]:
            return await client.tags.list(page=n)

        async with PageStream(fetch, concurrency=2, key=lambda tag: tag.id) as tags:
            async for tag in tags:
                print(tag.name)
        print(tags.pages_fetched, tags.duplicates)
        ```
    """

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[Page[T]]],
        *,
        concurrency: int = 4,
        limit: int | None = None,
        key: Callable[[T], Hashable] | None = None,
        stop: Callable[[T], bool] | None = None,
        head_rescans: int = 0,
        order_key: Callable[[T], SupportsLessThan] | None = None,
    ) -> None:
        super().__init__(concurrency)
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            raise ValueError(f"limit must be None or >= 0, got {limit!r}")
        if head_rescans < 0:
            raise ValueError("head_rescans must be >= 0")
        if head_rescans and key is None:
            raise ValueError("head_rescans needs key= to recognise items already delivered")
        self._fetch = fetch
        self._limit = limit
        self._key = key
        self._stop = stop
        self._rescans_left = head_rescans
        self._order_key = order_key
        self._seen = IdSet() if key is not None else None
        self._buffer: deque[T] = deque()
        self._finished = limit == 0
        self._accepted = 0  # items buffered or yielded
        # State of the current pass (the main pass, then each head rescan).
        self._rescanning = False
        self._next_page = 1
        self._last_page: int | None = None  # ``pages`` as last seen; None before page 1
        self._per_page = 0  # items on page 1 of the main pass
        self._watermark: SupportsLessThan | None = None  # where this rescan stops
        self._page1_top: SupportsLessThan | None = None  # largest order key on page 1
        self._new_in_pass = 0
        self._reads_in_pass = 0  # pages of this pass taken in order
        self._shifted = False  # the main pass saw the list move under it
        #: Head rescans performed so far.
        self.rescans = 0

    def __aiter__(self) -> PageStream[T]:
        return self

    async def __aenter__(self) -> PageStream[T]:
        return self

    def _release(self) -> None:
        self._buffer.clear()
        self._error = None

    async def __anext__(self) -> T:
        buffer = self._buffer
        if buffer and not self._running and not self._closed:
            # Served from the buffer without suspending: no other task can interleave.
            self.items_yielded += 1
            return buffer.popleft()
        item: T = await self._next_slow()
        return item

    def _exhausted(self) -> bool:
        return self._finished

    # -- planning and fetching -----------------------------------------------------

    def _plan(self) -> list[int]:
        first = self._next_page
        if self._last_page is None:
            return [first]  # page 1 alone: it tells how many pages there are
        last = min(self._last_page, first + self._concurrency - 1)
        if self._limit is not None and self._per_page:
            # Assume full pages of fresh items: request no page that could not be needed.
            needed = math.ceil((self._limit - self._accepted) / self._per_page)
            last = min(last, first + needed - 1)
        return list(range(first, last + 1))

    def _is_terminal(self, page: Page[Any]) -> bool:
        items = page.items
        if not items:
            return True
        stop = self._stop
        if stop is None and not self._rescan_bounded():
            return False  # only an empty page ends the walk early: skip the per-item scan
        return any((stop is not None and stop(item)) or self._in_place(item) for item in items)

    def _rescan_bounded(self) -> bool:
        """Whether this pass is a rescan that stops at items unchanged since the last one."""
        return self._rescanning and self._order_key is not None and self._watermark is not None

    def _in_place(self, item: T) -> bool:
        """Whether a rescan has reached items that have not moved since the last pass."""
        return (
            self._rescanning
            and self._order_key is not None
            and self._watermark is not None
            and self._order_key(item) < self._watermark
        )

    async def _fill(self) -> None:
        numbers = self._plan()
        fetch = self._fetch
        jobs = [_Job(self, n, functools.partial(fetch, n), self._is_terminal) for n in numbers]
        await self._run_window(jobs)
        if self._closed:
            return
        for job in jobs:
            if isinstance(job.result, Exception):
                self._error = job.result
                return
            if job.result is None:  # cancelled after an earlier terminal page
                return
            try:
                going_on = self._take(job.page, job.result)
            except Exception as error:  # from key, stop or order_key: raise it in place
                self._error = error
                return
            if not going_on:
                return
        self._next_page = numbers[-1] + 1

    def _take(self, number: int, page: Page[T]) -> bool:
        """Buffer the new items of one page, in order; return whether the pass goes on."""
        if self._last_page is not None and page.cursor.pages != self._last_page:
            self._shifted = True
        self._last_page = page.cursor.pages
        self._reads_in_pass += 1
        if number == 1:
            if self._order_key is not None and page.items:
                # Anything changed after this read sorts at or above this key; anything
                # below it was already in place for this pass.
                self._page1_top = max(self._order_key(item) for item in page.items)
            if not self._rescanning:
                self._per_page = len(page.items)
        # Runs once per item: everything the loop reads is a local.
        stop, key, seen, limit = self._stop, self._key, self._seen, self._limit
        buffer = self._buffer
        order_key = self._order_key if self._rescan_bounded() else None
        watermark = self._watermark
        met_delivered = False
        for item in page.items:
            if stop is not None and stop(item):
                self._finished = True
                return False
            if order_key is not None and order_key(item) < watermark:  # _in_place(item)
                self._end_pass()
                return False
            if key is not None:
                assert seen is not None
                if not seen.add(key(item)):
                    self.duplicates += 1
                    met_delivered = True
                    if not self._rescanning:  # in one pass, a repeat means the list shifted
                        self._shifted = True
                    continue
            buffer.append(item)
            self._accepted += 1
            self._new_in_pass += 1
            if limit is not None and self._accepted >= limit:
                self._finished = True
                return False
        if not _pass_continues(number, page) or (
            self._rescanning and self._order_key is None and met_delivered
        ):
            self._end_pass()
            return False
        return True

    def _end_pass(self) -> None:
        # A rescan looks for items that moved to the head while the pass ran, between its
        # read of page 1 and its last read. A pass made of one read (a list that fits on
        # page 1, or a rescan that ended on page 1) has no such interval: nothing to find.
        #
        # Nor has a main pass that saw the list hold still. An item that moved from a page
        # not yet read to the head pushed every item before its old place one step down, so
        # the first page read after the move starts with the last item of the page before
        # it, read before the move: a repeat. (The same holds for an item created at the
        # head.) A main pass with no repeat and a constant page count saw no such move,
        # and a rescan would cost a round trip to find nothing.
        moved = self._rescanning or self._shifted
        if (
            self._rescans_left
            and moved
            and self._accepted
            and self._new_in_pass
            and self._reads_in_pass > 1
        ):
            self._rescans_left -= 1
            self.rescans += 1
            self._rescanning = True
            self._watermark = self._page1_top
            self._next_page = 1
            self._last_page = None
            self._new_in_pass = 0
            self._reads_in_pass = 0
        else:
            self._finished = True


class _Parent:
    """The walk over one parent's child pages inside a `FanOutStream`."""

    __slots__ = (
        "cutoff",
        "done",
        "last_page",
        "next_fetch",
        "next_out",
        "parent",
        "results",
        "seen",
    )

    def __init__(self, parent: Any, dedupe: bool) -> None:
        self.parent = parent
        self.results: dict[int, Page[Any] | Exception] = {}
        self.next_fetch = 1  # lowest page not requested yet
        self.next_out = 1  # next page to hand to the consumer
        self.last_page: int | None = None  # ``pages`` as last seen; None before page 1
        self.cutoff: int | None = None  # the walk ends at this page (terminal page)
        self.done = False  # every wanted page has been handed out
        self.seen = IdSet(tail_size=256) if dedupe else None

    def wanted(self) -> range:
        """Page numbers still to request, in order."""
        if self.done or self.cutoff is not None:
            end = self.cutoff or 0
        elif self.last_page is None:
            end = 1
        else:
            end = self.last_page
        return range(self.next_fetch, end + 1)

    def record(self, number: int, result: Page[Any] | Exception | None) -> None:
        """Store the outcome of the request for page `number`."""
        self.next_fetch = max(self.next_fetch, number + 1)
        if result is None:
            return  # cancelled: an earlier page of this window ended the walk
        self.results[number] = result
        if isinstance(result, Page):
            self.last_page = result.cursor.pages
        if not isinstance(result, Page) or not _pass_continues(number, result):
            self.end_at(number)

    def end_at(self, number: int) -> None:
        if self.cutoff is None or number < self.cutoff:
            self.cutoff = number


class FanOutStream(_StreamBase, Generic[P, C]):
    """`(parent, child)` pairs for the children of many parents, under one request bound.

    Children come in page order within a parent, and parents in the order `parents`
    yields them: every child of one parent before any child of the next. A window holds
    the remaining pages of the parents in hand first, then page 1 of further parents, up
    to `concurrency` requests in all.  `client.chats.stream_all_messages` returns one.

    Memory: about `2 * concurrency` child pages (pages of parents queued behind the
    current one are held), plus one small id set per parent in hand.

    Args:
        parents: the parents, sync or async iterable (a `PageStream` of chats).
            It is advanced between windows, never while child requests are in flight, so the
            global bound is `max(concurrency, the parent stream's concurrency)`.
        fetch: `fetch(parent, n)` returns page `n` of that parent's children.
        concurrency: the most child page requests in flight at once.
        key: child identity; duplicates within one parent are dropped.
        stop: per parent, stop at the first child for which it is true (`since=`).
        close_parents: `aclose()` the parent iterator when this stream closes.

    Attributes:
        requests: page requests started (successful, failed or cancelled).
        pages_fetched: page requests that returned a page.
        items_yielded: items handed to the consumer.
        duplicates: items dropped because their key had already been delivered.
        max_in_flight: the most page requests that were in flight at the same time.
        parents_started: parents taken from `parents` so far.

    Raises:
        ValueError: `concurrency` is not a positive int.
        RuntimeError: while iterating, a second task iterates the same stream at once.

    Example:
        ```python
        from smartsender_async import Chat, FanOutStream, Message, Page

        async def fetch(chat: Chat, n: int) -> Page[Message]:
            return await client.chats.messages(chat.id, n)

        chats = client.chats.stream(state="open")
        async with FanOutStream(chats, fetch, concurrency=8) as pairs:
            async for chat, message in pairs:
                print(chat.id, message.id)
        ```
    """

    def __init__(
        self,
        parents: AsyncIterable[P] | Iterable[P],
        fetch: Callable[[P, int], Awaitable[Page[C]]],
        *,
        concurrency: int = 8,
        key: Callable[[C], Hashable] | None = None,
        stop: Callable[[C], bool] | None = None,
        close_parents: bool = True,
    ) -> None:
        super().__init__(concurrency)
        self._parents: AsyncIterator[P] | None = None
        self._parents_source = parents
        self._fetch = fetch
        self._key = key
        self._stop = stop
        self._close_parents = close_parents
        self._states: deque[_Parent] = deque()
        self._buffer: deque[tuple[P, C]] = deque()
        self._parents_done = False
        #: Parents taken from ``parents`` so far.
        self.parents_started = 0

    def __aiter__(self) -> FanOutStream[P, C]:
        return self

    async def __aenter__(self) -> FanOutStream[P, C]:
        return self

    async def aclose(self) -> None:
        """Close the stream and, with `close_parents`, the parent iterator.

        Closing twice is harmless; leaving an `async with` block calls it.

        Example:
            ```python
            pairs = client.chats.stream_all_messages([48213, 48214])
            try:
                async for chat, message in pairs:
                    print(chat.id, message.id)
            finally:
                await pairs.aclose()
            ```
        """
        await super().aclose()
        parents, self._parents = self._parents, None
        if self._close_parents and parents is not None:
            closer = getattr(parents, "aclose", None)
            if closer is not None:
                await closer()

    def _release(self) -> None:
        self._buffer.clear()
        self._states.clear()
        self._error = None

    async def __anext__(self) -> tuple[P, C]:
        buffer = self._buffer
        if buffer and not self._running and not self._closed:
            # Served from the buffer without suspending: no other task can interleave.
            self.items_yielded += 1
            return buffer.popleft()
        item: tuple[P, C] = await self._next_slow()
        return item

    def _take_ready(self) -> bool:
        try:
            return self._advance_head()
        except Exception as error:  # from key or stop: raise it in place
            self._error = error
            return True

    def _exhausted(self) -> bool:
        return not self._states and self._parents_done

    def _advance_head(self) -> bool:
        """Move the head parent's next ready page into the buffer; False if none is ready."""
        if not self._states:
            return False
        state = self._states[0]
        if state.done and state.next_out not in state.results:
            self._states.popleft()
            return True
        result = state.results.pop(state.next_out, None)
        if result is None:
            return False
        number = state.next_out
        state.next_out += 1
        if isinstance(result, Exception):
            self._error = result
            return True
        for child in result.items:
            if self._stop is not None and self._stop(child):
                state.done = True
                break
            if state.seen is not None:
                assert self._key is not None
                if not state.seen.add(self._key(child)):
                    self.duplicates += 1
                    continue
            self._buffer.append((state.parent, child))
        if not _pass_continues(number, result):
            state.done = True
        if state.done:
            state.results.clear()
        return True

    def _is_terminal(self, page: Page[Any]) -> bool:
        if not page.items:
            return True
        return self._stop is not None and any(self._stop(child) for child in page.items)

    async def _next_parent(self) -> bool:
        if self._parents is None:
            source = self._parents_source
            if isinstance(source, AsyncIterable):
                self._parents = source.__aiter__()
            else:
                self._parents = _SyncParents(source)
        try:
            parent = await self._parents.__anext__()
        except StopAsyncIteration:
            self._parents_done = True
            return False
        except Exception as error:
            # Raised once the children of the parents already in hand have been delivered.
            self._parents_done = True
            failed = _Parent(None, dedupe=False)
            failed.record(1, error)
            self._states.append(failed)
            return False
        self.parents_started += 1
        self._states.append(_Parent(parent, self._key is not None))
        return True

    async def _fill(self) -> None:
        jobs: list[_Job] = []
        budget = self._concurrency
        for state in self._states:
            for number in state.wanted():
                if len(jobs) == budget:
                    break
                jobs.append(self._job(state, number))
        while len(jobs) < budget and not self._parents_done:
            if self._carry is None:
                more = await self._next_parent()
            else:
                with self._carry():  # the parent stream's first page begins in it too
                    more = await self._next_parent()
            if more:
                jobs.append(self._job(self._states[-1], 1))
        if self._closed or not jobs:
            return
        await self._run_window(jobs)
        if self._closed:
            return
        for job in jobs:
            owner = job.group
            assert isinstance(owner, _Parent)
            owner.record(job.page, job.result)
            if isinstance(job.result, Page) and _terminal(job):
                owner.end_at(job.page)

    def _job(self, state: _Parent, number: int) -> _Job:
        parent = state.parent
        fetch = self._fetch
        return _Job(state, number, functools.partial(fetch, parent, number), self._is_terminal)


class _SyncParents(Generic[P]):
    """A sync iterable seen as an async iterator (a plain object: nothing to finalize)."""

    def __init__(self, items: Iterable[P]) -> None:
        self._items = iter(items)

    def __aiter__(self) -> _SyncParents[P]:
        return self

    async def __anext__(self) -> P:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None
