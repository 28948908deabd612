"""The in-memory limiter: GCRA arithmetic and the lock gate, under fake clocks only."""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import anyio
import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from smartsender_async.ratelimit import (
    InMemoryRateLimiter,
    LockGateClosedError,
    RateLimit,
    RateLimiter,
    make_limiter,
)

KEY = "a" * 64
OTHER = "b" * 64


# --------------------------------------------------------------------------- fake clocks


class StillClock:
    """A clock that only moves when the test moves it; ``sleep`` records and returns.

    Models many concurrent callers arriving at ``now``: each one's admission time is
    ``now`` plus the sleep it asked for.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


class VirtualTime:
    """Virtual time for concurrent tasks: time jumps to the next sleeper's deadline
    whenever every task is blocked.  Works under asyncio and trio."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        event = anyio.Event()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._seq), event))
        await event.wait()

    async def run(self, *workers: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        async with anyio.create_task_group() as tg:
            for worker in workers:
                tg.start_soon(worker)
            while True:
                await anyio.wait_all_tasks_blocked()
                if not self._sleepers:
                    return
                deadline, _, event = heapq.heappop(self._sleepers)
                self.now = max(self.now, deadline)
                event.set()


def run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never really suspends (fake sleeps) to completion."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("coroutine suspended")


def admit(limiter: InMemoryRateLimiter, fake: StillClock, at: float, key: str = KEY) -> float:
    """One caller arriving at ``at``: return the time its slot starts."""
    fake.now = at
    before = len(fake.sleeps)
    run_now(limiter.acquire(key))
    slept = fake.sleeps[before:]
    assert len(slept) <= 1
    return at + (slept[0] if slept else 0.0)


def max_in_window(times: Sequence[float], width: float, *, closed: bool) -> int:
    """The most of ``times`` (sorted) inside any window [a, a + width) or [a, a + width]."""
    best = 0
    i = 0
    for j, t in enumerate(times):
        while (t - times[i] > width) if closed else (t - times[i] >= width):
            i += 1
        best = max(best, j - i + 1)
    return best


# --------------------------------------------------------------------------- RateLimit


def test_defaults_and_derived_numbers() -> None:
    rate = RateLimit()
    assert (rate.requests, rate.period, rate.burst, rate.margin) == (180, 60.0, 5, 1.0)
    assert rate.emission_interval == pytest.approx(61 / 176)
    assert rate.tolerance == pytest.approx(4 * 61 / 176)
    # the team's target: at least 95 % of the quota in a long run
    assert rate.sustained_rate * 60 >= 0.95 * 180
    assert rate.sustained_rate * 60 == pytest.approx(173.1, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"requests": 0}, "requests"),
        ({"requests": 2.5}, "requests"),
        ({"requests": True}, "requests"),
        ({"period": 0}, "period"),
        ({"period": -1.0}, "period"),
        ({"period": math.inf}, "period"),
        ({"period": math.nan}, "period"),
        ({"burst": 0}, "burst"),
        ({"burst": 181}, "burst"),
        ({"requests": 3, "burst": 4}, "burst"),
        ({"margin": -0.1}, "margin"),
        ({"margin": math.inf}, "margin"),
    ],
)
def test_rate_limit_validation_names_the_argument(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RateLimit(**kwargs)


def test_one_request_per_period_is_allowed() -> None:
    rate = RateLimit(requests=1, period=2.0, burst=1, margin=0.0)
    assert rate.emission_interval == 2.0
    fake = StillClock()
    limiter = InMemoryRateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    assert [admit(limiter, fake, 0.0) for _ in range(3)] == [0.0, 2.0, 4.0]


# --------------------------------------------------------------------------- GCRA arithmetic


def test_default_never_lets_more_than_180_into_any_minute() -> None:
    fake = StillClock()
    limiter = InMemoryRateLimiter(clock=fake.clock, sleep=fake.sleep)
    # 2000 callers all at once: the worst case for bursts
    times = [admit(limiter, fake, 0.0) for _ in range(2000)]
    assert times == sorted(times)
    assert max_in_window(times, 60.0, closed=True) == 178  # 2 requests of headroom
    # the margin: 1 s of jitter (less float rounding, see the property test below)
    assert max_in_window(times, 61.0 - 1e-9, closed=False) <= 180
    assert times[:5] == [0.0] * 5  # the burst
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate * 60 >= 0.95 * 180


def test_burst_then_steady_spacing() -> None:
    rate = RateLimit(requests=10, period=10.0, burst=3, margin=0.0)
    fake = StillClock()
    limiter = InMemoryRateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    times = [admit(limiter, fake, 0.0) for _ in range(6)]
    interval = rate.emission_interval
    assert interval == pytest.approx(10 / 8)
    assert times == pytest.approx([0, 0, 0, interval, 2 * interval, 3 * interval])


def test_quiet_spell_restores_the_burst() -> None:
    rate = RateLimit(requests=10, period=10.0, burst=3, margin=0.0)
    fake = StillClock()
    limiter = InMemoryRateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    for _ in range(6):
        admit(limiter, fake, 0.0)
    later = 100.0
    assert [admit(limiter, fake, later) for _ in range(3)] == [later] * 3
    assert admit(limiter, fake, later) > later


def test_acquire_returns_seconds_waited() -> None:
    rate = RateLimit(requests=3, period=2.0, burst=1, margin=0.0)
    vt = VirtualTime()
    limiter = InMemoryRateLimiter(rate, clock=vt.clock, sleep=vt.sleep)
    waits: list[float] = []

    async def caller() -> None:
        waits.append(await limiter.acquire(KEY))

    anyio.run(vt.run, caller, caller, caller)
    assert sorted(waits) == pytest.approx([0.0, 2 / 3, 4 / 3])


def test_keys_have_separate_quotas() -> None:
    rate = RateLimit(requests=2, period=10.0, burst=1, margin=0.0)
    fake = StillClock()
    limiter = InMemoryRateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    assert admit(limiter, fake, 0.0, KEY) == 0.0
    assert admit(limiter, fake, 0.0, KEY) == 5.0
    assert admit(limiter, fake, 0.0, OTHER) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    requests=st.integers(1, 40),
    period=st.floats(0.5, 100.0),
    burst_fraction=st.floats(0.0, 1.0),
    margin=st.sampled_from([0.0, 0.01, 1.0]),
    gaps=st.lists(
        st.one_of(st.just(0.0), st.floats(0.0, 5.0), st.floats(0.0, 200.0)),
        min_size=1,
        max_size=150,
    ),
)
def test_no_window_ever_holds_more_than_the_quota(
    requests: int, period: float, burst_fraction: float, margin: float, gaps: list[float]
) -> None:
    burst = max(1, min(requests, round(burst_fraction * requests)))
    rate = RateLimit(requests=requests, period=period, burst=burst, margin=margin)
    fake = StillClock()
    limiter = InMemoryRateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    arrivals = list(itertools.accumulate(gaps))
    times = [admit(limiter, fake, at) for at in arrivals]
    assert all(t >= a for t, a in zip(times, arrivals, strict=True))
    assert times == sorted(times)  # first come, first served
    # Float rounding may put two slots 1e-9 s closer than the exact arithmetic; the
    # margin absorbs that in real use, so the test shrinks the window by as much.
    assert max_in_window(times, period + margin - 1e-9, closed=False) <= requests
    if margin > 0:
        assert max_in_window(times, period, closed=True) <= requests


