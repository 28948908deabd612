"""Every public stream method against the emulator, under asyncio and trio (issue 5).

The emulator answers in-process and without suspending, so by default a page request
is over before the next one of its window starts. To get real overlap, :class:`Wire`
can hold every request at a gate. Its conductor lets the window build up, then releases
the requests one at a time, oldest first (FIFO) or newest first (LIFO). It knows the
window has built up when the scheduler has run a number of rounds with no new arrival.
It counts checkpoints and never reads a clock. What the server saw comes from
``emulator.stats``; what was in flight and cancelled comes from the wire.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
import sniffio

from smartsender_async import NotFoundError, RetryPolicy, ServerError, SmartSender
from smartsender_async.models.chats import Chat
from smartsender_async.testing import DEFAULT_EPOCH, Emulator, Faults

pytestmark = pytest.mark.filterwarnings("error")

BACKENDS = ("asyncio", "trio")
CHATS = "GET /chats"
CHAT_MESSAGES = "GET /chats/{chatId}/messages"
CONTACT_MESSAGES = "GET /contacts/{contactId}/messages"
OPERATORS = "GET /operators"
COMPLAINTS = ("Task was destroyed", "cancel scope", "never awaited", "Task exception")

Scenario = Callable[[], Awaitable[None]]
Runner = Callable[[Scenario], None]


@pytest.fixture(params=BACKENDS)
def run(request: pytest.FixtureRequest) -> Runner:
    """Run an async scenario to completion under the parametrised backend."""

    def runner(scenario: Scenario) -> None:
        anyio.run(scenario, backend=request.param)

    return runner


@pytest.fixture(autouse=True)
def _no_complaints(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No "Task was destroyed", "cancel scope" or unawaited-coroutine messages, ever."""
    caplog.set_level(logging.WARNING)
    yield
    gc.collect()
    bad = [r.getMessage() for r in caplog.records if any(c in r.getMessage() for c in COMPLAINTS)]
    assert not bad


# -- the wire ------------------------------------------------------------------------------


class Wire(httpx.AsyncBaseTransport):
    """The emulator's in-process transport with a log, an in-flight gauge and a gate.

    ``before(path, page)`` runs just before a request reaches the emulator (the place to
    change data "between requests"). ``log`` lists ``(path, page)`` in the order the
    emulator read them. With ``gated``, a request waits until released.
    """

    def __init__(
        self,
        emulator: Emulator,
        *,
        gated: bool = False,
        before: Callable[[str, int | None], None] | None = None,
    ) -> None:
        self.inner = emulator.transport()
        self.gated = gated
        self.before = before
        self.log: list[tuple[str, int | None]] = []
        self.waiting: list[anyio.Event] = []
        self.arrivals = 0
        self.in_flight: list[str] = []
        self.max_in_flight = 0
        #: Every combination of kinds ("chats", "messages", ...) seen in flight together.
        self.mixes: set[frozenset[str]] = set()
        self.cancelled = 0
        self._arrived: anyio.Event | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1")
        raw_page = request.url.params.get("page")
        page = int(raw_page) if raw_page is not None else None
        self.in_flight.append(path)
        self.max_in_flight = max(self.max_in_flight, len(self.in_flight))
        self.mixes.add(frozenset(p.rsplit("/", 1)[-1] for p in self.in_flight))
        self.arrivals += 1
        try:
            if self.gated:
                gate = anyio.Event()
                self.waiting.append(gate)
                if self._arrived is not None:
                    self._arrived.set()
                await gate.wait()
            if self.before is not None:
                self.before(path, page)
            self.log.append((path, page))
            return await self.inner.handle_async_request(request)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.in_flight.remove(path)

    def pages(self, path: str) -> list[int | None]:
        """Pages of ``path`` read by the emulator, in order."""
        return [page for p, page in self.log if p == path]

    async def quiesce(self, rounds: int = 12) -> None:
        """Return after ``rounds`` scheduler rounds in a row without a new request."""
        idle, seen = 0, self.arrivals
        while idle < rounds:
            await anyio.lowlevel.checkpoint()
            idle = idle + 1 if self.arrivals == seen else 0
            seen = self.arrivals

    async def until_waiting(self, count: int) -> None:
        await self.quiesce()
        assert len(self.waiting) == count, f"{len(self.waiting)} requests at the gate"

    def release(self, *, lifo: bool = False) -> None:
        self.waiting.pop(-1 if lifo else 0).set()

    async def conduct(self, lifo: bool = False) -> None:
        """Release held requests one by one, each time after the window has built up."""
        while True:
            while not self.waiting:
                self._arrived = anyio.Event()
                await self._arrived.wait()
            await self.quiesce()
            self.release(lifo=lifo)


