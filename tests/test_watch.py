"""``client.watch()``: exactly once under churn, resume, idle cost, both chat orders, faults.

Time is one :class:`FakeClock` shared by the emulator, the client's limiter and the watch
(see ``tests/_watch_harness.py``): ten minutes of emulated time run in a second or two.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from typing import Any

import anyio
import httpx
import pytest

from smartsender_async import SmartSender
from smartsender_async.changes import START, Position
from smartsender_async.testing import Emulator, Faults
from smartsender_async.watch import BUDGET_BURST, Watch, WatchEvent
from tests._watch_harness import FakeTime, FlakyTransport

BACKENDS = ["asyncio", "trio"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_ids(emu: Emulator) -> set[int]:
    """The emulator's own list of messages created since it was built (sent or inbound)."""
    return set(emu.store._new)


def make_watch(client: SmartSender, fake: FakeTime, **kwargs: Any) -> Watch:
    return Watch(client, clock=fake, sleep=fake.sleep, **kwargs)


async def collect_until(
    watch: Watch, fake: FakeTime, until: float, *, want: set[int] | None = None
) -> list[WatchEvent]:
    """Events until the fake clock passes ``until`` (and, if given, ``want`` is covered)."""
    events: list[WatchEvent] = []
    got: set[int] = set()
    give_up = max(until, fake()) + 600  # a lost message fails the test instead of hanging it
    while not (fake() >= until and (want is None or want <= got)) and fake() < give_up:
        while not watch._buffer and fake() < give_up:
            await watch._step()
        if not watch._buffer:
            break
        event = await watch.__anext__()
        events.append(event)
        if event.message is not None:
            got.add(event.message.id)
    return events


def assert_once(ids: list[int]) -> None:
    twice = [i for i, n in Counter(ids).items() if n > 1]
    assert not twice, f"delivered twice: {twice[:10]}"


