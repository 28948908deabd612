"""Specification of the page scheduler, run under asyncio and trio against fake endpoints.

The fakes never sleep: a gated fetch waits on an event the test sets, so completion order
is chosen by the test, not by timing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import pytest
import sniffio
from hypothesis import given, settings
from hypothesis import strategies as st

from smartsender_async.models.common import Cursor, Page
from smartsender_async.pagination import FanOutStream, IdSet, PageStream

pytestmark = pytest.mark.filterwarnings("error")


@attrs.frozen
class Row:
    id: int
    stamp: int = 0


def row_id(row: Row) -> int:
    return row.id


class Boom(Exception):
    pass


class Fake:
    """A paged list endpoint over a mutable list of rows, in server order.

    ``gated``: each fetch waits until the test calls ``release(page)``.
    ``before_read``: called with the page number when a request arrives, before the page
    is read (the place to change the list "between requests").
    """

    def __init__(
        self,
        rows: Iterable[Row] = (),
        *,
        per_page: int = 3,
        gated: bool = False,
        empty_pages: int = 1,
        shared: Counter | None = None,
    ) -> None:
        self.rows = list(rows)
        self.per_page = per_page
        self.gated = gated
        self.empty_pages = empty_pages
        self.calls: list[int] = []
        self.cancelled: list[int] = []
        self.fail: dict[int, Exception] = {}
        self.before_read: Callable[[int], None] | None = None
        self.pages_override: int | None = None
        self.counter = shared if shared is not None else Counter()
        self._gates: dict[int, anyio.Event] = {}
        self._waiters: list[anyio.Event] = []

    @property
    def pages(self) -> int:
        if self.pages_override is not None:
            return self.pages_override
        return math.ceil(len(self.rows) / self.per_page) or self.empty_pages

    def gate(self, page: int) -> anyio.Event:
        if page not in self._gates:
            self._gates[page] = anyio.Event()
        return self._gates[page]

    def release(self, *pages: int) -> None:
        for page in pages:
            self.gate(page).set()

    async def arrived(self, pages: Iterable[int]) -> None:
        """Wait until requests for all of ``pages`` have arrived."""
        wanted = set(pages)
        while not wanted <= set(self.calls):
            event = anyio.Event()
            self._waiters.append(event)
            await event.wait()

    async def fetch(self, page: int) -> Page[Row]:
        self.calls.append(page)
        for event in self._waiters:
            event.set()
        self._waiters.clear()
        if self.before_read is not None:
            self.before_read(page)
        start = (page - 1) * self.per_page
        result = Page(Cursor(page, self.pages), tuple(self.rows[start : start + self.per_page]))
        with self.counter:
            try:
                await anyio.lowlevel.checkpoint()
                if self.gated:
                    await self.gate(page).wait()
            except anyio.get_cancelled_exc_class():
                self.cancelled.append(page)
                raise
        if page in self.fail:
            raise self.fail[page]
        return result


class Counter:
    """Requests in flight, over one or many fakes."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


def rows(n: int, *, start: int = 1) -> list[Row]:
    """``n`` rows, newest first: ids and stamps descending."""
    return [Row(i, i) for i in range(start + n - 1, start - 1, -1)]


async def collect(stream: Any) -> list[Any]:
    return [item async for item in stream]


async def drain(stream: Any, into: list[Any]) -> None:
    """Append every item to ``into`` (which keeps them if the stream raises)."""
    async for item in stream:
        into.append(item)


def live_tasks() -> int:
    """How many tasks exist in this run, system tasks included."""
    if sniffio.current_async_library() == "asyncio":
        return len(asyncio.all_tasks())
    import trio

    count = 0
    root = trio.lowlevel.current_root_task()
    assert root is not None
    pending = [root]
    while pending:
        task = pending.pop()
        count += 1
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return count