async def conducted(wire: Wire, consume: Callable[[], Awaitable[Any]], *, lifo: bool) -> Any:
    """Run ``consume()`` while ``wire`` is conducted; return its result."""
    result: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(wire.conduct, lifo)

        async def body() -> None:
            result.append(await consume())
            tg.cancel_scope.cancel()

        tg.start_soon(body)
    return result[0]


def live_tasks() -> set[object]:
    """Every task of the running event loop."""
    if sniffio.current_async_library() == "trio":
        import trio

        found: set[object] = set()
        stack = [trio.lowlevel.current_root_task()]
        while stack:
            task = stack.pop()
            found.add(task)
            for nursery in task.child_nurseries:
                stack.extend(nursery.child_tasks)
        return found
    return set(asyncio.all_tasks())


async def settle() -> None:
    """Give anything left behind (it should be nothing) many chances to run."""
    for _ in range(50):
        await anyio.lowlevel.checkpoint()


def emulator(**kwargs: Any) -> Emulator:
    kwargs.setdefault("rate_limit", None)
    return Emulator(**kwargs)


def pages_of(count: int) -> int:
    """Pages of 20 the emulator reports for ``count`` items (an empty list has one)."""
    return max(1, math.ceil(count / 20))


# -- order and completeness ------------------------------------------------------------------

# Requests for a chat stream over a list nobody touches: the pass alone. (A head rescan
# runs only after a pass that saw the list move; see test_streams_churn.)
CHAT_REQUESTS = {0: 1, 1: 1, 20: 1, 21: 2, 205: 11}


@pytest.mark.parametrize("chats", sorted(CHAT_REQUESTS))
def test_chats_arrive_in_list_order_each_once(run: Runner, chats: int) -> None:
    emu = emulator(chats=chats)

    async def scenario() -> None:
        async with emu.client() as client:
            stream = client.chats.stream()
            ids = [chat.id async for chat in stream]
            assert ids == emu.chat_ids()
            assert emu.stats.by_endpoint[CHATS] == CHAT_REQUESTS[chats]
            assert stream.rescans == 0
            assert stream.closed
            # Exhausted: iterating again yields nothing and sends nothing.
            assert [chat async for chat in stream] == []
            assert emu.stats.requests == CHAT_REQUESTS[chats]

    run(scenario)


@pytest.mark.parametrize("concurrency", [1, 3, 8])
@pytest.mark.parametrize("lifo", [False, True], ids=["fifo", "lifo"])
def test_pages_answered_out_of_order_still_come_out_in_order(
    run: Runner, concurrency: int, lifo: bool
) -> None:
    emu = emulator(chats=205, messages_per_chat=205)
    chat_id = emu.chat_ids()[7]

    async def scenario() -> None:
        wire = Wire(emu, gated=True)
        async with emu.client(transport=wire) as client:
            chats = client.chats.stream(concurrency=concurrency)
            ids = await conducted(wire, lambda: _ids(chats), lifo=lifo)
            assert ids == emu.chat_ids()
            messages = client.chats.stream_messages(
                chat_id, activities=True, concurrency=concurrency
            )
            message_ids = await conducted(wire, lambda: _ids(messages), lifo=lifo)
            assert message_ids == emu.message_ids(chat_id, activities=True)
        # The windows really overlapped, and never beyond the bound.
        assert wire.max_in_flight == concurrency
        assert chats.max_in_flight == messages.max_in_flight == concurrency
        if lifo and concurrency > 1:
            assert wire.pages("/chats")[1:3] == [concurrency + 1, concurrency]

    run(scenario)


