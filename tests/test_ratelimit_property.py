"""A property test of the in-memory limiter on a virtual clock (hypothesis).

Random storms: any number of callers, each calling again at once whenever its call
ends, each call with a random deadline (a timeout that cancels the waiter) or none;
random lock gates; random wipes of the limiter's state (what a FLUSHALL, a restart or an
eviction does to Redis).  Two properties:

* **window bound**: never more than ``requests`` requests in any window of length
  ``period + margin`` (the GCRA guarantee), wipes included;
* **work conservation**: demand never stops (every caller calls again at once), so the
  limiter lets one request go per emission interval, losing at most a few slots to each
  wipe and none to cancelled waiters, outside the lock gates.
"""

from __future__ import annotations

import math

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartsender_async.ratelimit import InMemoryRateLimiter, RateLimit
from tests.test_ratelimit import KEY, VirtualTime, max_in_window

HORIZON = 40.0  # virtual seconds


@st.composite
def storms(draw: st.DrawFn) -> dict[str, object]:
    requests = draw(st.integers(2, 20))
    burst = draw(st.integers(1, min(requests, 4)))
    rate = RateLimit(requests=requests, period=float(requests), burst=burst, margin=0.0)
    interval = rate.emission_interval
    callers = draw(st.integers(1, 40))
    # Deadlines from a tenth of a slot to many slots; None: no deadline.
    deadline = st.one_of(st.none(), st.floats(0.1 * interval, 20 * interval))
    return {
        "rate": rate,
        "starts": draw(st.lists(st.floats(0, 5), min_size=callers, max_size=callers)),
        "deadlines": draw(st.lists(deadline, min_size=callers, max_size=callers)),
        "wipes": sorted(draw(st.lists(st.floats(1, HORIZON - 5), max_size=3))),
        "locks": draw(
            st.lists(st.tuples(st.floats(1, HORIZON - 5), st.floats(0.5, 4)), max_size=2)
        ),
    }


def run_storm(storm: dict[str, object]) -> tuple[list[float], float]:
    rate = storm["rate"]
    assert isinstance(rate, RateLimit)
    vt = VirtualTime()
    limiter = InMemoryRateLimiter(rate, clock=vt.clock, sleep=vt.sleep)
    went: list[float] = []
    locked = 0.0  # seconds of gate closure within the horizon

    async def caller(start: float, deadline: float | None) -> None:
        await vt.sleep(start)
        while vt.now < HORIZON:
            async with anyio.create_task_group() as tg:
                scope = tg.cancel_scope
                if deadline is not None:

                    async def timer(scope: anyio.CancelScope = scope) -> None:
                        await vt.sleep(deadline)  # type: ignore[arg-type]
                        scope.cancel()

                    tg.start_soon(timer)
                await limiter.acquire(KEY)
                went.append(vt.now)
                scope.cancel()

    async def wiper(at: float) -> None:
        await vt.sleep(at)
        limiter._states.clear()  # the store forgets everything; the limiter's memory stays

    async def locker(at: float, seconds: float) -> None:
        await vt.sleep(at)
        await limiter.lock(KEY, seconds)

    workers = [
        (lambda s=s, d=d: caller(s, d))
        for s, d in zip(storm["starts"], storm["deadlines"], strict=True)  # type: ignore[call-overload]
    ]
    workers += [(lambda at=at: wiper(at)) for at in storm["wipes"]]  # type: ignore[attr-defined]
    for at, seconds in storm["locks"]:  # type: ignore[attr-defined]
        workers.append(lambda at=at, seconds=seconds: locker(at, seconds))
        locked += seconds + rate.emission_interval  # the gate, and the slot after it

    async def main() -> None:
        await vt.run(*workers)

    anyio.run(main, backend="trio")
    return sorted(went), locked


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(storms())
def test_window_bound_and_work_conservation(storm: dict[str, object]) -> None:
    rate = storm["rate"]
    assert isinstance(rate, RateLimit)
    went, locked = run_storm(storm)
    interval = rate.emission_interval
    # Window bound: GCRA's guarantee, over every window of period + margin (less a hair
    # for float rounding: sends exactly one window apart are in different windows).
    width = rate.period + rate.margin - 1e-9
    assert max_in_window(went, width, closed=False) <= rate.requests
    # Work conservation: from the first arrival on there is always demand.
    first = min(storm["starts"])  # type: ignore[type-var]
    span = HORIZON - first
    wipes = len(storm["wipes"])  # type: ignore[arg-type]
    inside = [t for t in went if t < HORIZON]
    expected = math.floor((span - locked) / interval) - 2 * wipes - 1
    assert len(inside) >= expected, (len(inside), expected, storm)