# --------------------------------------------------------------------------- lock gate


def test_lock_gate_holds_every_caller_then_releases_them_paced() -> None:
    rate = RateLimit(requests=10, period=10.0, burst=2, margin=0.0)
    fake = StillClock()
    limiter = InMemoryRateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    run_now(limiter.lock(KEY, 60.0))
    fake.now = 1.0
    waits = []
    for _ in range(4):
        run_now(limiter.acquire(KEY, max_wait=100.0))
    waits = fake.sleeps
    interval = rate.emission_interval
    # nobody before the lock ends at t=60; then a burst of 2 and steady pacing
    assert waits == pytest.approx([59.0, 59.0, 59.0 + interval, 59.0 + 2 * interval])


def test_lock_never_shortens_and_extends() -> None:
    fake = StillClock()
    limiter = InMemoryRateLimiter(clock=fake.clock, sleep=fake.sleep)
    run_now(limiter.lock(KEY, 60.0))
    run_now(limiter.lock(KEY, 10.0))
    with pytest.raises(LockGateClosedError) as info:
        run_now(limiter.acquire(KEY, max_wait=0.0))
    assert info.value.retry_after == 60.0
    run_now(limiter.lock(KEY, 120.0))
    with pytest.raises(LockGateClosedError) as info:
        run_now(limiter.acquire(KEY, max_wait=0.0))
    assert info.value.retry_after == 120.0