async def _ids(stream: Any) -> list[int]:
    return [item.id async for item in stream]


@pytest.mark.parametrize("count", [0, 1, 20, 21, 205])
def test_chat_messages_arrive_newest_first_each_once(run: Runner, count: int) -> None:
    emu = emulator(chats=3, messages_per_chat=count)
    chat_id = emu.chat_ids()[1]

    async def scenario() -> None:
        async with emu.client() as client:
            every = [m.id async for m in client.chats.stream_messages(chat_id, activities=True)]
            assert every == emu.message_ids(chat_id, activities=True)
            assert emu.stats.by_endpoint[CHAT_MESSAGES] == pages_of(count)
            plain = [m.id async for m in client.chats.stream_messages(chat_id)]
            assert plain == emu.message_ids(chat_id, activities=False)

    run(scenario)


@pytest.mark.parametrize("count", [0, 21, 205])
def test_contact_messages_arrive_newest_first_each_once(run: Runner, count: int) -> None:
    emu = emulator(chats=3, messages_per_chat=count)
    chat_id = emu.chat_ids()[2]
    contact_id = emu.contact_id_of(chat_id)

    async def scenario() -> None:
        async with emu.client() as client:
            stream = client.contacts.stream_messages(contact_id, activities=True, concurrency=2)
            assert [m.id async for m in stream] == emu.message_ids(chat_id, activities=True)
            assert emu.stats.by_endpoint[CONTACT_MESSAGES] == pages_of(count)
            plain = client.contacts.stream_messages(contact_id, limit=30)
            assert [m.id async for m in plain] == emu.message_ids(chat_id, activities=False)[:30]

    run(scenario)


@pytest.mark.parametrize("operators", [1, 20, 21, 45])
def test_operators_arrive_in_order_each_once(run: Runner, operators: int) -> None:
    emu = emulator(chats=0, operators=operators)

    async def scenario() -> None:
        async with emu.client() as client:
            ids = [op.id async for op in client.operators.stream(concurrency=2)]
            assert ids == emu.operator_ids()
            assert emu.stats.by_endpoint[OPERATORS] == pages_of(operators)

    run(scenario)


# -- limit and since ---------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4, 8])
@pytest.mark.parametrize(
    ("limit", "requests"),
    [(0, 0), (1, 1), (20, 1), (21, 2), (25, 2), (41, 3), (205, 11), (1000, 11)],
)
def test_limit_gives_exactly_that_many_from_the_pages_it_needs(
    limit: int, requests: int, concurrency: int
) -> None:
    emu = emulator(chats=205)

    async def scenario() -> None:
        async with emu.client() as client:
            stream = client.chats.stream(limit=limit, concurrency=concurrency)
            ids = [chat.id async for chat in stream]
        assert ids == emu.chat_ids()[:limit]
        assert emu.stats.by_endpoint[CHATS] == requests

    anyio.run(scenario)


def test_limit_on_message_streams(run: Runner) -> None:
    emu = emulator(chats=2, messages_per_chat=205, operators=50)
    chat_id = emu.chat_ids()[0]
    contact_id = emu.contact_id_of(chat_id)

    async def scenario() -> None:
        async with emu.client() as client:
            messages = client.chats.stream_messages(chat_id, activities=True, limit=25)
            assert [m.id async for m in messages] == emu.message_ids(chat_id)[:25]
            by_contact = client.contacts.stream_messages(contact_id, activities=True, limit=40)
            assert [m.id async for m in by_contact] == emu.message_ids(chat_id)[:40]
            operators = client.operators.stream(limit=21)
            assert [o.id async for o in operators] == emu.operator_ids()[:21]
        assert emu.stats.by_endpoint[CHAT_MESSAGES] == 2
        assert emu.stats.by_endpoint[CONTACT_MESSAGES] == 2
        assert emu.stats.by_endpoint[OPERATORS] == 2

    run(scenario)