# -- the headline proof --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "order"), [(1, "updatedAt"), (2, "updatedAt"), (3, "updatedAt"), (4, "id")]
)
def test_ten_minutes_of_churn_faults_and_page_moves_zero_lost_zero_duplicates(
    seed: int, order: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeTime()
    emu = Emulator(
        seed=seed,
        chats=300,
        messages_per_chat=4,
        churn_per_s=0.4,
        clock=fake.clock,
        faults=Faults(error_rate=0.05),
        chat_order=order,
    )
    rng = random.Random(seed)
    chat_ids = emu.chat_ids()
    flaky = FlakyTransport(emu, timeout_rate=0.04, seed=seed)

    def storm(before: float, after: float) -> None:
        emu.tick()  # churn due so far lands first, so stamps never run backwards
        # Now and then a burst moves 25-45 chats to the head at once: scans span pages,
        # and chats jump between pages while a scan reads them.
        if rng.random() < 0.08:
            for chat_id in rng.sample(chat_ids, rng.randint(25, 45)):
                emu.add_inbound_message(chat_id, "burst")

    start_new = new_ids(emu)
    during: set[int] = set()  # created while a full-listing baseline was being taken
    caplog.set_level(logging.WARNING, logger="smartsender_async")

    async def scenario() -> list[WatchEvent]:
        async with fake.client(emu, transport=flaky) as client:
            watch = make_watch(client, fake)
            async with watch:
                if order == "id":
                    # A full listing's baseline takes several paced requests; in that
                    # mode the start is somewhere inside it (docs/guides/watch.md).
                    during.update(new_ids(emu) - start_new)
                began = fake()
                fake.on_advance = storm
                events = await collect_until(watch, fake, began + 600)
                fake.on_advance = None
                emu.churn_per_s = 0
                created = new_ids(emu) - start_new
                events += await collect_until(watch, fake, fake() + 30, want=created)
            return events

    events = anyio.run(scenario)
    created = new_ids(emu) - start_new
    ids = [e.message.id for e in events if e.message is not None]
    assert_once(ids)
    assert created - during <= set(ids) <= created
    assert len(created) > 250
    # The scenario meant something: faults and timeouts happened, bursts spanned pages.
    assert emu.stats.faults["error"] > 5
    assert flaky.timeouts > 5
    assert emu.stats.locked == 0
    warnings = [r for r in caplog.records if "not ordered by updatedAt" in r.getMessage()]
    assert len(warnings) == (1 if order == "id" else 0)


def test_watch_under_trio_and_asyncio_same_delivery(backend: str) -> None:
    fake = FakeTime()
    emu = Emulator(seed=7, chats=120, messages_per_chat=3, churn_per_s=0.5, clock=fake.clock)
    start_new = new_ids(emu)

    async def scenario() -> list[WatchEvent]:
        async with fake.client(emu) as client, make_watch(client, fake) as watch:
            events = await collect_until(watch, fake, fake() + 120)
            emu.churn_per_s = 0
            events += await collect_until(watch, fake, fake() + 30, want=new_ids(emu) - start_new)
            return events

    events = anyio.run(scenario, backend=backend)
    ids = [e.message.id for e in events if e.message]
    assert_once(ids)
    assert set(ids) == new_ids(emu) - start_new


# -- the same second -----------------------------------------------------------------------


def test_messages_in_the_same_second_as_the_mark_are_each_delivered_once() -> None:
    """The clock never moves between writes: every message shares the mark's second."""
    fake = FakeTime()
    emu = Emulator(seed=3, chats=50, messages_per_chat=3, clock=fake.clock)
    chats = emu.chat_ids()
    sent: list[int] = []

    async def scenario() -> list[WatchEvent]:
        events: list[WatchEvent] = []
        async with fake.client(emu) as client, make_watch(client, fake) as watch:
            # Same second as the newest chat's updatedAt, on that chat and others.
            for chat_id in (chats[0], chats[5], chats[0]):
                sent.append(emu.add_inbound_message(chat_id, "same second")["id"])
            again = True
            async for event in watch:
                events.append(event)
                if again and event.message and event.message.id == sent[-1]:
                    again = False  # once more, in the second the watch has just read
                    for chat_id in (chats[0], chats[9]):
                        sent.append(emu.add_inbound_message(chat_id, "again")["id"])
                if not again and {e.message.id for e in events if e.message} >= set(sent):
                    break
        return events

    events = anyio.run(scenario)
    ids = [e.message.id for e in events if e.message]
    assert_once(ids)
    assert set(ids) == set(sent)


def test_default_start_is_now_no_backlog_and_start_replays_everything() -> None:
    fake = FakeTime()
    emu = Emulator(seed=5, chats=30, messages_per_chat=3, clock=fake.clock)
    every = {m for c in emu.chat_ids() for m in emu.message_ids(c, activities=False)}

    async def scenario() -> tuple[list[WatchEvent], list[WatchEvent]]:
        async with fake.client(emu) as client:
            async with make_watch(client, fake, position=START) as watch:
                replay = await collect_until(watch, fake, 0, want=every)
            async with make_watch(client, fake) as watch:
                msg = emu.add_inbound_message(emu.chat_ids()[-1], "after start")
                fresh = await collect_until(watch, fake, 0, want={msg["id"]})
            return replay, fresh

    replay, fresh = anyio.run(scenario)
    assert sorted(e.message.id for e in replay if e.message) == sorted(every)
    assert [e.message.id for e in fresh if e.message] == [emu.store._next_message_id - 1]


def test_client_watch_start_constant_reads_naturally() -> None:
    emu = Emulator(chats=3, rate_limit=None)
    client = emu.client()
    assert client.watch.START == START == "start"
    assert isinstance(client.watch(position=client.watch.START), Watch)


# -- resume --------------------------------------------------------------------------------


@pytest.mark.parametrize("stop_after", [1, 7, 23, 40])
def test_resume_from_a_saved_position_loses_nothing_and_repeats_nothing(stop_after: int) -> None:
    fake = FakeTime()
    emu = Emulator(seed=11, chats=150, messages_per_chat=3, churn_per_s=0.6, clock=fake.clock)
    rng = random.Random(stop_after)
    chats = emu.chat_ids()
    start_new = new_ids(emu)
    first: list[WatchEvent] = []
    second: list[WatchEvent] = []

    async def scenario() -> None:
        async with fake.client(emu) as client:
            async with make_watch(client, fake) as watch:
                # A burst, so that one scan holds many events to stop in the middle of.
                for chat_id in rng.sample(chats, 30):
                    emu.add_inbound_message(chat_id, "burst")
                async for event in watch:
                    first.append(event)
                    if len(first) == stop_after:
                        break
            saved = json.loads(json.dumps(first[-1].position))  # through JSON, as a file would
            # Down for a while: messages keep arriving.
            await fake.sleep(40)
            for chat_id in rng.sample(chats, 5):
                emu.add_inbound_message(chat_id, "while down")
            async with make_watch(client, fake, position=saved) as watch:
                emu.churn_per_s = 0
                want = new_ids(emu) - start_new - {e.message.id for e in first if e.message}
                second.extend(await collect_until(watch, fake, 0, want=want))

    anyio.run(scenario)
    ids = [e.message.id for e in first + second if e.message]
    assert_once(ids)
    assert set(ids) == new_ids(emu) - start_new


def test_a_position_survives_json_and_rejects_garbage() -> None:
    emu = Emulator(chats=3, rate_limit=None)
    client = emu.client()
    position = Position("ordered", 10, {}, 12).to_json()
    assert Position.from_json(json.dumps(position)).to_json() == position
    for bad in ({"v": 99}, {"v": 1, "mode": "x"}, "not json", {"v": 1, "mode": "ordered"}):
        with pytest.raises(ValueError, match="position"):
            client.watch(position=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="position"):
        client.watch(position=3.5)


# -- cost ----------------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [5.0, 1.0, 0.25])
def test_an_idle_project_costs_at_most_one_request_per_interval(interval: float) -> None:
    fake = FakeTime()
    emu = Emulator(seed=2, chats=200, messages_per_chat=3, clock=fake.clock)
    intervals = 40

    async def scenario() -> None:
        async with fake.client(emu) as client:
            watch = make_watch(client, fake, interval=interval)
            async with watch:
                emu.stats.reset()  # from the first __anext__ on
                began = fake()
                while fake() < began + intervals * interval:
                    await watch._step()

    anyio.run(scenario)
    assert emu.stats.requests <= intervals
    # ...and it did poll: page 1 of /chats.
    assert emu.stats.by_endpoint["GET /chats"] >= 8


def test_an_idle_watch_backs_off_to_max_interval_and_snaps_back_on_activity() -> None:
    fake = FakeTime()
    emu = Emulator(seed=2, chats=60, messages_per_chat=3, clock=fake.clock)

    async def scenario() -> list[float]:
        async with fake.client(emu) as client:
            watch = make_watch(client, fake, interval=5, max_interval=40)
            async with watch:
                for _ in range(40):
                    await watch._step()
                assert watch._current == 40
                emu.add_inbound_message(emu.chat_ids()[-1], "wake up")
                event = await watch.__anext__()
                assert event.message is not None
                for _ in range(3):
                    await watch._step()
                return [watch._current]

    assert anyio.run(scenario) == [5.0]


def test_a_change_costs_page_one_plus_the_changed_chats_new_pages() -> None:
    fake = FakeTime()
    emu = Emulator(seed=2, chats=200, messages_per_chat=3, clock=fake.clock)

    async def scenario() -> None:
        async with fake.client(emu) as client, make_watch(client, fake) as watch:
            await fake.sleep(30)  # the start's newest second is settled by now
            for _ in range(3):
                await watch._step()
            emu.stats.reset()
            chat_id = emu.chat_ids()[-1]  # the oldest chat: it jumps from the last page
            for _ in range(25):  # 25 new messages: two message pages
                emu.add_inbound_message(chat_id, "x")
            await fake.sleep(10)
            got = [await watch.__anext__() for _ in range(25)]
            assert len({e.message.id for e in got if e.message}) == 25

    anyio.run(scenario)
    assert emu.stats.by_endpoint["GET /chats"] == 1
    assert emu.stats.by_endpoint["GET /chats/{chatId}/messages"] == 2


def test_full_listing_mode_when_the_order_is_not_updated_at(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeTime()
    emu = Emulator(seed=4, chats=100, messages_per_chat=3, clock=fake.clock, chat_order="id")
    caplog.set_level(logging.WARNING, logger="smartsender_async")

    async def scenario() -> None:
        async with fake.client(emu) as client, make_watch(client, fake, interval=5) as watch:
            assert watch.mode == "full"
            emu.stats.reset()
            began = fake()
            msg = emu.add_inbound_message(emu.chat_ids()[50], "deep in the list")
            event = await watch.__anext__()
            assert event.message is not None and event.message.id == msg["id"]
            while fake() < began + 300:
                await watch._step()

    anyio.run(scenario)
    warnings = [r for r in caplog.records if "not ordered by updatedAt" in r.getMessage()]
    assert len(warnings) == 1
    # A full listing (5 pages for 100 chats) at most every 6 intervals (30 s).
    assert emu.stats.by_endpoint["GET /chats"] <= 5 * (300 // 30 + 2)


# -- quota and lock ------------------------------------------------------------------------


def test_budget_caps_the_watchs_share_of_the_quota() -> None:
    fake = FakeTime()
    emu = Emulator(seed=9, chats=400, messages_per_chat=3, clock=fake.clock)
    stamps: list[float] = []

    inner = emu.transport()

    class Stamp(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            stamps.append(fake())
            return await inner.handle_async_request(request)

    async def scenario() -> None:
        async with (
            fake.client(emu, transport=Stamp()) as client,
            make_watch(client, fake, budget=0.25, position=START) as watch,
        ):
            async for _ in watch:
                if fake() > 1000 + 240:
                    break

    anyio.run(scenario)
    # 0.25 of 180/min = 45/min; a burst on top in any window.
    for i in range(len(stamps)):
        window = [t for t in stamps[i:] if t < stamps[i] + 60]
        assert len(window) <= 45 + BUDGET_BURST
    assert len(stamps) > 100


def test_beside_a_second_client_on_the_same_limiter_zero_423() -> None:
    fake = FakeTime()
    emu = Emulator(seed=6, chats=200, messages_per_chat=3, churn_per_s=0.3, clock=fake.clock)
    limiter = fake.limiter()
    start_new = new_ids(emu)

    async def busy(other: SmartSender, stop: anyio.Event) -> None:
        chats = emu.chat_ids()
        i = 0
        while not stop.is_set():
            await other.chats.get(chats[i % len(chats)])
            i += 1

    async def scenario() -> list[WatchEvent]:
        async with (
            fake.client(emu, rate_limit=limiter) as client,
            fake.client(emu, rate_limit=limiter) as other,
        ):
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(busy, other, stop)
                async with make_watch(client, fake, budget=0.5) as watch:
                    events = await collect_until(watch, fake, fake() + 300)
                    emu.churn_per_s = 0
                    events += await collect_until(
                        watch, fake, fake() + 30, want=new_ids(emu) - start_new
                    )
                stop.set()
            return events

    events = anyio.run(scenario)
    assert emu.stats.locked == 0
    assert emu.stats.requests > 500  # the second client really was busy
    ids = [e.message.id for e in events if e.message]
    assert_once(ids)
    assert set(ids) == new_ids(emu) - start_new


def test_a_423_lock_is_waited_out_and_the_watch_resumes_without_loss() -> None:
    fake = FakeTime()
    emu = Emulator(seed=8, chats=100, messages_per_chat=3, churn_per_s=0.3, clock=fake.clock)
    start_new = new_ids(emu)

    async def scenario() -> list[WatchEvent]:
        async with fake.client(emu) as client:
            async with make_watch(client, fake) as watch:
                events = await collect_until(watch, fake, fake() + 60)
                # Another process on the token, with no shared limiter, breaches the quota.
                async with emu.client(rate_limit=None, retry=None) as rogue:
                    for _ in range(200):
                        try:
                            await rogue.chats.list()
                        except Exception:
                            break
                assert emu.stats.lock_events == 1
                events += await collect_until(watch, fake, fake() + 200)
                emu.churn_per_s = 0
                events += await collect_until(
                    watch, fake, fake() + 30, want=new_ids(emu) - start_new
                )
            return events

    events = anyio.run(scenario)
    ids = [e.message.id for e in events if e.message]
    assert_once(ids)
    assert set(ids) == new_ids(emu) - start_new
    assert emu.stats.locked >= 1


# -- filters and chat events ---------------------------------------------------------------


def test_inbound_only_and_chat_events() -> None:
    fake = FakeTime()
    emu = Emulator(seed=1, chats=40, messages_per_chat=3, clock=fake.clock)
    chats = emu.chat_ids()

    async def scenario() -> list[WatchEvent]:
        async with (
            fake.client(emu) as client,
            Watch(
                client,
                clock=fake,
                sleep=fake.sleep,
                inbound_only=True,
                include_chat_changes=True,
            ) as watch,
        ):
            inbound = emu.add_inbound_message(chats[3], "hi")
            await client.contacts.send(emu.contact_id_of(chats[3]), "reply")
            await fake.sleep(10)
            first = await watch.__anext__()
            await client.chats.read(chats[3])  # unreadMessages -> 0: a state change
            await fake.sleep(10)
            second = await watch.__anext__()
            assert first.message is not None and first.message.id == inbound["id"]
            return [first, second]

    first, second = anyio.run(scenario)
    assert first.kind == "message" and first.message and first.message.is_inbound
    assert second.kind == "chat" and second.message is None
    assert second.chat.id == chats[3] and second.chat.unread_messages == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"interval": 0}, ValueError),
        ({"interval": "5"}, TypeError),
        ({"interval": float("inf")}, ValueError),
        ({"budget": 0}, ValueError),
        ({"budget": 1.5}, ValueError),
        ({"budget": True}, TypeError),
        ({"inbound_only": 1}, TypeError),
        ({"include_chat_changes": "yes"}, TypeError),
        ({"interval": 10, "max_interval": 5}, ValueError),
    ],
)
def test_bad_arguments_raise_before_any_request(kwargs: dict[str, Any], error: type) -> None:
    emu = Emulator(chats=3, rate_limit=None)
    client = emu.client()
    name = next(iter(kwargs)) if "max_interval" not in kwargs else "max_interval"
    with pytest.raises(error, match=name):
        client.watch(**kwargs)
    assert emu.stats.requests == 0