async def settle() -> None:
    """Let anything still scheduled run (checkpoints only, no time passes)."""
    for _ in range(10):
        await anyio.lowlevel.checkpoint()


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds; fail (not hang) if it never does."""
    for _ in range(1000):
        if condition():
            return
        await anyio.lowlevel.checkpoint()
    raise AssertionError("condition never became true")


@pytest.fixture(params=["asyncio", "trio"])
def run(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run an async scenario on the parametrized backend."""

    def runner(scenario: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return anyio.run(scenario, *args, backend=request.param)

    return runner


# -- order and completeness -----------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 6, 7, 30, 100])
@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_every_item_in_page_order(run: Any, n: int, concurrency: int) -> None:
    async def scenario() -> None:
        fake = Fake(rows(n), per_page=3)
        stream = PageStream(fake.fetch, concurrency=concurrency, key=row_id)
        assert await collect(stream) == fake.rows
        pages = max(1, math.ceil(n / 3))
        assert sorted(fake.calls) == list(range(1, pages + 1))
        assert stream.requests == stream.pages_fetched == pages
        assert stream.items_yielded == n
        assert stream.closed

    run(scenario)


@pytest.mark.parametrize("empty_pages", [0, 1])
def test_empty_list_costs_one_request(run: Any, empty_pages: int) -> None:
    async def scenario() -> None:
        fake = Fake([], empty_pages=empty_pages)
        assert await collect(PageStream(fake.fetch)) == []
        assert fake.calls == [1]

    run(scenario)


@pytest.mark.parametrize("concurrency", [1, 2, 4, 8])
def test_windows_are_page_one_then_concurrency_pages(run: Any, concurrency: int) -> None:
    """Pages completing in reverse order still come out in page order."""

    async def scenario() -> None:
        fake = Fake(rows(60), per_page=3, gated=True)  # 20 pages
        stream = PageStream(fake.fetch, concurrency=concurrency)
        windows = [[1]] + [
            list(range(first, min(first + concurrency, 21))) for first in range(2, 21, concurrency)
        ]

        async def serve() -> None:
            for window in windows:
                await fake.arrived(window)
                assert len(fake.calls) == window[-1]  # nothing beyond this window
                fake.release(*reversed(window))

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            assert await collect(stream) == fake.rows
        assert fake.counter.peak == min(concurrency, 19)
        assert stream.max_in_flight == fake.counter.peak
        assert fake.calls == list(range(1, 21))  # requests start in page order

    run(scenario)


def test_pages_may_grow_during_the_walk(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake(rows(6), per_page=3)
        extra = rows(6, start=100)

        def grow(page: int) -> None:
            if page == 2 and extra:
                fake.rows.extend(extra)
                extra.clear()

        fake.before_read = grow
        assert await collect(PageStream(fake.fetch, concurrency=1)) == fake.rows
        assert fake.calls == [1, 2, 3, 4]

    run(scenario)


def test_pages_may_shrink_during_the_walk(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake(rows(12), per_page=3)

        def shrink(page: int) -> None:
            if page == 2:
                del fake.rows[6:]

        fake.before_read = shrink
        out = await collect(PageStream(fake.fetch, concurrency=1))
        assert out == rows(12)[:6]
        assert fake.calls == [1, 2]

    run(scenario)


def test_an_empty_page_before_the_last_ends_the_walk(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake(rows(6), per_page=3)
        fake.pages_override = 5  # the cursor promises pages that are not there
        out = await collect(PageStream(fake.fetch, concurrency=2))
        assert out == fake.rows
        assert sorted(fake.calls) == [1, 2, 3]

    run(scenario)


def test_duplicates_are_dropped_by_key(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake([Row(1), Row(2), Row(3), Row(3), Row(2), Row(4)], per_page=2)
        stream = PageStream(fake.fetch, concurrency=2, key=row_id)
        assert [r.id for r in await collect(stream)] == [1, 2, 3, 4]
        assert stream.duplicates == 2
        fake.calls.clear()
        assert len(await collect(PageStream(fake.fetch))) == 6  # no key, no de-duplication

    run(scenario)


# -- limit and stop -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "pages"),
    [(0, []), (1, [1]), (20, [1]), (21, [1, 2]), (25, [1, 2]), (40, [1, 2]), (41, [1, 2, 3])],
)
def test_limit_fetches_only_needed_pages(run: Any, limit: int, pages: list[int]) -> None:
    async def scenario() -> None:
        fake = Fake(rows(200), per_page=20)
        stream = PageStream(fake.fetch, concurrency=8, limit=limit)
        assert await collect(stream) == fake.rows[:limit]
        assert sorted(fake.calls) == pages

    run(scenario)


def test_limit_fetches_more_when_duplicates_fall_short(run: Any) -> None:
    async def scenario() -> None:
        data = [Row(i) for i in (1, 2, 3, 3, 2, 4, 5, 6, 7)]
        fake = Fake(data, per_page=3)
        stream = PageStream(fake.fetch, concurrency=8, limit=5, key=row_id)
        assert [r.id for r in await collect(stream)] == [1, 2, 3, 4, 5]
        assert fake.calls == [1, 2, 3]  # page 2 brought one fresh item, not three

    run(scenario)


def test_stop_ends_at_the_first_matching_item_and_cancels_later_pages(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake(rows(30), per_page=3, gated=True)  # stamps 30..1, newest first
        stream = PageStream(fake.fetch, concurrency=4, stop=lambda r: r.stamp < 24)

        async def serve() -> None:
            fake.release(1)
            await fake.arrived([2, 3, 4, 5])
            fake.release(3)  # page 3 (stamps 24, 23, 22) holds the stop item
            await until(lambda: len(fake.cancelled) == 2)
            fake.release(2)

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            out = await collect(stream)
        assert [r.stamp for r in out] == [30, 29, 28, 27, 26, 25, 24]
        assert sorted(fake.cancelled) == [4, 5]
        assert sorted(fake.calls) == [1, 2, 3, 4, 5]

    run(scenario)


# -- early exit ------------------------------------------------------------------------


async def _raise_in_loop_body(stream: PageStream[Row]) -> None:
    async for _ in stream:
        raise Boom


async def _exit_by(how: str, fake: Fake, stream: PageStream[Row]) -> None:
    if how == "break":
        async for _ in stream:
            break
    elif how == "raise":
        with pytest.raises(Boom):
            await _raise_in_loop_body(stream)
    elif how == "aclose":
        await stream.__anext__()
        await stream.aclose()
    elif how == "async with":
        async with stream as items:
            async for _ in items:
                break
    elif how == "async generator consumer":
        # PEP 789's trap: the consumer yields from inside its own loop. Safe here because
        # no cancel scope of the stream is open while the item is handed out.
        async def relay() -> Any:
            async for item in stream:
                yield item

        generator = relay()
        async for _ in generator:
            break
        await generator.aclose()
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["break", "raise", "aclose", "async with", "async generator consumer"]
)
@pytest.mark.parametrize("concurrency", [1, 4])
def test_early_exit_leaves_nothing_running(
    run: Any, how: str, concurrency: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        baseline = live_tasks()
        fake = Fake(rows(100), per_page=3)
        stream = PageStream(fake.fetch, concurrency=concurrency)
        await _exit_by(how, fake, stream)
        assert fake.calls == [1]  # the first item cost page 1 alone (<= concurrency + 1)
        assert fake.counter.now == 0
        await settle()
        assert live_tasks() == baseline
        assert fake.calls == [1]
        if how in ("aclose", "async with"):
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()
            assert fake.calls == [1]

    with caplog.at_level(logging.DEBUG):
        run(scenario)
    assert "destroyed" not in caplog.text
    assert "cancel scope" not in caplog.text


def test_garbage_collected_stream_leaves_no_task(
    run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        baseline = live_tasks()
        fake = Fake(rows(100), per_page=3)
        stream = PageStream(fake.fetch, concurrency=4)
        for _ in range(5):  # into the second window
            await stream.__anext__()
        calls = list(fake.calls)
        assert calls == [1, 2, 3, 4, 5]
        del stream
        gc.collect()
        await settle()
        assert live_tasks() == baseline
        assert fake.calls == calls
        assert fake.counter.now == 0

    with caplog.at_level(logging.DEBUG):
        run(scenario)
    gc.collect()
    assert "destroyed" not in caplog.text


def test_aclose_from_another_task_cancels_the_window(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake(rows(30), per_page=3, gated=True)
        stream = PageStream(fake.fetch, concurrency=4)
        fake.release(1)
        ended = anyio.Event()
        got: list[Row] = []

        async def consume() -> None:
            got.extend(await collect(stream))
            ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await fake.arrived([2, 3, 4, 5])
            await settle()
            assert fake.counter.now == 4
            await stream.aclose()
            await ended.wait()
        assert got == fake.rows[:3]
        assert sorted(fake.cancelled) == [2, 3, 4, 5]
        assert fake.counter.now == 0
        await settle()
        assert sorted(fake.calls) == [1, 2, 3, 4, 5]

    run(scenario)


def test_concurrent_iteration_is_refused(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake(rows(9), per_page=3, gated=True)
        stream = PageStream(fake.fetch)
        async with anyio.create_task_group() as tg:
            tg.start_soon(stream.__anext__)
            await fake.arrived([1])
            with pytest.raises(RuntimeError, match="already"):
                await stream.__anext__()
            fake.release(1)

    run(scenario)


def test_outside_cancellation_keeps_the_stream_usable(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake(rows(9), per_page=3, gated=True)
        stream = PageStream(fake.fetch, concurrency=2)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(stream.__anext__)
                await fake.arrived([1])
                scope.cancel()
        assert fake.cancelled == [1]
        fake.gated = False
        assert await collect(stream) == fake.rows  # page 1 is simply requested again
        assert fake.calls[:2] == [1, 1]

    run(scenario)


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("failing", [1, 2, 3, 5, 6])
def test_error_surfaces_at_its_page(run: Any, failing: int) -> None:
    async def scenario() -> None:
        fake = Fake(rows(30), per_page=3)
        error = Boom(f"page {failing}")
        fake.fail[failing] = error
        stream = PageStream(fake.fetch, concurrency=4)
        got: list[Row] = []
        with pytest.raises(Boom) as raised:
            await drain(stream, got)
        assert raised.value is error
        assert got == fake.rows[: (failing - 1) * 3]
        calls = len(fake.calls)
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        assert len(fake.calls) == calls
        window_end = 1 if failing == 1 else 1 + math.ceil((failing - 1) / 4) * 4
        assert max(fake.calls) <= window_end  # no window after the failed one

    run(scenario)


def test_error_waits_for_earlier_pages_and_cancels_later_ones(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake(rows(30), per_page=3, gated=True)
        fake.fail[3] = Boom()
        stream = PageStream(fake.fetch, concurrency=4)
        fake.release(1)
        got: list[Row] = []

        async def serve() -> None:
            await fake.arrived([2, 3, 4, 5])
            fake.release(3)  # fails while 2, 4 and 5 are in flight
            await until(lambda: len(fake.cancelled) == 2)
            fake.release(2)

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            with pytest.raises(Boom):
                await drain(stream, got)
        assert got == fake.rows[:6]
        assert sorted(fake.cancelled) == [4, 5]

    run(scenario)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_failing_callback_is_raised_in_place(run: Any, concurrency: int) -> None:
    async def scenario() -> None:
        fake = Fake(rows(30), per_page=3)

        def stop(row: Row) -> bool:
            if row.id % 1000 == 22:
                raise Boom
            return False

        got: list[Row] = []
        with pytest.raises(Boom):
            await drain(PageStream(fake.fetch, concurrency=concurrency, stop=stop), got)
        assert got == fake.rows[:8]

        fakes, _ = make_children({1: 30})
        pairs: list[tuple[int, Row]] = []
        with pytest.raises(Boom):
            await drain(
                FanOutStream([1], _fetcher(fakes), concurrency=concurrency, stop=stop), pairs
            )
        assert [row for _, row in pairs] == [r for r in fakes[1].rows if r.id > 1022]

    run(scenario)


# -- churn -----------------------------------------------------------------------------


class ChatList(Fake):
    """Chats ordered by ``stamp`` (updatedAt) descending; activity moves a chat to the top."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(rows(n), **kwargs)
        self.clock = n
        self.next_id = n + 1

    def touch(self, chat_id: int) -> None:
        index = next(i for i, r in enumerate(self.rows) if r.id == chat_id)
        self.clock += 1
        del self.rows[index]
        self.rows.insert(0, Row(chat_id, self.clock))

    def create(self) -> int:
        self.clock += 1
        self.rows.insert(0, Row(self.next_id, self.clock))
        self.next_id += 1
        return self.next_id - 1


def chat_stream(fake: Fake, concurrency: int = 4, rescans: int = 3) -> PageStream[Row]:
    return PageStream(
        fake.fetch,
        concurrency=concurrency,
        key=row_id,
        head_rescans=rescans,
        order_key=lambda r: r.stamp,
    )


def test_chat_moved_to_the_head_is_caught_by_the_rescan(run: Any) -> None:
    async def scenario() -> None:
        for rescans, expect_last in ((0, False), (3, True)):
            fake = ChatList(30, per_page=3)
            last = fake.rows[-1].id

            def activity(page: int, fake: ChatList = fake, last: int = last) -> None:
                if page == 2 and fake.calls.count(2) == 1:
                    fake.touch(last)

            fake.before_read = activity
            stream = chat_stream(fake, rescans=rescans)
            ids = [r.id for r in await collect(stream)]
            assert len(ids) == len(set(ids))
            assert (last in ids) is expect_last
            assert len(ids) == 30 - (not expect_last)
            if rescans:
                # One rescan reads page 1 and stops at the first chat older than the
                # pass's page 1. It was a single read, so nothing can have moved
                # during it: no second rescan.
                assert stream.rescans == 1
                assert fake.calls.count(1) == 2
                assert len(fake.calls) == 10 + 1  # the rescan read page 1 only

    run(scenario)


def test_a_list_on_one_page_is_not_rescanned(run: Any) -> None:
    async def scenario() -> None:
        # One read is one instant: nothing can have moved behind it. Small inboxes (and
        # filtered lists) cost one request, not two.
        for n in (1, 5):
            fake = ChatList(n, per_page=5)
            stream = chat_stream(fake)
            assert [r.id for r in await collect(stream)] == [r.id for r in fake.rows]
            assert fake.calls == [1]
            assert stream.rescans == 0

    run(scenario)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_pass_that_saw_the_list_hold_still_is_not_rescanned(run: Any, concurrency: int) -> None:
    async def scenario() -> None:
        # No repeat across a page boundary and a constant page count: nothing moved to
        # the head from a page not yet read, so the rescan's round trip is saved.
        fake = ChatList(30, per_page=3)
        touched = fake.rows[1].id  # on page 1, already read: moves within read pages

        def activity(page: int) -> None:
            if page == 4 and fake.calls.count(4) == 1:
                fake.touch(touched)

        fake.before_read = activity
        stream = chat_stream(fake, concurrency=concurrency)
        ids = [r.id for r in await collect(stream)]
        assert sorted(ids) == list(range(1, 31))
        assert stream.rescans == 0
        assert sorted(fake.calls) == list(range(1, 11))

    run(scenario)


@pytest.mark.parametrize("when", [1, 2, 5, 9, 10], ids=lambda n: f"after-{n}-reads")
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_chat_created_at_the_head_mid_pass_triggers_the_rescan(
    run: Any, when: int, concurrency: int
) -> None:
    async def scenario() -> None:
        fake = ChatList(30, per_page=3)
        created: list[int] = []

        def activity(page: int) -> None:
            if len(fake.calls) == when and not created:
                created.append(fake.create())

        fake.before_read = activity
        stream = chat_stream(fake, concurrency=concurrency)
        ids = [r.id for r in await collect(stream)]
        assert len(ids) == len(set(ids))
        # Every chat that existed is delivered; the new one too, since it was created
        # before the rescan read page 1 (or, when=1, before the pass read page 1, so
        # the pass saw it and had no reason to rescan).
        assert sorted(ids) == list(range(1, 32))
        assert stream.rescans == (0 if when == 1 else 1)

    run(scenario)


@pytest.mark.parametrize("with_order_key", [True, False])
def test_rescan_reads_past_a_delivered_chat_only_with_order_key(
    run: Any, with_order_key: bool
) -> None:
    async def scenario() -> None:
        fake = ChatList(30, per_page=3)
        moved = [r.id for r in fake.rows[-4:]]  # never read by the pass

        def activity(page: int) -> None:
            if page == 5 and fake.calls.count(5) == 1:
                for chat in [*moved, 30]:  # 30 was delivered on page 1
                    fake.touch(chat)

        fake.before_read = activity
        stream = PageStream(
            fake.fetch,
            concurrency=2,
            key=row_id,
            head_rescans=1,
            order_key=(lambda r: r.stamp) if with_order_key else None,
        )
        ids = [r.id for r in await collect(stream)]
        assert len(ids) == len(set(ids))
        if with_order_key:
            assert sorted(ids) == list(range(1, 31))
            # Up to the first chat older than page 1; page 3 shares page 2's window and
            # may have been sent before page 2 answered, but is then cancelled.
            assert fake.calls[10:12] == [1, 2]
            assert fake.calls[12:] == fake.cancelled
            assert set(fake.calls[12:]) <= {3}
        else:
            # Page 1 of the rescan holds chat 30, already delivered: the rescan ends
            # there and misses the two moved chats on page 2.
            assert set(range(1, 31)) - set(ids) == set(moved[:2])
            assert fake.calls[10:] == [1]

    run(scenario)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("concurrency", [1, 4])
def test_chats_under_churn_arrive_exactly_once(run: Any, seed: int, concurrency: int) -> None:
    async def scenario() -> None:
        rng = random.Random(seed)
        fake = ChatList(120, per_page=5)
        initial = {r.id for r in fake.rows}

        def churn(page: int) -> None:
            for _ in range(rng.randint(0, 3)):
                if rng.random() < 0.7:
                    fake.touch(rng.choice(fake.rows).id)
                else:
                    fake.create()

        fake.before_read = churn
        ids = [r.id for r in await collect(chat_stream(fake, concurrency))]
        assert len(ids) == len(set(ids)), "a chat was delivered twice"
        assert initial <= set(ids), f"missed {sorted(initial - set(ids))}"
        assert set(ids) <= {r.id for r in fake.rows}

    run(scenario)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("concurrency", [1, 4])
def test_messages_under_churn_arrive_exactly_once(run: Any, seed: int, concurrency: int) -> None:
    async def scenario() -> None:
        rng = random.Random(seed)
        fake = Fake(rows(100), per_page=5)  # newest first
        initial = {r.id for r in fake.rows}
        next_id = iter(range(1000, 2000))

        def new_messages(page: int) -> None:
            for _ in range(rng.randint(0, 4)):
                message = next(next_id)
                fake.rows.insert(0, Row(message, message))

        fake.before_read = new_messages
        stream = PageStream(fake.fetch, concurrency=concurrency, key=row_id)
        out = await collect(stream)
        ids = [r.id for r in out]
        assert len(ids) == len(set(ids))
        assert initial <= set(ids)
        initial_order = [i for i in ids if i in initial]
        assert initial_order == sorted(initial, reverse=True)  # still newest first
        assert stream.duplicates > 0

    run(scenario)


def test_since_style_stop_under_churn(run: Any) -> None:
    async def scenario() -> None:
        fake = Fake(rows(100), per_page=5)
        next_id = iter(range(1000, 2000))

        def new_message(page: int) -> None:
            message = next(next_id)
            fake.rows.insert(0, Row(message, message))

        fake.before_read = new_message
        stream = PageStream(fake.fetch, concurrency=4, key=row_id, stop=lambda r: r.stamp <= 60)
        ids = {r.id for r in await collect(stream)}
        assert set(range(61, 101)) <= ids
        assert not any(i <= 60 for i in ids)
        assert max(fake.calls) <= 14  # 40 old + 13 new messages fit in 11 pages; one window

    run(scenario)


# -- fan-out ---------------------------------------------------------------------------


def _fetcher(fakes: dict[int, Fake]) -> Callable[[int, int], Awaitable[Page[Row]]]:
    async def fetch(parent: int, page: int) -> Page[Row]:
        return await fakes[parent].fetch(page)

    return fetch


def make_children(
    sizes: dict[int, int], *, per_page: int = 3, gated: bool = False
) -> tuple[dict[int, Fake], Counter]:
    counter = Counter()
    fakes = {
        parent: Fake(rows(n, start=parent * 1000), per_page=per_page, gated=gated, shared=counter)
        for parent, n in sizes.items()
    }
    return fakes, counter


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_fan_out_keeps_order_per_parent_and_a_global_bound(run: Any, concurrency: int) -> None:
    async def scenario() -> None:
        sizes = {1: 0, 2: 1, 3: 3, 4: 20, 5: 7, 6: 0, 7: 2, 8: 30, 9: 4}
        fakes, counter = make_children(sizes)

        async def fetch(parent: int, page: int) -> Page[Row]:
            return await fakes[parent].fetch(page)

        stream = FanOutStream(list(sizes), fetch, concurrency=concurrency, key=row_id)
        pairs = await collect(stream)
        assert pairs == [(p, row) for p in sizes for row in fakes[p].rows]
        assert counter.peak <= concurrency
        assert stream.max_in_flight <= concurrency
        total_pages = sum(max(1, math.ceil(n / 3)) for n in sizes.values())
        assert stream.requests == total_pages
        assert stream.parents_started == len(sizes)

    run(scenario)


def test_fan_out_uses_the_bound_across_parents(run: Any) -> None:
    async def scenario() -> None:
        sizes = dict.fromkeys(range(1, 9), 3)  # eight single-page parents
        fakes, counter = make_children(sizes, gated=True)

        async def fetch(parent: int, page: int) -> Page[Row]:
            return await fakes[parent].fetch(page)

        stream = FanOutStream(list(sizes), fetch, concurrency=4)

        async def serve() -> None:
            for window in ((1, 2, 3, 4), (5, 6, 7, 8)):
                for parent in window:
                    await fakes[parent].arrived([1])
                for parent in reversed(window):
                    fakes[parent].release(1)

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            pairs = await collect(stream)
        assert [p for p, _ in pairs] == [p for p in sizes for _ in range(3)]
        assert counter.peak == 4

    run(scenario)


def test_fan_out_with_a_page_stream_of_parents(run: Any) -> None:
    async def scenario() -> None:
        chats = Fake([Row(i) for i in range(1, 11)], per_page=3)
        parents = PageStream(chats.fetch, concurrency=2)
        fakes, _ = make_children({i: i for i in range(1, 11)})

        async def fetch(parent: Row, page: int) -> Page[Row]:
            return await fakes[parent.id].fetch(page)

        stream = FanOutStream(parents, fetch, concurrency=2, stop=lambda r: r.stamp % 1000 < 3)
        pairs = await collect(stream)
        expected = [(Row(i), r) for i in range(1, 11) for r in fakes[i].rows if r.id % 1000 >= 3]
        assert pairs == expected
        assert parents.closed

    run(scenario)


@pytest.mark.parametrize("how", ["break", "aclose", "gc"])
def test_fan_out_early_exit_leaves_nothing_running(
    run: Any, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        baseline = live_tasks()
        chats = Fake([Row(i) for i in range(1, 31)], per_page=3)
        parents = PageStream(chats.fetch, concurrency=4)
        fakes, counter = make_children(dict.fromkeys(range(1, 31), 10))

        async def fetch(parent: Row, page: int) -> Page[Row]:
            return await fakes[parent.id].fetch(page)

        stream = FanOutStream(parents, fetch, concurrency=4)
        if how == "break":
            async for _ in stream:
                break
        else:
            await stream.__anext__()
            if how == "aclose":
                await stream.aclose()
                assert parents.closed
            else:
                del stream
                gc.collect()
        sent = (len(chats.calls), sum(len(f.calls) for f in fakes.values()))
        assert sent[1] <= 4
        await settle()
        assert live_tasks() == baseline
        assert counter.now == 0
        assert sent == (len(chats.calls), sum(len(f.calls) for f in fakes.values()))

    with caplog.at_level(logging.DEBUG):
        run(scenario)
    assert "destroyed" not in caplog.text


def test_fan_out_child_error_surfaces_at_its_place(run: Any) -> None:
    async def scenario() -> None:
        fakes, _ = make_children({1: 6, 2: 9, 3: 3})
        fakes[2].fail[2] = Boom()

        async def fetch(parent: int, page: int) -> Page[Row]:
            return await fakes[parent].fetch(page)

        stream = FanOutStream([1, 2, 3], fetch, concurrency=4)
        got: list[tuple[int, Row]] = []
        with pytest.raises(Boom):
            await drain(stream, got)
        assert got == [(1, r) for r in fakes[1].rows] + [(2, r) for r in fakes[2].rows[:3]]
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()

    run(scenario)


def test_fan_out_parent_error_comes_after_earlier_parents(run: Any) -> None:
    async def scenario() -> None:
        fakes, _ = make_children({1: 4, 2: 2})

        class Parents:
            def __init__(self) -> None:
                self.given = 0

            def __aiter__(self) -> Parents:
                return self

            async def __anext__(self) -> int:
                self.given += 1
                if self.given > 2:
                    raise Boom
                return self.given

        async def fetch(parent: int, page: int) -> Page[Row]:
            return await fakes[parent].fetch(page)

        got: list[tuple[int, Row]] = []
        with pytest.raises(Boom):
            await drain(FanOutStream(Parents(), fetch, concurrency=8), got)
        assert got == [(1, r) for r in fakes[1].rows] + [(2, r) for r in fakes[2].rows]

    run(scenario)


# -- arguments and the id set ------------------------------------------------------------


async def _never(page: int) -> Page[Row]:
    raise AssertionError("no request expected")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"concurrency": 0},
        {"concurrency": True},
        {"limit": -1},
        {"head_rescans": 1},
        {"head_rescans": -1},
    ],
)
def test_bad_arguments_are_rejected_before_any_request(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must|needs"):
        PageStream(_never, **kwargs)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(min_value=-(2**64), max_value=2**64),
            st.integers(min_value=0, max_value=50),
            st.text(max_size=2),
            st.booleans(),
        ),
        max_size=300,
    ),
    st.integers(min_value=1, max_value=16),
)
def test_id_set_behaves_like_a_set(items: list[Any], tail_size: int) -> None:
    compact = IdSet(tail_size=tail_size)
    plain: set[Any] = set()
    for item in items:
        assert (item in compact) == (item in plain)
        assert compact.add(item) == (item not in plain)
        plain.add(item)
        assert len(compact) == len(plain)
    for probe in [*items, -1, 51, 2**70, "zz", None, []]:
        assert (probe in compact) == (isinstance(probe, int | str | None) and probe in plain)


def test_id_set_is_compact() -> None:
    ids = IdSet(range(10**9, 10**9 + 100_000, 3))
    assert len(ids) == 33_334
    assert 10**9 + 3 in ids
    assert 10**9 + 4 not in ids
    assert ids._base.buffer_info()[1] * ids._base.itemsize <= 8 * 33_334
    assert len(ids._tail) < 2048