def test_since_stops_at_the_first_older_message_and_cancels_later_pages(run: Runner) -> None:
    emu = emulator(chats=2, messages_per_chat=100)
    chat_id = emu.chat_ids()[0]

    async def scenario() -> None:
        wire = Wire(emu)
        async with emu.client(transport=wire) as client:
            every = [m async for m in client.chats.stream_messages(chat_id, activities=True)]
            since = every[45].created_at
            assert since is not None and every[46].created_at < since
            emu.stats.reset()
            wire.gated = True
            stream = client.chats.stream_messages(chat_id, activities=True, since=since)
            got = await conducted(wire, lambda: _ids(stream), lifo=False)
        # The message created exactly at ``since`` is included; the first older one ends it.
        assert got == [m.id for m in every[:46]]
        # Page 3 holds message 46: pages 4 and 5 of its window were in flight, released
        # after page 3, and cancelled before reaching the server.
        assert emu.stats.by_endpoint[CHAT_MESSAGES] == 3
        assert wire.cancelled == 2

    run(scenario)


def test_since_edges_and_naive_datetimes(run: Runner) -> None:
    emu = emulator(chats=2, messages_per_chat=45)
    chat_id = emu.chat_ids()[0]
    contact_id = emu.contact_id_of(chat_id)

    async def scenario() -> None:
        async with emu.client() as client:
            every = [m async for m in client.chats.stream_messages(chat_id)]
            newest, oldest = every[0].created_at, every[-1].created_at
            assert newest is not None and oldest is not None
            after_all = newest + timedelta(seconds=1)
            emu.stats.reset()
            assert [m async for m in client.chats.stream_messages(chat_id, since=after_all)] == []
            assert emu.stats.requests == 1  # page 1 shows it is over
            everything = client.contacts.stream_messages(contact_id, since=oldest)
            assert [m.id async for m in everything] == [m.id for m in every]
            naive = every[10].created_at
            assert naive is not None
            aware = [m.id async for m in client.chats.stream_messages(chat_id, since=naive)]
            naive_ids = [
                m.id
                async for m in client.chats.stream_messages(
                    chat_id, since=naive.replace(tzinfo=None)
                )
            ]
            assert naive_ids == aware == [m.id for m in every[:11]]

    run(scenario)


# -- stopping early ---------------------------------------------------------------------------


def _first_item_streams(client: SmartSender, emu: Emulator, concurrency: int) -> dict[str, Any]:
    chat_id = emu.chat_ids()[0]
    return {
        "chats": client.chats.stream(concurrency=concurrency),
        "chat messages": client.chats.stream_messages(chat_id, concurrency=concurrency),
        "contact messages": client.contacts.stream_messages(
            emu.contact_id_of(chat_id), concurrency=concurrency
        ),
        "operators": client.operators.stream(concurrency=concurrency),
        "all messages": client.chats.stream_all_messages(concurrency=concurrency),
    }


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_break_after_the_first_item_costs_at_most_concurrency_plus_one(
    run: Runner, concurrency: int
) -> None:
    emu = emulator(chats=205, messages_per_chat=205, operators=100)

    async def scenario() -> None:
        wire = Wire(emu, gated=True)
        async with emu.client(transport=wire) as client:
            for name, stream in _first_item_streams(client, emu, concurrency).items():
                emu.stats.reset()

                async def first(stream: Any = stream) -> None:
                    async for _ in stream:
                        break

                await conducted(wire, first, lifo=False)
                await settle()
                sent = emu.stats.requests
                assert sent <= concurrency + 1, name
                if name == "all messages":
                    # Page 1 of the chat list, then page 1 of the first `concurrency` chats.
                    assert sent == 1 + concurrency
                else:
                    assert sent == 1, name  # page 1 alone: the first item never waits for more
                assert not wire.in_flight

    run(scenario)


EXITS = ["break", "raise", "return", "aclose", "async with", "async with raise", "gc"]


class Stop(Exception):
    pass