def test_lock_ignores_nonpositive_and_rejects_nonfinite() -> None:
    fake = StillClock()
    limiter = InMemoryRateLimiter(clock=fake.clock, sleep=fake.sleep)
    run_now(limiter.lock(KEY, 0.0))
    run_now(limiter.lock(KEY, -5.0))
    assert run_now(limiter.acquire(KEY, max_wait=0.0)) == 0.0
    with pytest.raises(ValueError, match="finite"):
        run_now(limiter.lock(KEY, math.inf))


def test_gate_longer_than_max_wait_raises_without_taking_a_slot() -> None:
    rate = RateLimit(requests=10, period=10.0, burst=1, margin=0.0)
    fake = StillClock()
    limiter = InMemoryRateLimiter(rate, clock=fake.clock, sleep=fake.sleep)
    run_now(limiter.lock(KEY, 100.0))
    fake.now = 10.0
    for _ in range(3):
        with pytest.raises(LockGateClosedError) as info:
            run_now(limiter.acquire(KEY, max_wait=60.0))
        assert info.value.retry_after == 90.0
    assert fake.sleeps == []
    # No slot was consumed by the refusals: the first caller goes right at the gate's end.
    run_now(limiter.acquire(KEY, max_wait=90.0))
    assert fake.sleeps == [90.0]


def test_gate_only_affects_its_key() -> None:
    fake = StillClock()
    limiter = InMemoryRateLimiter(clock=fake.clock, sleep=fake.sleep)
    run_now(limiter.lock(KEY, 100.0))
    assert run_now(limiter.acquire(OTHER, max_wait=0.0)) == 0.0


async def _gate_closes_while_waiting_for_slot(vt: VirtualTime) -> None:
    rate = RateLimit(requests=2, period=10.0, burst=1, margin=0.0)  # one slot per 5 s
    limiter = InMemoryRateLimiter(rate, clock=vt.clock, sleep=vt.sleep)
    out: list[tuple[str, float]] = []
    first_went = anyio.Event()

    async def first() -> None:
        await limiter.acquire(KEY)
        out.append(("first", vt.now))
        first_went.set()
        await vt.sleep(1.0)
        await limiter.lock(KEY, 30.0)  # its request got a 423 at t=1

    async def second() -> None:
        await first_went.wait()
        await limiter.acquire(KEY)  # slot at t=5, but the gate closes at t=1
        out.append(("second", vt.now))

    await vt.run(first, second)
    assert out == [("first", 0.0), ("second", 31.0)]


def test_gate_closing_while_a_caller_sleeps_holds_it_asyncio() -> None:
    anyio.run(_gate_closes_while_waiting_for_slot, VirtualTime())


def test_gate_closing_while_a_caller_sleeps_holds_it_trio() -> None:
    anyio.run(_gate_closes_while_waiting_for_slot, VirtualTime(), backend="trio")