# -- abandoning ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["break", "exception", "cancel"])
def test_abandoning_midway_leaves_nothing_running(backend: str, how: str) -> None:
    fake = FakeTime()
    emu = Emulator(seed=3, chats=80, messages_per_chat=3, churn_per_s=1.0, clock=fake.clock)

    async def scenario() -> int:
        async with fake.client(emu) as client:
            watch = make_watch(client, fake)
            if how == "cancel":
                with anyio.CancelScope() as scope:
                    async with watch:
                        async for _ in watch:
                            scope.cancel()
                            await anyio.lowlevel.checkpoint()
            elif how == "exception":

                async def consume() -> None:
                    async with watch:
                        async for _ in watch:
                            raise KeyError("consumer failed")

                with pytest.raises(KeyError):
                    await consume()
            else:
                async with watch:
                    async for _ in watch:
                        break
            sent = emu.stats.requests
            await fake.sleep(60)
            for _ in range(5):
                await anyio.lowlevel.checkpoint()
            assert emu.stats.requests == sent  # nothing polls in the background
            with pytest.raises(StopAsyncIteration):
                await watch.__anext__()
            return sent

    assert anyio.run(scenario, backend=backend) >= 2


@pytest.mark.parametrize("year", [1999, 2090])
def test_a_server_clock_years_off_ours_changes_nothing(year: int) -> None:
    """The engine reads no wall clock: a server decades behind or ahead is the same."""
    import datetime as dt

    fake = FakeTime()
    emu = Emulator(
        seed=13,
        chats=80,
        messages_per_chat=3,
        churn_per_s=0.5,
        clock=fake.clock,
        epoch=dt.datetime(year, 6, 1, tzinfo=dt.timezone.utc),
    )
    start_new = new_ids(emu)

    async def scenario() -> list[WatchEvent]:
        async with fake.client(emu) as client, make_watch(client, fake) as watch:
            for chat_id in emu.chat_ids()[:3]:  # the same second as the mark, at once
                emu.add_inbound_message(chat_id, "same second")
            events = await collect_until(watch, fake, fake() + 120)
            emu.churn_per_s = 0
            events += await collect_until(watch, fake, fake() + 30, want=new_ids(emu) - start_new)
            return events

    events = anyio.run(scenario)
    ids = [e.message.id for e in events if e.message]
    assert_once(ids)
    assert set(ids) == new_ids(emu) - start_new


def test_two_watches_on_two_event_loops_in_threads_do_not_interfere() -> None:
    import threading

    results: dict[int, set[int]] = {}

    def worker(n: int) -> None:
        fake = FakeTime()
        emu = Emulator(
            seed=20 + n, chats=50, messages_per_chat=3, churn_per_s=0.5, clock=fake.clock
        )
        start_new = new_ids(emu)

        async def scenario() -> None:
            async with fake.client(emu) as client, make_watch(client, fake) as watch:
                events = await collect_until(watch, fake, fake() + 60)
                emu.churn_per_s = 0
                events += await collect_until(
                    watch, fake, fake() + 30, want=new_ids(emu) - start_new
                )
                got = [e.message.id for e in events if e.message]
                assert_once(got)
                results[n] = set(got) ^ (new_ids(emu) - start_new)

        anyio.run(scenario, backend="trio" if n else "asyncio")

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {0: set(), 1: set()}