@pytest.mark.parametrize("exit_by", EXITS)
def test_every_early_exit_leaves_nothing_running(run: Runner, exit_by: str) -> None:
    emu = emulator(chats=205)

    async def scenario() -> None:
        async with emu.client() as client:
            before = live_tasks()
            stream = client.chats.stream(concurrency=4)
            got: list[Chat] = []

            async def consume() -> None:
                if exit_by.startswith("async with"):
                    async with stream as s:
                        async for chat in s:
                            got.append(chat)
                            if len(got) == 30:
                                if exit_by == "async with raise":
                                    raise Stop
                                return
                    return
                async for chat in stream:
                    got.append(chat)
                    if len(got) == 30:
                        if exit_by == "raise":
                            raise Stop
                        if exit_by == "return":
                            return
                        break

            if exit_by in ("raise", "async with raise"):
                with pytest.raises(Stop):
                    await consume()
            else:
                await consume()
            if exit_by == "aclose":
                await stream.aclose()
            # Page 1 alone, then the window of pages 2-5: 30 items need both.
            assert [c.id for c in got] == emu.chat_ids()[:30]
            assert emu.stats.by_endpoint[CHATS] == 5
            closed = exit_by in ("aclose", "async with", "async with raise")
            assert stream.closed is closed
            if exit_by == "gc":
                ref = weakref.ref(stream)
                del stream
                gc.collect()
                assert ref() is None
            await settle()
            assert emu.stats.requests == 5  # nothing sent after the exit
            if closed:  # after aclose(), async with: iterating again yields and sends nothing
                assert [chat async for chat in stream] == []
                assert emu.stats.requests == 5
            assert live_tasks() == before
            if not closed and exit_by != "gc":
                # Left but not closed (break, raise, return): the stream is inert, and
                # iterating it again resumes where the loop left, from its buffer on.
                rest = [chat.id async for chat in stream]
                assert [c.id for c in got] + rest == emu.chat_ids()

    run(scenario)


def test_a_consumer_generator_dropped_mid_stream_is_finalized_cleanly(run: Runner) -> None:
    """PEP 789's trap: the consumer yields from inside its loop and is never closed."""
    emu = emulator(chats=205, messages_per_chat=45)

    async def relay(client: SmartSender) -> AsyncIterator[tuple[int, int]]:
        async for chat, message in client.chats.stream_all_messages(concurrency=4):
            yield chat.id, message.id

    async def scenario() -> None:
        async with emu.client() as client:
            before = live_tasks()
            gen = relay(client)
            first = [await gen.__anext__() for _ in range(50)]
            chat_ids = emu.chat_ids()
            assert first[0] == (chat_ids[0], emu.message_ids(chat_ids[0], activities=False)[0])
            sent = emu.stats.requests
            ref = weakref.ref(gen)
            with warnings.catch_warnings():
                # trio (rightly) warns that the consumer's generator was left to the GC.
                warnings.filterwarnings("ignore", "Async generator .*relay", ResourceWarning)
                del gen
                gc.collect()
            await settle()  # the event loop's async-generator finalizer runs aclose()
            assert ref() is None
            assert emu.stats.requests == sent
            assert live_tasks() == before

    run(scenario)


def test_a_stream_never_iterated_sends_nothing(run: Runner) -> None:
    emu = emulator(chats=30)

    async def scenario() -> None:
        async with emu.client() as client:
            streams = [
                client.chats.stream(),
                client.chats.stream_messages(emu.chat_ids()[0]),
                client.operators.stream(),
                client.chats.stream_all_messages(),
            ]
            await streams[0].aclose()
            await streams[3].aclose()
            del streams
            gc.collect()
            await settle()
        assert emu.stats.requests == 0

    run(scenario)


def test_aclose_from_another_task_cancels_the_window_in_flight(run: Runner) -> None:
    emu = emulator(chats=205)

    async def scenario() -> None:
        wire = Wire(emu, gated=True)
        async with emu.client(transport=wire) as client:
            before = live_tasks()
            stream = client.chats.stream(concurrency=4)
            got: list[int] = []
            async with anyio.create_task_group() as tg:

                async def consume() -> None:
                    async for chat in stream:
                        got.append(chat.id)

                tg.start_soon(consume)
                await wire.until_waiting(1)
                wire.release()  # page 1
                await wire.until_waiting(4)  # pages 2-5, held at the gate
                assert got == emu.chat_ids()[:20]
                with pytest.raises(RuntimeError, match="already being iterated"):
                    await stream.__anext__()
                await stream.aclose()
            # The loop ended normally; the four held requests were cancelled unsent.
            assert got == emu.chat_ids()[:20]
            assert wire.cancelled == 4
            assert emu.stats.requests == 1
            assert stream.closed
            assert [chat async for chat in stream] == []
            await settle()
            assert emu.stats.requests == 1
            assert live_tasks() == before

    run(scenario)


