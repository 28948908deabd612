"""Exactly-once under churn: data changes between the page requests of a stream.

"Every" is the set that existed when the stream started, plus what README "Streaming"
promises for items that arrive or move during it. Changes are made from the wire's
``before`` hook, just before a request reaches the emulator, and never mid-request: the
in-process emulator reads a page atomically and in the order requests were sent. Time is
a :class:`FakeClock`, advanced one second per request.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from smartsender_async.testing import Emulator, FakeClock
from tests.test_streams import CHATS, Runner, Wire, _no_complaints, emulator, run

__all__ = ["_no_complaints", "run"]  # fixtures, re-exported for pytest

pytestmark = pytest.mark.filterwarnings("error")


def last_read_of_page_1(wire: Wire) -> int:
    """Index in ``wire.log`` of the final pass's read of page 1 of the chat list."""
    return max(i for i, entry in enumerate(wire.log) if entry == ("/chats", 1))


def assert_once(ids: list[int]) -> None:
    twice = [i for i, n in Counter(ids).items() if n > 1]
    assert not twice, f"delivered twice: {twice}"


# -- chats -----------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chats_under_background_churn_arrive_exactly_once(
    run: Runner, seed: int, concurrency: int
) -> None:
    clock = FakeClock()
    emu = Emulator(
        seed=seed, chats=205, messages_per_chat=3, rate_limit=None, churn_per_s=1.5, clock=clock
    )
    initial = emu.chat_ids()
    stamps = {c: emu.chat_status(c).updated_at for c in initial}
    moved_at: dict[int, int] = {}  # chat -> index of the request its latest activity preceded

    def before(path: str, page: int | None) -> None:
        clock.advance(1)
        if emu.tick():
            for chat_id in initial:
                stamp = emu.chat_status(chat_id).updated_at
                if stamp != stamps[chat_id]:
                    stamps[chat_id], moved_at[chat_id] = stamp, len(wire.log)

    wire = Wire(emu, before=before)
    delivered: list[tuple[int, int]] = []  # (chat id, requests read when it was delivered)

    async def scenario() -> None:
        async with emu.client(transport=wire) as client:
            stream = client.chats.stream(concurrency=concurrency)
            async for chat in stream:
                delivered.append((chat.id, len(wire.log)))
            assert 1 <= stream.rescans <= 3

    run(scenario)
    ids = [chat_id for chat_id, _ in delivered]
    assert_once(ids)
    assert sorted(ids) == sorted(initial)  # each chat that existed at the start, once
    # The test means something: chats moved behind the pass, and a rescan caught them.
    first_rescan = wire.log.index(("/chats", 1), 1)
    caught = [c for c, at in delivered if at > first_rescan]
    assert caught
    assert all(c in moved_at for c in caught)
    assert emu.stats.churn_messages > 5


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("seed", [1, 2])
def test_open_chats_under_churn_reopened_ones_arrive_if_moved_before_the_final_rescan(
    run: Runner, seed: int, concurrency: int
) -> None:
    """Reopening a closed chat adds it to ``state="open"``: a chat created during the walk."""
    rng = random.Random(seed)
    clock = FakeClock()
    emu = Emulator(seed=seed, chats=205, messages_per_chat=3, rate_limit=None, clock=clock)
    chat_ids = emu.chat_ids()
    open_at_start = [c for c in chat_ids if emu.chat_status(c).state == "open"]
    closed = [c for c in chat_ids if c not in set(open_at_start)]
    rng.shuffle(closed)
    moved_at: dict[int, int] = {}

    def before(path: str, page: int | None) -> None:
        clock.advance(1)
        # Many chats move to the head each request, so every rescan reads several pages.
        for chat_id in rng.sample(chat_ids, 8):
            if emu.chat_status(chat_id).state == "open":
                emu.add_inbound_message(chat_id, "bump")
                moved_at[chat_id] = len(wire.log)
        if closed:
            reopened = closed.pop()
            emu.add_inbound_message(reopened, "reopen")
            moved_at[reopened] = len(wire.log)

    wire = Wire(emu, before=before)
    ids: list[int] = []

    async def scenario() -> None:
        async with emu.client(transport=wire) as client:
            stream = client.chats.stream(state="open", concurrency=concurrency)
            ids.extend([chat.id async for chat in stream])
            assert stream.rescans == 3  # churn never stops: the rescans run out

    run(scenario)
    assert_once(ids)
    assert set(open_at_start) <= set(ids)
    final = last_read_of_page_1(wire)
    promised = {c for c, at in moved_at.items() if at <= final}
    assert promised <= set(ids), f"missed {sorted(promised - set(ids))}"
    assert set(ids) - set(open_at_start)  # some reopened chats were delivered


