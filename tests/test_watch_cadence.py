"""The watch's cadence: start-to-start polls, sooner after activity, idle at ``interval``;
reads of chats with new messages come before the re-reads that only settle a second.

Time is the fake clock of ``tests/_watch_harness.py``; requests are recorded with the
fake-clock instant they reached the emulator.
"""

from __future__ import annotations

import itertools

import anyio
import httpx
import pytest

from smartsender_async.testing import Emulator
from smartsender_async.watch import ACTIVE_FACTOR, BUDGET_BURST, Watch
from tests._watch_harness import FakeTime

REQUEST_TIME = 0.05


class Recording(httpx.AsyncBaseTransport):
    """The emulator's transport; each request takes ``REQUEST_TIME`` of fake time."""

    def __init__(self, emu: Emulator, fake: FakeTime) -> None:
        self.inner = emu.transport()
        self.fake = fake
        self.log: list[tuple[float, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.log.append((self.fake(), request.url.path))
        response = await self.inner.handle_async_request(request)
        await self.fake.sleep(REQUEST_TIME)
        return response

    def lists(self, since: float = -1.0) -> list[float]:
        return [t for t, path in self.log if path.endswith("/chats") and t >= since]


def test_polls_are_spaced_start_to_start_and_sooner_after_activity() -> None:
    fake = FakeTime()
    emu = Emulator(seed=3, chats=100, messages_per_chat=3, clock=fake.clock)
    transport = Recording(emu, fake)
    interval = 5.0

    async def scenario() -> tuple[float, float]:
        async with fake.client(emu, transport=transport) as client:
            watch = Watch(client, interval=interval, clock=fake, sleep=fake.sleep)
            async with watch:
                await fake.sleep(30)  # past the start's settling
                for _ in range(4):
                    await watch._step()
                emu.add_inbound_message(emu.chat_ids()[50], "hello")
                at = fake()
                event = await watch.__anext__()
                assert event.message is not None and event.message.text == "hello"
                delivered = fake()
                for _ in range(12):
                    await watch._step()
                return at, delivered

    at, delivered = anyio.run(scenario)
    polls = transport.lists(since=at)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(polls)]
    # The poll that found the message is followed after interval * ACTIVE_FACTOR, start to
    # start (its own request time and the chat's read are inside the gap, not added).
    assert gaps[0] == pytest.approx(interval * ACTIVE_FACTOR)
    # Then idle polls every interval, start to start: exactly, not interval + request time.
    assert gaps[1:5] == [pytest.approx(interval)] * 4
    # Delivered one list and one message read after the poll that found it.
    assert delivered - polls[0] == pytest.approx(2 * REQUEST_TIME)


def test_an_idle_watch_after_activity_still_costs_one_request_per_interval() -> None:
    fake = FakeTime()
    emu = Emulator(seed=4, chats=100, messages_per_chat=3, clock=fake.clock)
    transport = Recording(emu, fake)

    async def scenario() -> float:
        async with fake.client(emu, transport=transport) as client:
            watch = Watch(client, interval=5.0, clock=fake, sleep=fake.sleep)
            async with watch:
                emu.add_inbound_message(emu.chat_ids()[10], "wake")
                await watch.__anext__()
                for _ in range(6):
                    await watch._step()  # the active follow-up poll and settle re-reads
                began = fake()
                while fake() < began + 100:
                    await watch._step()
                return began

    began = anyio.run(scenario)
    assert len([t for t, _ in transport.log if t >= began]) <= 100 / 5.0


def test_new_messages_are_read_before_settle_only_re_reads() -> None:
    fake = FakeTime()
    emu = Emulator(seed=5, chats=100, messages_per_chat=3, clock=fake.clock)
    transport = Recording(emu, fake)
    ids = emu.chat_ids()

    async def scenario() -> tuple[int, float]:
        async with fake.client(emu, transport=transport) as client:
            watch = Watch(client, interval=5.0, clock=fake, sleep=fake.sleep)
            async with watch:
                await fake.sleep(30)
                for _ in range(4):
                    await watch._step()
                # A message read within its own second leaves that chat unsettled...
                emu.add_inbound_message(ids[20], "first")
                assert (await watch.__anext__()).message is not None
                # ...so the next poll re-reads it; a newer chat's message must come first.
                emu.add_inbound_message(ids[30], "second")
                poll_from = fake()
                event = await watch.__anext__()
                assert event.message is not None and event.message.text == "second"
                return ids[30], poll_from

    chat, poll_from = anyio.run(scenario)
    after = [path for t, path in transport.log if t >= poll_from]
    assert after[0].endswith("/chats")
    assert after[1].endswith(f"/chats/{chat}/messages")


def test_the_first_poll_is_one_interval_after_the_baseline_not_after_the_start_wait() -> None:
    fake = FakeTime()
    emu = Emulator(seed=6, chats=100, messages_per_chat=3, clock=fake.clock)
    transport = Recording(emu, fake)

    async def scenario() -> None:
        async with fake.client(emu, transport=transport) as client:
            watch = Watch(client, interval=5.0, clock=fake, sleep=fake.sleep)
            async with watch:  # the baseline, the wait for its second, the re-read
                assert len(transport.lists()) == 1
                while len(transport.lists()) < 2:
                    await watch._step()

    anyio.run(scenario)
    baseline, first = transport.lists()
    assert first - baseline == pytest.approx(5.0)


def test_polling_sooner_under_heavy_churn_stays_within_the_budget_exactly_once() -> None:
    fake = FakeTime()
    emu = Emulator(seed=7, chats=300, messages_per_chat=3, churn_per_s=2.0, clock=fake.clock)
    transport = Recording(emu, fake)
    budget = 0.1  # of 180/min: 18 requests a minute, bursts of BUDGET_BURST on top

    async def scenario() -> list[int]:
        got: list[int] = []
        async with fake.client(emu, transport=transport) as client:
            watch = Watch(client, interval=0.25, budget=budget, clock=fake, sleep=fake.sleep)
            async with watch:
                end = fake() + 300
                async for event in watch:
                    assert event.message is not None
                    got.append(event.message.id)
                    if fake() > end:
                        break
        return got

    got = anyio.run(scenario)
    assert len(got) == len(set(got))  # exactly once while every poll is active
    assert len(got) > 50
    stamps = [t for t, _ in transport.log]
    for i, t0 in enumerate(stamps):
        assert len([t for t in stamps[i:] if t < t0 + 60]) <= 18 + BUDGET_BURST