def test_cancelled_from_outside_the_partial_window_is_fetched_again(run: Runner) -> None:
    emu = emulator(chats=205)

    async def scenario() -> None:
        wire = Wire(emu, gated=True)
        async with emu.client(transport=wire) as client:
            stream = client.chats.stream(concurrency=4)
            got: list[int] = []
            async with anyio.create_task_group() as tg:

                async def consume() -> None:
                    with anyio.CancelScope() as scope:
                        scopes.append(scope)
                        async for chat in stream:
                            got.append(chat.id)

                scopes: list[anyio.CancelScope] = []
                tg.start_soon(consume)
                await wire.until_waiting(1)
                wire.release()
                await wire.until_waiting(4)
                wire.release()  # page 2 answers; 3-5 are still held
                await wire.until_waiting(3)
                scopes[0].cancel()  # a timeout around the loop, say
            assert wire.cancelled == 3
            assert got == emu.chat_ids()[:20]
            assert not stream.closed
            # Iterating again fetches the window again: nothing lost, nothing twice.
            wire.gated = False
            rest = [chat.id async for chat in stream]
            assert got + rest == emu.chat_ids()
            assert wire.pages("/chats")[:2] == [1, 2]
            assert wire.pages("/chats")[2:6] == [2, 3, 4, 5]

    run(scenario)


# -- errors ------------------------------------------------------------------------------------


def _fail_pages(emu: Emulator, path: str, pages: set[int]) -> Callable[[str, int | None], None]:
    """A ``before`` hook: every request for one of ``pages`` of ``path`` gets a 500."""

    def before(got_path: str, page: int | None) -> None:
        emu.faults.error_rate = 1.0 if got_path == path and page in pages else 0.0

    return before


@pytest.mark.parametrize("lifo", [False, True], ids=["fifo", "lifo"])
def test_a_page_failing_after_retries_surfaces_at_its_position(run: Runner, lifo: bool) -> None:
    emu = emulator(chats=205, faults=Faults(error_statuses=(500,)))

    async def scenario() -> None:
        wire = Wire(emu, gated=True, before=_fail_pages(emu, "/chats", {3}))
        retry = RetryPolicy(max_attempts=3, backoff_base=0)
        async with emu.client(transport=wire, retry=retry) as client:
            stream = client.chats.stream(concurrency=4)
            got: list[int] = []

            async def consume() -> BaseException | None:
                try:
                    async for chat in stream:
                        got.append(chat.id)
                except ServerError as error:
                    return error
                return None

            error = await conducted(wire, consume, lifo=lifo)
            # Every chat of pages 1 and 2, then the error; nothing from pages 4 and 5.
            assert got == emu.chat_ids()[:40]
            assert isinstance(error, ServerError)
            assert error.status_code == 500
            assert error.retries_taken == 2
            assert wire.pages("/chats").count(3) == 3
            assert set(wire.pages("/chats")) <= {1, 2, 3, 4, 5}
            assert stream.closed
            sent = emu.stats.requests
            assert [chat async for chat in stream] == []
            await settle()
            assert emu.stats.requests == sent

    run(scenario)