def test_a_chat_moving_from_an_unread_page_to_the_head_is_caught_by_one_rescan(
    run: Runner,
) -> None:
    emu = emulator(chats=205, messages_per_chat=3)
    tail = emu.chat_ids()[-1]

    def before(path: str, page: int | None) -> None:
        if wire.log == [("/chats", 1)]:  # page 1 was read; the tail is still unread
            emu.add_inbound_message(tail)

    wire = Wire(emu, before=before)

    async def scenario() -> None:
        async with emu.client(transport=wire) as client:
            stream = client.chats.stream()
            ids = [chat.id async for chat in stream]
            assert sorted(ids) == sorted(emu.chat_ids())
            assert ids[-1] == tail  # missed by the pass, delivered by the rescan
            assert stream.rescans == 1
            # The move shifted page 2 by one (its first chat repeats page 1's last), and
            # the rescan met the pass's first chat again before the unchanged ones.
            assert stream.duplicates == 2
        # The pass (11 pages) and one rescan that read page 1 alone.
        assert emu.stats.by_endpoint[CHATS] == 12

    run(scenario)


# -- messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("per_request", [2, 25], ids=["few", "pages-of"])
def test_messages_under_churn_existing_ones_arrive_exactly_once_newest_first(
    run: Runner, concurrency: int, per_request: int
) -> None:
    rng = random.Random(per_request * 10 + concurrency)
    emu = emulator(chats=3, messages_per_chat=205)
    chat_id = emu.chat_ids()[1]
    initial = emu.message_ids(chat_id, activities=False)
    arrived: list[int] = []

    def before(path: str, page: int | None) -> None:
        if per_request >= 20:
            # A burst of more than a page before each of the first reads only: arriving
            # faster than the stream reads for good, the end would recede for ever.
            count = per_request if len(wire.log) < 4 else 0
        else:
            count = rng.randint(0, per_request)
        for _ in range(count):
            arrived.append(emu.add_inbound_message(chat_id, "new")["id"])

    wire = Wire(emu, before=before)
    ids: list[int] = []

    async def scenario() -> None:
        async with emu.client(transport=wire) as client:
            stream = client.chats.stream_messages(chat_id, concurrency=concurrency)
            ids.extend([m.id async for m in stream])
            assert stream.duplicates > 0  # pages did shift; repeats were dropped

    run(scenario)
    assert_once(ids)
    assert [i for i in ids if i in set(initial)] == initial
    assert set(ids) <= set(initial) | set(arrived)
    if per_request >= 20:
        # More than a page arrived between two reads: page 2 then starts with messages
        # newer than page 1's. They come once, but out of newest-first position.
        assert ids != sorted(ids, reverse=True)


def test_messages_under_background_churn_on_a_fake_clock(run: Runner) -> None:
    clock = FakeClock()
    emu = Emulator(
        seed=4, chats=1, messages_per_chat=205, rate_limit=None, churn_per_s=3.0, clock=clock
    )
    chat_id = emu.chat_ids()[0]
    initial = emu.message_ids(chat_id, activities=True)

    def before(path: str, page: int | None) -> None:
        clock.advance(1)  # the emulator applies the churn due by now to this request

    wire = Wire(emu, before=before)
    ids: list[int] = []

    async def scenario() -> None:
        async with emu.client(transport=wire) as client:
            contact_id = emu.contact_id_of(chat_id)
            stream = client.contacts.stream_messages(contact_id, activities=True)
            ids.extend([m.id async for m in stream])

    run(scenario)
    assert emu.stats.churn_messages > 10
    assert_once(ids)
    assert [i for i in ids if i in set(initial)] == initial


# -- fan-out ---------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [2, 8])
def test_all_messages_under_churn_every_pair_once(run: Runner, concurrency: int) -> None:
    rng = random.Random(concurrency)
    emu = emulator(chats=25, messages_per_chat=45)
    chat_ids = emu.chat_ids()
    initial = {c: emu.message_ids(c, activities=False) for c in chat_ids}

    def before(path: str, page: int | None) -> None:
        for chat_id in rng.sample(chat_ids, rng.randint(0, 3)):
            emu.add_inbound_message(chat_id, "new")

    wire = Wire(emu, before=before)
    pairs: list[tuple[int, int]] = []

    async def scenario() -> None:
        async with emu.client(transport=wire) as client:
            stream = client.chats.stream_all_messages(concurrency=concurrency)
            pairs.extend([(chat.id, m.id) async for chat, m in stream])

    run(scenario)
    assert len(pairs) == len(set(pairs))
    order: list[int] = []
    for chat_id, _ in pairs:
        if not order or order[-1] != chat_id:
            order.append(chat_id)
    assert sorted(order) == sorted(chat_ids)  # each chat once, its messages together
    for chat_id, wanted in initial.items():
        got = [m for c, m in pairs if c == chat_id]
        assert [m for m in got if m in set(wanted)] == wanted
