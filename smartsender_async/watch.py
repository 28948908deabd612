"""``client.watch()``: new messages and chat changes as an async stream, with a position.

Smart Sender has no platform webhooks; this is the polling loop done once, right.
:class:`Watch` polls with :class:`~smartsender_async.changes.ChangeTracker` (the engine the
incremental export uses too) and turns what changed into :class:`WatchEvent` s, each with
a :attr:`~WatchEvent.position` to save and pass back as ``position=`` to resume.

Guarantees (docs/guides/watch.md has the details and the proofs' tests):

* exactly once within a run: no message is yielded twice by one watch, even when pages
  shift under churn;
* at least once across restarts, when ``event.position`` is saved after handling each
  event (a restart may repeat the events after the saved one, never skip one);
* nothing that exists after the watch starts is skipped; by default it starts "now"
  (no backlog); ``position=START`` replays everything.

Structure.  :class:`Watch` is not an async generator and keeps no task alive while the
consumer holds an event: ``__anext__`` serves a buffer and, when it is empty, performs
one step (a sleep, a scan or one chat's read) inside that call.  ``break``, cancellation
or an exception in the consumer's body therefore leave nothing running, under asyncio
and trio alike.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Literal

import anyio
import attrs

from smartsender_async.changes import START, ChangeTracker, ChatChange, Position, seconds
from smartsender_async.errors import APIConnectionError, RateLimitedError, ServerError
from smartsender_async.models.chats import Chat
from smartsender_async.models.messages import Message
from smartsender_async.pagination import IdSet
from smartsender_async.ratelimit import DEFAULT_RATE_LIMIT, RateLimit

__all__ = ["START", "Watch", "WatchEvent"]

logger = logging.getLogger("smartsender_async.watch")

#: Idle polls (in a row) after which the interval starts to grow.
IDLE_POLLS_BEFORE_BACKOFF = 12
#: Factor by which an idle interval grows, up to ``max_interval``.
BACKOFF_FACTOR = 1.5
#: In full-listing mode a scan comes at most every this many intervals.
FULL_LISTING_FACTOR = 6
#: Requests the budget lets go back to back after a quiet spell.
BUDGET_BURST = 10
#: After a poll that found new messages (or chat events) the next poll comes this
#: fraction of ``interval`` after its start: an active project is polled sooner, while an
#: idle one still costs one request per ``interval`` (the budget caps the active rate).
ACTIVE_FACTOR = 0.5


@attrs.frozen
class WatchEvent:
    """One thing the watch saw.

    Attributes:
        kind: ``"message"`` (a new message) or ``"chat"`` (the chat's state changed
            without a new message; only with ``include_chat_changes=True``).
        chat: the chat as last listed.
        message: the new message (``None`` for ``"chat"`` events).
        position: an opaque, JSON-able value; pass it back as ``position=`` to resume
            right after this event.
    """

    kind: Literal["message", "chat"]
    chat: Chat
    message: Message | None
    position: dict[str, Any] = attrs.field(repr=False)


class _Budget:
    """Spaces the watch's own requests so they use at most ``budget`` of the quota.

    A leaky bucket at ``budget * quota`` requests per second with a burst of
    :data:`BUDGET_BURST`; the client's limiter (and lock gate) still applies on top.
    """

    def __init__(
        self,
        rate: RateLimit,
        budget: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.spacing = rate.period / (rate.requests * budget)
        self._tolerance = (BUDGET_BURST - 1) * self.spacing
        self._tat = -math.inf
        self._clock = clock
        self._sleep = sleep

    async def __call__(self) -> None:
        now = self._clock()
        allowed = max(now, self._tat - self._tolerance)
        self._tat = max(self._tat, now) + self.spacing
        if allowed > now:
            await self._sleep(allowed - now)


def _settle_only(change: ChatChange) -> bool:
    """Whether ``change`` only re-reads a chat to settle its second (``updatedAt`` unmoved)."""
    listed = change.chat.updated_at
    updated = change.before.updated
    return updated is not None and listed is not None and seconds(listed) == updated


def _check_seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


class Watch:
    """The async iterator (and async context manager) behind ``client.watch()``.

    Args:
        client: an open :class:`~smartsender_async.SmartSender`.
        interval: seconds between polls, start to start, of an idle project; a poll that
            found something is followed by the next one after ``interval / 2``.
        position: ``None`` (start now, no backlog), :data:`START` (replay everything),
            or an ``event.position`` saved earlier (resume right after that event).
        inbound_only: only messages the contact wrote (``sender.type == "contact"``).
        budget: the fraction of the token's quota (the client limiter's
            :class:`RateLimit`, 180/min by default) this watch may use, in (0, 1].
        include_chat_changes: also yield ``"chat"`` events for chats whose listed state
            changed without a new message.
        max_interval: the longest interval an idle watch backs off to (default
            ``max(60, interval)``).
        clock: local monotonic seconds (default: the event loop's clock).
        sleep: the sleep function (default :func:`anyio.sleep`); with ``clock``, lets
            tests run the watch on a fake clock.
        order: ``"auto"`` (detect the chat order), ``"ordered"`` or ``"full"``.

    Raises:
        TypeError, ValueError: a bad argument, before any request.
    """

    def __init__(
        self,
        client: Any,
        *,
        interval: float = 5.0,
        position: Mapping[str, Any] | str | None = None,
        inbound_only: bool = False,
        budget: float = 0.5,
        include_chat_changes: bool = False,
        max_interval: float | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        order: Literal["auto", "ordered", "full"] = "auto",
    ) -> None:
        self.interval = _check_seconds("interval", interval)
        if max_interval is None:
            max_interval = max(60.0, self.interval)
        self.max_interval = _check_seconds("max_interval", max_interval)
        if self.max_interval < self.interval:
            raise ValueError(
                f"max_interval must be >= interval ({self.interval:g}), got {max_interval!r}"
            )
        if isinstance(budget, bool) or not isinstance(budget, (int, float)):
            raise TypeError(f"budget must be a number in (0, 1], got {budget!r}")
        if not (0 < budget <= 1):
            raise ValueError(f"budget must be a fraction of the quota in (0, 1], got {budget!r}")
        self.inbound_only = _check_bool("inbound_only", inbound_only)
        self.include_chat_changes = _check_bool("include_chat_changes", include_chat_changes)
        if position is not None and not isinstance(position, (str, dict, Position)):
            raise TypeError(f"position must be None, START or a saved position, got {position!r}")
        if isinstance(position, str) and position != START:
            position = Position.from_json(position).to_json()
        self._clock = clock if clock is not None else anyio.current_time
        self._sleep = sleep if sleep is not None else anyio.sleep
        rate = getattr(getattr(client, "rate_limiter", None), "rate", None)
        if not isinstance(rate, RateLimit):
            rate = DEFAULT_RATE_LIMIT
        self._budget = _Budget(rate, float(budget), self._clock, self._sleep)
        self._tracker = ChangeTracker(
            client, position, order=order, clock=self._clock, pace=self._budget
        )
        self._client = client
        self._buffer: deque[WatchEvent] = deque()
        self._changes: deque[ChatChange] = deque()
        self._in_scan = False
        self._started = False
        self._closed = False
        self._next_poll = -math.inf
        self._current = self.interval
        self._idle = 0
        self._delivered = IdSet()  # message ids yielded in this run
        self._scan_active = False
        self._activity = False
        self._poll_started = 0.0
        self._held: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Watch(interval={self.interval:g}, mode={self._tracker.mode!r})"

    # ------------------------------------------------------------------ public state

    @property
    def mode(self) -> str:
        """``"ordered"`` (page 1 per poll) or ``"full"`` (every chat page per scan)."""
        return self._tracker.mode

    @property
    def requests(self) -> int:
        """Requests this watch has sent (attempts retried by the client count once)."""
        return self._tracker.requests

    def position(self) -> dict[str, Any]:
        """The position after the last event yielded (JSON-able); save it to resume.

        Between events it also covers what was read and found to need no event (so a
        quiet watch's saved position moves forward too).
        """
        if self._buffer:
            return self._held
        return self._tracker.position().to_json()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Watch:
        await self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: later ``__anext__`` calls raise ``StopAsyncIteration``; nothing is sent."""
        self._closed = True
        self._buffer.clear()
        self._changes.clear()

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._closed:
            raise StopAsyncIteration
        if not self._started:
            await self._start()
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            await self._step()
        event = self._buffer.popleft()
        self._held = event.position
        return event

    async def _start(self) -> None:
        if self._started:
            return
        while True:
            began = self._clock()
            try:
                await self._tracker.start()
                break
            except (ServerError, APIConnectionError, RateLimitedError) as exc:
                await self._pause_after(exc)
        self._started = True
        self._next_poll = -math.inf
        if self._tracker.requests:
            # Started "now": wait until the server is past its newest second, then read
            # the newest chats again, so what arrived in that second since the baseline
            # is found (and buffered) here, and an idle watch costs exactly one request
            # per interval from the first __anext__ on.
            due = self._tracker.settle_due()
            now = self._clock()
            if due is not None and due > now:
                await self._sleep(due - now)
            # The first poll is one interval after the baseline's start, not after this
            # wait: a message in another chat during the wait must not wait longer.
            self._next_poll = began + self.interval
            try:
                for change in self._tracker.unsettled():
                    await self._read_one(change)
            except (ServerError, APIConnectionError, RateLimitedError) as exc:
                await self._pause_after(exc)  # the first scan settles them instead

    # ------------------------------------------------------------------ the loop

    async def _pause_after(self, exc: Exception) -> None:
        delay = self.interval
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            delay = max(delay, float(retry_after))
        logger.warning("watch: %s; polling again in %.1f s", exc, delay)
        await self._sleep(delay)

    async def _step(self) -> None:
        try:
            if self._changes:
                await self._read_one(self._changes.popleft())
                return
            if self._scan_active:
                self._finish_scan()
                return
            now = self._clock()
            if now < self._next_poll:
                await self._sleep(self._next_poll - now)
            started = self._clock()
            self._activity = False  # "active" is what this poll finds
            changes = await self._tracker.scan()
            # Chats whose updatedAt moved have new messages for sure: read them first, and
            # the re-reads that only settle a second already read (usually nothing new)
            # after them, so a settle re-read never delays a new message.
            self._changes.extend(sorted(changes, key=_settle_only))
            self._scan_active = True
            self._poll_started = started
        except (ServerError, APIConnectionError, RateLimitedError) as exc:
            # Nothing yielded is lost: the tracker's marks only move with what was handed
            # out.  Drop this scan and scan again after a pause.
            self._changes.clear()
            self._scan_active = False
            await self._pause_after(exc)

    async def _read_one(self, change: ChatChange) -> None:
        tracker = self._tracker
        try:
            messages = await tracker.read(change)
        except BaseException:
            self._changes.appendleft(change)
            raise
        chat = change.chat
        events: list[WatchEvent] = []
        partial = change.before
        self._held = tracker.position().to_json()  # until the first of these is yielded
        for message in messages:
            partial = tracker.partial(change, (message,), start=partial)
            if not self._delivered.add(message.id):
                continue  # already yielded in this run
            if self.inbound_only and not message.is_inbound:
                continue
            position = tracker.position((chat.id, partial)).to_json()
            events.append(WatchEvent("message", chat, message, position))
        tracker.finish(change)
        if messages:
            self._activity = True
        if events:
            # The chat's last event carries its final mark: resuming there reads nothing again.
            events[-1] = attrs.evolve(events[-1], position=tracker.position().to_json())
        elif self.include_chat_changes and change.state_changed and not messages:
            events.append(WatchEvent("chat", chat, None, tracker.position().to_json()))
            self._activity = True
        self._buffer.extend(events)

    def _finish_scan(self) -> None:
        self._tracker.finish_scan()
        self._scan_active = False
        active = self._activity
        self._activity = False
        if active:
            self._idle = 0
            self._current = self.interval
        else:
            self._idle += 1
            if self._idle >= IDLE_POLLS_BEFORE_BACKOFF:
                self._current = min(self.max_interval, self._current * BACKOFF_FACTOR)
        period = self._current * ACTIVE_FACTOR if active else self._current
        if self._tracker.mode == "full":
            period = max(period, FULL_LISTING_FACTOR * self.interval)
        next_poll = self._poll_started + period
        due = self._tracker.settle_due()
        if due is not None and due > self._clock():
            next_poll = min(next_poll, max(due, self._poll_started + self.interval))
        self._next_poll = next_poll