def test_a_page_failing_without_retries_surfaces_at_its_position(run: Runner) -> None:
    emu = emulator(chats=2, messages_per_chat=205, faults=Faults(error_statuses=(503,)))
    chat_id = emu.chat_ids()[0]
    path = f"/chats/{chat_id}/messages"

    async def scenario() -> None:
        wire = Wire(emu, before=_fail_pages(emu, path, {7}))
        async with emu.client(transport=wire, retry=None) as client:
            got: list[int] = []
            stream = client.chats.stream_messages(chat_id, activities=True)
            with pytest.raises(ServerError) as caught:  # noqa: PT012 - the loop is the subject
                async for message in stream:
                    got.append(message.id)
            assert caught.value.status_code == 503
            assert got == emu.message_ids(chat_id)[:120]
            assert wire.pages(path) == [1, 2, 3, 4, 5, 6, 7]  # page 7 failed: 8, 9 never sent

    run(scenario)


def test_an_unknown_chat_raises_the_typed_error_of_a_single_call(run: Runner) -> None:
    emu = emulator(chats=2)

    async def scenario() -> None:
        async with emu.client() as client:
            stream = client.chats.stream_messages(999_999)
            with pytest.raises(NotFoundError):
                await stream.__anext__()
            assert stream.closed
            assert emu.stats.requests == 1

    run(scenario)


def test_fan_out_error_surfaces_after_the_chats_before_it(run: Runner) -> None:
    emu = emulator(chats=12, messages_per_chat=45, faults=Faults(error_statuses=(500,)))
    chat_ids = emu.chat_ids()
    failing = chat_ids[5]

    async def scenario() -> None:
        wire = Wire(emu, gated=True, before=_fail_pages(emu, f"/chats/{failing}/messages", {2}))
        async with emu.client(transport=wire, retry=None) as client:
            stream = client.chats.stream_all_messages(concurrency=4)
            got: list[tuple[int, int]] = []

            async def consume() -> None:
                with pytest.raises(ServerError):  # noqa: PT012 - the loop is the subject
                    async for chat, message in stream:
                        got.append((chat.id, message.id))

            await conducted(wire, consume, lifo=True)
            # Every message of the chats before it, then its own page 1, then the error.
            page_1 = emu.message_ids(failing, activities=False)[:20]
            assert got == _all_pairs(emu, chat_ids[:5]) + [(failing, m) for m in page_1]
            assert stream.closed

    run(scenario)


# -- fan-out -----------------------------------------------------------------------------------


def _all_pairs(emu: Emulator, chat_ids: list[int], activities: bool = False) -> list[Any]:
    return [(c, m) for c in chat_ids for m in emu.message_ids(c, activities=activities)]


def _varied(emu: Emulator) -> None:
    """Give some chats longer histories than the rest (and move them to the head)."""
    for index, extra in ((3, 1), (9, 20), (14, 41)):
        chat_id = emu.chat_ids()[index]
        for n in range(extra):
            emu.add_inbound_message(chat_id, f"extra {n}")


def test_stream_all_messages_gives_every_pair_once_in_chat_order(run: Runner) -> None:
    emu = emulator(chats=30, messages_per_chat=45)
    _varied(emu)

    async def scenario() -> None:
        async with emu.client() as client:
            stream = client.chats.stream_all_messages()
            pairs = [(chat.id, m.id) async for chat, m in stream]
            assert pairs == _all_pairs(emu, emu.chat_ids())
            assert stream.parents_started == 30
            with_actions = [
                (chat.id, m.id)
                async for chat, m in client.chats.stream_all_messages(activities=True)
            ]
            assert with_actions == _all_pairs(emu, emu.chat_ids(), activities=True)

    run(scenario)


def test_stream_all_messages_over_given_chats_and_since(run: Runner) -> None:
    emu = emulator(chats=30, messages_per_chat=45)
    _varied(emu)

    async def scenario() -> None:
        async with emu.client() as client:
            chosen = [chat async for chat in client.chats.stream(limit=25)][::-2]
            wanted = [chat.id for chat in chosen]
            as_list = [(c.id, m.id) async for c, m in client.chats.stream_all_messages(chosen)]
            assert as_list == _all_pairs(emu, wanted)

            async def chats() -> AsyncIterator[Chat]:
                for chat in chosen:
                    yield chat

            as_async = [(c.id, m.id) async for c, m in client.chats.stream_all_messages(chats())]
            assert as_async == as_list

            since = DEFAULT_EPOCH - timedelta(days=25)
            expected = []
            for chat_id in wanted:
                for mid in emu.message_ids(chat_id, activities=False):
                    if _created(emu, mid) < since:
                        break
                    expected.append((chat_id, mid))
            got = [
                (c.id, m.id) async for c, m in client.chats.stream_all_messages(chosen, since=since)
            ]
            assert got == expected
            assert 0 < len(got) < len(as_list)

    run(scenario)