def test_many_tasks_behind_a_gate_under_trio_mock_clock() -> None:
    """Real anyio sleeps under trio's autojumping MockClock: the limiter's defaults."""
    rate = RateLimit(requests=20, period=10.0, burst=3, margin=0.5)

    async def main() -> list[float]:
        limiter = InMemoryRateLimiter(rate, clock=trio.current_time)
        start = trio.current_time()
        await limiter.lock(KEY, 60.0)
        sent: list[float] = []

        async def worker() -> None:
            for _ in range(5):
                await limiter.acquire(KEY)
                sent.append(trio.current_time() - start)

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(worker)
        return sorted(sent)

    clock = trio.testing.MockClock(autojump_threshold=0)
    times = anyio.run(main, backend="trio", backend_options={"clock": clock})
    assert len(times) == 50
    assert times[0] >= 60.0
    assert times[:3] == pytest.approx([60.0] * 3)
    assert max_in_window(times, rate.period + rate.margin - 1e-9, closed=False) <= 20


# --------------------------------------------------------------------------- cancellation


async def _wait_after_a_cancelled_waiter(*, queue_behind: bool) -> float:
    """What a newcomer waits after the caller holding the slot at t=5 is cancelled."""
    rate = RateLimit(requests=2, period=10.0, burst=1, margin=0.0)  # one slot per 5 s
    sleeps: list[float] = []

    async def sleep_until_cancelled(seconds: float) -> None:
        sleeps.append(seconds)
        await anyio.sleep_forever()

    limiter = InMemoryRateLimiter(rate, clock=lambda: 0.0, sleep=sleep_until_cancelled)
    await limiter.acquire(KEY)  # the slot at t=0
    scopes: list[anyio.CancelScope] = []

    async def waiter() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await limiter.acquire(KEY)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)  # books t=5
        await anyio.wait_all_tasks_blocked()
        if queue_behind:
            tg.start_soon(waiter)  # books t=10
            await anyio.wait_all_tasks_blocked()
        scopes[0].cancel()
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(waiter)  # the newcomer
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    return sleeps[-1]


async def test_cancelled_waiter_gives_its_slot_back() -> None:
    assert await _wait_after_a_cancelled_waiter(queue_behind=False) == 5.0


async def test_a_cancelled_waiters_slot_in_mid_queue_goes_to_the_next_caller() -> None:
    # Stepping the schedule back while someone is booked behind would double-book the
    # slot at t=10; instead the freed slot at t=5 goes to the newcomer, and the caller
    # booked at t=10 keeps its own.
    assert await _wait_after_a_cancelled_waiter(queue_behind=True) == 5.0


# --------------------------------------------------------------------------- logging


def test_gate_logs_info_when_it_closes_and_opens(caplog: pytest.LogCaptureFixture) -> None:
    fake = StillClock()
    limiter = InMemoryRateLimiter(clock=fake.clock, sleep=fake.sleep)
    key = "0123456789abcdef" * 4
    with caplog.at_level(logging.INFO, logger="smartsender_async"):
        run_now(limiter.lock(key, 60.0))
        fake.now = 61.0
        run_now(limiter.acquire(key))
        run_now(limiter.acquire(key))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "closed" in messages[0] and "60.0 s" in messages[0]
    assert "open" in messages[1]
    assert all("01234567" in m and key not in m for m in messages)


# --------------------------------------------------------------------------- sharing


def test_make_limiter() -> None:
    assert make_limiter(None) is None
    rate = RateLimit(requests=10, period=1.0, burst=2)
    made = make_limiter(rate)
    assert isinstance(made, InMemoryRateLimiter) and made.rate is rate
    shared = InMemoryRateLimiter()
    assert make_limiter(shared) is shared

    @attrs.define
    class Custom:
        async def acquire(self, key: str, *, max_wait: float = math.inf) -> float:
            return 0.0

        async def lock(self, key: str, seconds: float) -> None:
            pass

        async def aclose(self) -> None:
            pass

    custom = Custom()
    assert isinstance(custom, RateLimiter)
    assert make_limiter(custom) is custom
    with pytest.raises(TypeError, match="rate_limit"):
        make_limiter(180)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RateLimit"):
        InMemoryRateLimiter(180)  # type: ignore[arg-type]