def _created(emu: Emulator, message_id: int) -> datetime:
    return datetime.fromisoformat(emu.message(message_id)["createdAt"].replace("Z", "+00:00"))


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_stream_all_messages_keeps_one_bound_over_every_request(
    run: Runner, concurrency: int
) -> None:
    emu = emulator(chats=45, messages_per_chat=30)
    _varied(emu)

    async def scenario() -> None:
        wire = Wire(emu, gated=True)
        async with emu.client(transport=wire) as client:
            stream = client.chats.stream_all_messages(concurrency=concurrency)

            async def pairs() -> list[tuple[int, int]]:
                return [(chat.id, m.id) async for chat, m in stream]

            got = await conducted(wire, pairs, lifo=True)
        assert got == _all_pairs(emu, emu.chat_ids())
        assert wire.max_in_flight == concurrency
        assert stream.max_in_flight == concurrency
        # The chat list is read between windows, never alongside message pages.
        assert not any("chats" in mix and "messages" in mix for mix in wire.mixes)

    run(scenario)


# -- argument checks ---------------------------------------------------------------------------


def test_bad_arguments_raise_before_any_io() -> None:
    emu = emulator(chats=3)

    async def scenario() -> None:
        async with emu.client() as client:
            chat_id = emu.chat_ids()[0]
            bad: list[Callable[[], Any]] = [
                lambda: client.chats.stream(concurrency=0),
                lambda: client.chats.stream(limit=-1),
                lambda: client.chats.stream(state="pending"),
                lambda: client.chats.stream(selector="private"),
                lambda: client.chats.stream_messages(chat_id, concurrency=0),
                lambda: client.chats.stream_messages(0),
                lambda: client.contacts.stream_messages(chat_id, limit=-5),
                lambda: client.operators.stream(concurrency=0),
                lambda: client.chats.stream_all_messages(concurrency=0),
            ]
            for make in bad:
                with pytest.raises(ValueError):
                    make()
            with pytest.raises(TypeError):
                client.chats.stream_messages(chat_id, since="yesterday")  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                client.chats.stream(concurrency=2.5)  # type: ignore[arg-type]
        assert emu.stats.requests == 0

    anyio.run(scenario)


# -- over real sockets -------------------------------------------------------------------------


def test_a_chat_stream_over_loopback_sockets() -> None:
    emu = emulator(chats=205, messages_per_chat=45)
    chat_id = emu.chat_ids()[3]

    async def scenario(url: str) -> None:
        async with SmartSender(emu.token, base_url=url, rate_limit=None) as client:
            ids = [chat.id async for chat in client.chats.stream(concurrency=4)]
            assert ids == emu.chat_ids()
            messages = client.chats.stream_messages(chat_id, concurrency=4)
            assert [m.id async for m in messages] == emu.message_ids(chat_id, activities=False)

    with emu.serve() as url:
        for backend in BACKENDS:
            anyio.run(scenario, url, backend=backend)
    assert emu.stats.by_endpoint[CHATS] == 2 * 11  # no head rescan: nothing moved


async def test_stream_all_messages_takes_chat_ids_and_checks_them_first() -> None:
    emulator = Emulator(seed=5, chats=4, messages_per_chat=3, rate_limit=None)
    async with emulator.client() as client:
        ids = emulator.chat_ids()[:2]
        pairs = [(chat.id, m.id) async for chat, m in client.chats.stream_all_messages(ids)]
        with pytest.raises(ValueError, match="chats"):
            client.chats.stream_all_messages([ids[0], 0])
    assert [chat_id for chat_id, _ in pairs] == [ids[0]] * 3 + [ids[1]] * 3
    assert emulator.stats.by_endpoint["GET /chats/{chatId}/messages"] == 2