def test_one_limiter_serves_several_event_loops_and_threads() -> None:
    rate = RateLimit(requests=100, period=10.0, burst=1, margin=0.0)
    fake = StillClock()
    limiter = InMemoryRateLimiter(rate, clock=fake.clock, sleep=fake.sleep)

    async def take(n: int) -> None:
        for _ in range(n):
            await limiter.acquire(KEY)

    def in_thread(backend: str) -> None:
        anyio.run(take, 250, backend=backend)

    threads = [
        threading.Thread(target=in_thread, args=(backend,))
        for backend in ("asyncio", "trio", "asyncio", "trio")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 1000 slots, each booked exactly once: waits are 0, T, 2T, ... 999T
    interval = rate.emission_interval
    assert sorted(round(w / interval) for w in [0.0, *fake.sleeps]) == list(range(1000))


# --------------------------------------------------------------------------- work conservation


@pytest.mark.parametrize("order", ["first-booked first", "last-booked first", "shuffled"])
async def test_48_booked_12_sent_leaves_the_schedule_12_ahead(order: str) -> None:
    """An abandoned ``since=`` window: 48 page fetches booked, 36 cancelled in any order.
    Only the 12 that go may count: the next caller waits behind 12, not 48."""
    import random

    rate = RateLimit(requests=10, period=10.0, burst=1, margin=0.0)  # a slot per second
    vt = VirtualTime()
    limiter = InMemoryRateLimiter(rate, clock=vt.clock, sleep=vt.sleep)
    scopes: list[anyio.CancelScope] = []

    async def fetch() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await limiter.acquire(KEY)

    async with anyio.create_task_group() as tg:
        for _ in range(48):
            tg.start_soon(fetch)
        await anyio.wait_all_tasks_blocked()
        doomed = list(range(12, 48))
        if order == "last-booked first":
            doomed.reverse()
        elif order == "shuffled":
            random.Random(14).shuffle(doomed)
        for i in doomed:
            scopes[i].cancel()
            await anyio.wait_all_tasks_blocked()
        # A newcomer takes the first freed slot or the one after the 12: never the 49th.
        newcomer = vt.now
        tg.start_soon(fetch)
        await anyio.wait_all_tasks_blocked()
        newest = max(vt._sleepers, key=lambda sleeper: sleeper[1])  # the newcomer's sleep
        tg.cancel_scope.cancel()
    assert newest[0] - newcomer <= 12 * rate.emission_interval + 1e-9, newest


def _storm_on_a_virtual_clock(backend: str) -> list[float]:
    """40 callers on a virtual clock, each giving up after 2 s and calling again at once,
    for 60 virtual seconds; returns the times the limiter let requests go."""
    rate = RateLimit(requests=60, period=60.0, burst=1, margin=0.0)  # a slot per second
    vt = VirtualTime()
    limiter = InMemoryRateLimiter(rate, clock=vt.clock, sleep=vt.sleep)
    went: list[float] = []

    async def caller() -> None:
        while vt.now < 60.0:
            async with anyio.create_task_group() as tg:
                deadline = tg.cancel_scope

                async def timer(deadline: anyio.CancelScope = deadline) -> None:
                    await vt.sleep(2.0)
                    deadline.cancel()

                tg.start_soon(timer)
                await limiter.acquire(KEY)
                went.append(vt.now)
                deadline.cancel()

    async def main() -> None:
        await vt.run(*[caller for _ in range(40)])

    anyio.run(main, backend=backend)
    return went


def test_a_storm_of_cancellations_keeps_every_slot_in_use() -> None:
    """Every slot goes to somebody, so the rate stays the configured one (a cancelled
    waiter that kept its slot once starved every caller).  Under trio: anyio's
    ``wait_all_tasks_blocked`` polls under asyncio, far too slowly for 80 tasks."""
    went = _storm_on_a_virtual_clock("trio")
    inside = [t for t in went if t < 60.0]
    assert len(inside) >= 59, len(inside)  # a slot per second, none lost
    assert max_in_window(sorted(went), 60.0, closed=False) <= 60


def test_acquire_split_separates_the_gate_from_the_slot() -> None:
    rate = RateLimit(requests=2, period=10.0, burst=1, margin=0.0)  # a slot per 5 s
    vt = VirtualTime()
    limiter = InMemoryRateLimiter(rate, clock=vt.clock, sleep=vt.sleep)
    results: list[tuple[float, float]] = []

    async def scenario() -> None:
        results.append(await limiter.acquire_split(KEY))  # at once
        results.append(await limiter.acquire_split(KEY))  # a slot wait of 5 s
        await limiter.lock(KEY, 20.0)
        results.append(await limiter.acquire_split(KEY))  # 20 s at the gate
        assert await limiter.acquire(KEY) == 5.0  # acquire() is the sum

    async def main() -> None:
        await vt.run(scenario)

    anyio.run(main, backend="trio")
    assert results == [(0.0, 0.0), (0.0, 5.0), (20.0, 0.0)]


def test_a_wiped_state_restarts_with_a_pause_and_no_burst() -> None:
    """What FLUSHALL does to Redis, done to the in-memory state: the waiter asleep on
    its booking books again, and the new state lets nobody in before one interval."""
    rate = RateLimit(requests=10, period=10.0, burst=5, margin=0.0)  # T = 10/6 s
    vt = VirtualTime()
    limiter = InMemoryRateLimiter(rate, clock=vt.clock, sleep=vt.sleep)
    went: list[float] = []

    async def one() -> None:
        await limiter.acquire(KEY)
        went.append(vt.now)

    async def scenario() -> None:
        for _ in range(5):
            await one()  # the burst, at t=0
        async with anyio.create_task_group() as tg:
            tg.start_soon(one)  # booked at t = T
            await anyio.wait_all_tasks_blocked()
            limiter._states.clear()
            for _ in range(3):
                tg.start_soon(one)  # newcomers after the wipe: no fresh burst

    async def main() -> None:
        await vt.run(scenario)

    anyio.run(main, backend="trio")
    interval = rate.emission_interval
    assert went[:5] == [0.0] * 5
    after = went[5:]
    assert len(after) == 4
    assert min(after) >= interval - 1e-9  # nobody before one interval
    assert all(b - a >= interval - 1e-9 for a, b in itertools.pairwise(after))
    assert max_in_window(sorted(went), rate.period + rate.margin - 1e-9, closed=False) <= 10


def test_cancellations_from_two_threads_and_two_backends_keep_the_bound() -> None:
    """One limiter shared by an asyncio loop and a trio loop in two threads, both full of
    callers that give up at random: the bookkeeping (under a thread lock) stays exact."""
    import random

    rate = RateLimit(requests=20, period=0.5, burst=2, margin=0.25)
    limiter = InMemoryRateLimiter(rate)
    went: list[float] = []
    lock = threading.Lock()

    async def storm(seed: int) -> None:
        rng = random.Random(seed)

        async def caller() -> None:
            for _ in range(15):
                with anyio.move_on_after(rng.uniform(0.0, 0.3)):
                    await limiter.acquire(KEY)
                    with lock:
                        went.append(time.monotonic())

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(caller)

    threads = [
        threading.Thread(target=anyio.run, args=(storm, seed), kwargs={"backend": backend})
        for seed, backend in ((1, "asyncio"), (2, "trio"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert went
    # The margin (0.25 s) absorbs the scheduling delay between admission and the record.
    assert max_in_window(sorted(went), rate.period, closed=True) <= rate.requests
    state = limiter._states[KEY]
    assert all(booked <= state.tat for booked, _, _ in state.free)
