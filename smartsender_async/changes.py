"""The one engine that answers "what changed since position P": chats and their new messages.

The live watch (:mod:`smartsender_async.watch`) and the incremental export both call it.
It reads ``GET /chats`` and ``GET /chats/{chatId}/messages`` through the client (so every
request is rate-limited and retried like any other) and keeps a :class:`Position`: a
small, JSON-able record of what has been accounted for.

How it decides (see docs/explanation/changes.md for the long form)
-------------------------------------------------------------------
Timestamps are whole seconds.  For every chat the position knows a *message mark*: the
newest second accounted for (``sec``) and the ids of the messages of exactly that second
that were accounted for (``ids``).  A message is new when it is younger than ``sec``, or
of the same second and its id is not in ``ids``.  So a message that lands in the same
second as the mark is never lost, and one already delivered is never delivered again.

A chat is *changed* when its ``updatedAt`` differs from the one last read, or when the
last read of its messages could have been followed by another message of the same
second (the read is *unsettled*).  A read is settled when it was sent after the server
was proven to be past the second in question.  The proof comes only from the server's
own timestamps (any ``updatedAt`` or ``createdAt`` it returned), plus elapsed time on
this machine's monotonic clock since such a timestamp was received: a server that said
second ``S`` is past ``S`` one second (:data:`SETTLE_SECONDS`, with margin) later.  Our
clock's *reading* is never compared with a server timestamp.

Two listing modes.  **Ordered** (``GET /chats`` is newest ``updatedAt`` first, which the
engine checks within every page it reads: one page is one atomic answer, while chats
that move between two page reads can legitimately make a later page start newer): a
global mark says every message older than it is accounted for, so a scan reads chat
pages only down to the first chat older than the mark, and the position keeps marks only
for chats at the mark's second.
**Full** (the order is not ``updatedAt`` descending): every scan lists every chat and
compares each with its own mark; the position keeps a mark per chat that changed since
the watch began.  The mode is detected (``order="auto"``) or forced.

Usage (the shape the watch and the export share)::

    tracker = ChangeTracker(client, position)        # None: from now; START: everything
    await tracker.start()
    changes = await tracker.scan()                   # chat pages
    for change in changes:
        messages = await tracker.read(change)        # that chat's new messages, oldest first
        ...                                          # write/deliver them
        tracker.finish(change)
    tracker.finish_scan()
    saved = tracker.position().to_json()             # durable together with what was written
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal

import anyio
import attrs

from smartsender_async.errors import NotFoundError
from smartsender_async.models.chats import Chat
from smartsender_async.models.messages import Message
from smartsender_async.resources._base import MAX_LIMITATION

__all__ = [
    "SETTLE_SECONDS",
    "START",
    "ChangeTracker",
    "ChatChange",
    "ChatMark",
    "Position",
    "is_below",
    "is_new",
    "merge_marks",
    "raise_mark",
    "server_past",
]

logger = logging.getLogger("smartsender_async.changes")

#: ``position=START`` replays everything from the beginning (every chat, every message).
START = "start"
#: Seconds of elapsed local time after which a server that returned second ``S`` is
#: taken to be past ``S``: its timestamps are whole seconds (1 s) plus a margin for
#: network delay and clock-rate drift.  Only durations on our clock are used.
SETTLE_SECONDS = 1.5
#: Position format version.
_VERSION = 1

Mode = Literal["ordered", "full"]
Order = Literal["auto", "ordered", "full"]


def seconds(value: datetime | None) -> int | None:
    """A server timestamp as whole Unix seconds (the API's resolution); ``None`` stays."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return math.floor(value.timestamp())


# -- the decision rules ---------------------------------------------------------------------
#
# Shared by the watch (through ChangeTracker) and the incremental export (cli/_export.py and
# cli/_store.py call these same functions).  They are unit-agnostic: ``at`` and the mark
# must be in the same unit (the tracker uses Unix seconds, the export's checkpoint
# microseconds of whole-second timestamps); only order and equality are used.


def is_new(at: int | None, message_id: int, mark_at: int | None, mark_ids: Iterable[int]) -> bool:
    """The same-second rule: whether a message is not accounted for by a mark.

    A mark is the newest timestamp accounted for (``mark_at``) plus the ids of the messages
    of exactly that timestamp that were accounted for (``mark_ids``).  A message is new
    when it is younger than the mark, or of the mark's second with an id not in
    ``mark_ids``; everything is new against no mark; a message without a timestamp is new
    unless its id is in ``mark_ids``.

    Args:
        at: the message's ``createdAt`` (same unit as ``mark_at``), or ``None``.
        message_id: the message's id.
        mark_at: the mark's timestamp, ``None`` when nothing is accounted for.
        mark_ids: ids accounted for at ``mark_at``.

    Returns:
        ``True`` when the message must be written/delivered.

    Example:
        >>> is_new(10, 7, 10, {5})
        True
        >>> is_new(10, 5, 10, {5}), is_new(9, 8, 10, {5})
        (False, False)
    """
    if mark_at is None:
        return True
    if at is None:
        return message_id not in mark_ids
    return at > mark_at or (at == mark_at and message_id not in mark_ids)


def is_below(at: int | None, mark_at: int | None) -> bool:
    """Whether a message is older than the mark (a newest-first read can stop there).

    Every message older than a mark is accounted for, so the first one met ends a read.

    Args:
        at: the message's ``createdAt`` (same unit as ``mark_at``), or ``None``.
        mark_at: the mark's timestamp, or ``None``.

    Returns:
        ``True`` only when both are known and ``at < mark_at``.
    """
    return mark_at is not None and at is not None and at < mark_at


def raise_mark(
    mark_at: int | None, mark_ids: set[int], at: int | None, message_id: int
) -> int | None:
    """Move a mark forward over one message now accounted for; returns the new ``mark_at``.

    ``mark_ids`` is updated in place: it restarts with the message when the message is
    younger than the mark, and gains it when it is of the mark's second.  A message
    without a timestamp, or older than the mark, leaves the mark as it is.

    Args:
        mark_at: the mark's timestamp, or ``None``.
        mark_ids: ids accounted for at ``mark_at`` (modified).
        at: the message's ``createdAt`` (same unit), or ``None``.
        message_id: the message's id.

    Returns:
        The mark's timestamp after the message.
    """
    if at is None:
        return mark_at
    if mark_at is None or at > mark_at:
        mark_ids.clear()
        mark_ids.add(message_id)
        return at
    if at == mark_at:
        mark_ids.add(message_id)
    return mark_at


def merge_marks(
    a_at: int | None, a_ids: Iterable[int], b_at: int | None, b_ids: Iterable[int]
) -> tuple[int | None, set[int]]:
    """The mark that accounts for both marks' messages: the newer one, or the union of
    the ids when both are of the same second.

    Args:
        a_at: the first mark's timestamp (``None``: nothing).
        a_ids: its ids.
        b_at: the second mark's timestamp (``None``: nothing).
        b_ids: its ids.

    Returns:
        ``(mark_at, mark_ids)``.
    """
    if b_at is None:
        return a_at, set(a_ids)
    if a_at is None or b_at > a_at:
        return b_at, set(b_ids)
    if b_at == a_at:
        return a_at, set(a_ids) | set(b_ids)
    return a_at, set(a_ids)


def server_past(second: float | None, server_second: float | None) -> bool:
    """The settled rule, from server-side evidence only: whether the server had left
    ``second`` when it had already stamped ``server_second``.

    Timestamps are whole seconds, so a read sent after the server returned a timestamp of
    a later second cannot be followed by another message of ``second`` (without a later
    ``updatedAt``).  Both values are the server's own timestamps, never a reading of this
    machine's clock.

    Args:
        second: the second in question (``None``: nothing to settle).
        server_second: the newest second the server had returned before the read was
            sent (``None``: no evidence).

    Returns:
        ``True`` when settled.

    Example:
        >>> server_past(10, 11), server_past(10, 10), server_past(10, None)
        (True, False, False)
    """
    if second is None:
        return True
    if server_second is None:
        return False
    return server_second > second


@attrs.frozen
class ChatMark:
    """What is accounted for in one chat.

    Attributes:
        updated: the chat's ``updatedAt`` (Unix seconds) when its messages were last read
            to the end of what was new; ``None`` while a read is only partly delivered.
        sec: the newest message second accounted for (``None``: nothing yet).
        ids: ids of the messages of second ``sec`` accounted for.
        settled: the last read was sent after the server was past ``max(updated, sec)``,
            so no message of that second can still appear without changing ``updatedAt``.
    """

    updated: int | None
    sec: int | None
    ids: frozenset[int] = frozenset()
    settled: bool = False

    def is_new(self, message: Message) -> bool:
        """Whether ``message`` is not accounted for by this mark (:func:`is_new`)."""
        return is_new(seconds(message.created_at), message.id, self.sec, self.ids)

    def older(self, message: Message) -> bool:
        """Whether ``message`` is below the mark (every older one is accounted for too)."""
        return is_below(seconds(message.created_at), self.sec)


def _check_int_or_none(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"position: {name} must be an integer or null, got {value!r}")
    return value


@attrs.frozen
class Position:
    """Where a change scan stands: opaque to callers, JSON-able through :meth:`to_json`.

    Attributes:
        mode: ``"ordered"`` or ``"full"`` (see the module docstring).
        mark: every message created before this second (Unix seconds) is accounted for,
            except in chats listed in ``chats``; ``None`` means nothing is.
        chats: per-chat marks that say more than ``mark``.
        head: ordered mode's listing stop: every chat older than this second is
            unchanged since it was last read (``None``: read every page).
    """

    mode: Mode = "ordered"
    mark: int | None = None
    chats: Mapping[int, ChatMark] = attrs.field(factory=dict)
    head: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A plain dict of str/int/list/bool, for ``json.dumps``."""
        return {
            "v": _VERSION,
            "mode": self.mode,
            "mark": self.mark,
            "head": self.head,
            "chats": {
                str(chat_id): [m.updated, m.sec, sorted(m.ids), m.settled]
                for chat_id, m in self.chats.items()
            },
        }

    @classmethod
    def from_json(cls, value: Any) -> Position:
        """Rebuild a position from :meth:`to_json`'s value (or a JSON string of it).

        Raises:
            ValueError: ``value`` is not a position this version wrote.
        """
        import json

        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("position: not JSON") from None
        if not isinstance(value, dict) or value.get("v") != _VERSION:
            raise ValueError(f"position: not a watch/export position: {value!r:.80}")
        mode = value.get("mode")
        if mode not in ("ordered", "full"):
            raise ValueError(f"position: unknown mode {mode!r}")
        mark = _check_int_or_none("mark", value.get("mark"))
        head = _check_int_or_none("head", value.get("head"))
        if mark is not None and (head is None or head < mark):
            raise ValueError("position: head must be at or after mark")
        raw = value.get("chats")
        if not isinstance(raw, dict):
            raise ValueError("position: chats must be an object")
        chats: dict[int, ChatMark] = {}
        for key, item in raw.items():
            try:
                chat_id = int(key)
            except (TypeError, ValueError):
                raise ValueError(f"position: bad chat id {key!r}") from None
            if not (isinstance(item, list) and len(item) == 4):
                raise ValueError(f"position: bad mark for chat {key}")
            updated = _check_int_or_none("updated", item[0])
            sec = _check_int_or_none("sec", item[1])
            ids = item[2]
            if not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids
            ):
                raise ValueError(f"position: bad ids for chat {key}")
            if not isinstance(item[3], bool):
                raise ValueError(f"position: bad settled flag for chat {key}")
            chats[chat_id] = ChatMark(updated, sec, frozenset(ids), item[3])
        return cls(mode, mark, chats, head)


@attrs.define(eq=False)
class ChatChange:
    """One changed chat found by :meth:`ChangeTracker.scan`.

    Attributes:
        chat: the chat as the listing returned it.
        before: its mark before this change (what is already accounted for).
        read: whether its messages must be read (``False``: only its payload changed).
        state_changed: its listed payload differs from the one seen before (or its
            ``updatedAt`` moved) — a state change, with or without new messages.
    """

    chat: Chat
    before: ChatMark
    read: bool = True
    state_changed: bool = False
    after: ChatMark | None = None
    new: list[Message] = attrs.Factory(list)


class _Evidence:
    """What the server's own timestamps prove about its clock, on our monotonic clock.

    ``(value, local)`` pairs: the server returned second ``value`` in a response that we
    received at local monotonic time ``local``, so it was at or past ``value`` then.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seen: list[tuple[int, float]] = []  # values strictly increasing

    def saw(self, value: int | None) -> None:
        if value is None:
            return
        if not self._seen or value > self._seen[-1][0]:
            self._seen.append((value, self._clock()))
            if len(self._seen) > 64:
                del self._seen[:-64]

    def past(self, second: float | None, at: float) -> bool:
        """Whether the server is proven past ``second`` for a request sent at ``at``."""
        if second is None or second == -math.inf:
            return True
        for value, local in reversed(self._seen):
            if local <= at and server_past(second, value):
                return True
            if value >= second and local + SETTLE_SECONDS <= at:
                return True
            if value < second:
                break
        return False

    def settles_at(self, second: float | None) -> float | None:
        """The local time from which a request is settled for ``second`` (None: unknown)."""
        if second is None or second == -math.inf:
            return -math.inf
        best: float | None = None
        for value, local in self._seen:
            if server_past(second, value):
                best = local if best is None else min(best, local)
            elif value >= second:
                t = local + SETTLE_SECONDS
                best = t if best is None else min(best, t)
        return best


async def _no_pace() -> None:
    return None


class ChangeTracker:
    """Finds what changed since a :class:`Position`, and moves the position forward.

    Args:
        client: an open :class:`~smartsender_async.SmartSender`.
        position: ``None`` starts "now" (nothing that exists yet is reported); :data:`START`
            reports everything; a :class:`Position` (or its :meth:`~Position.to_json`
            value) resumes after what it accounts for.
        activities: read system/activity messages too (``activities=1``).
        order: ``"auto"`` detects whether ``GET /chats`` is newest ``updatedAt`` first;
            ``"ordered"`` or ``"full"`` force a mode.
        clock: local monotonic seconds (default: the event loop's clock); only durations
            are taken from it.
        pace: awaited before every request (the watch's budget); default: nothing.

    Raises:
        ValueError: ``position`` or ``order`` is not valid (before any request).
    """

    def __init__(
        self,
        client: Any,
        position: Position | Mapping[str, Any] | str | None = None,
        *,
        activities: bool = False,
        order: Order = "auto",
        clock: Callable[[], float] | None = None,
        pace: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if order not in ("auto", "ordered", "full"):
            raise ValueError(f"order must be 'auto', 'ordered' or 'full', got {order!r}")
        if not isinstance(activities, bool):
            raise TypeError(f"activities must be a bool, got {activities!r}")
        self._client = client
        self._activities = activities
        self._order: Order = order
        self._clock = clock if clock is not None else anyio.current_time
        self._pace = pace if pace is not None else _no_pace
        self._evidence = _Evidence(self._clock)
        self._fresh = position is None
        if position is None:
            pos = Position("full" if order == "full" else "ordered", None, {})
        elif isinstance(position, Position):
            pos = position
        elif isinstance(position, str) and position == START:
            pos = Position("full" if order == "full" else "ordered", None, {})
        elif isinstance(position, (dict, str, bytes)):
            pos = Position.from_json(position)
        else:
            raise ValueError(f"position must be None, START or a saved position, got {position!r}")
        if order == "full" and pos.mode == "ordered":
            pos = attrs.evolve(pos, mode="full")
        self._mode: Mode = pos.mode
        self._mark = pos.mark  # the floor: messages older than it are accounted for
        self._head = pos.head if pos.head is not None else pos.mark  # the listing stop
        self._run_mark = pos.mark  # the mark this run began with (a mode switch falls back)
        self._pages = 0
        self._chats: dict[int, ChatMark] = dict(pos.chats)
        self._seen: dict[int, Chat] = {}  # last listed payload per chat (memory only)
        self._scan_max: int | None = None
        self._warned = False
        self._started = False
        self.requests = 0

    # ------------------------------------------------------------------ state

    @property
    def mode(self) -> Mode:
        """``"ordered"`` or ``"full"``: the listing mode in force."""
        return self._mode

    def position(self, partial: tuple[int, ChatMark] | None = None) -> Position:
        """The position now (optionally with one chat's partial mark in place)."""
        chats = dict(self._chats)
        if partial is not None:
            chats[partial[0]] = partial[1]
        return Position(self._mode, self._mark, chats, self._head)

    def mark_of(self, chat_id: int) -> ChatMark:
        """The chat's mark: its own, or the one the global mark implies."""
        mark = self._chats.get(chat_id)
        if mark is not None:
            return mark
        return ChatMark(None, self._mark, frozenset(), False)

    # ------------------------------------------------------------------ requests

    async def _list(self, page: int) -> Any:
        await self._pace()
        self.requests += 1
        result = await self._client.chats.list(page, MAX_LIMITATION)
        top = None
        for chat in result:
            at = seconds(chat.updated_at)
            if at is not None and (top is None or at > top):
                top = at
        self._evidence.saw(top)
        return result

    async def _messages(self, chat_id: int, page: int) -> tuple[Any, float]:
        await self._pace()
        self.requests += 1
        sent = self._clock()
        try:
            result = await self._client.chats.messages(
                chat_id, page, MAX_LIMITATION, activities=self._activities
            )
        except NotFoundError:
            return None, sent
        top = None
        for message in result:
            at = seconds(message.created_at)
            if at is not None and (top is None or at > top):
                top = at
        self._evidence.saw(top)
        return result, sent

    def _check_order(self, previous: int | None, at: int | None) -> bool:
        """False (and a switch to full mode) when the listing is not updatedAt-descending."""
        if self._mode == "full" or self._order == "ordered":
            return True
        if previous is None or at is None or at <= previous:
            return True
        self._mode = "full"
        # Marks advanced under the ordered assumption may have passed chats never listed:
        # fall back to the mark this run began with.
        if self._mark is not None and (self._run_mark is None or self._run_mark < self._mark):
            self._mark = self._run_mark
        self._head = self._mark
        if not self._warned:
            self._warned = True
            logger.warning(
                "GET /chats is not ordered by updatedAt (newest first): switching to full "
                "listings (every chat page per scan, at a slower cadence)"
            )
        return False

    # ------------------------------------------------------------------ start

    async def start(self) -> None:
        """Take the baseline when starting "now": the newest chats' latest messages.

        Costs the chat pages down to the newest second (usually 1 request; a full listing
        when the order is not updatedAt-descending) plus one message page per chat
        updated in that second.  A no-op for :data:`START` or a saved position.
        """
        if self._started:
            return
        if not self._fresh:
            self._started = True
            return
        self._chats.clear()  # a failed earlier attempt starts over
        listed: list[tuple[Chat, float]] = []
        previous: int | None = None
        top: int | None = None
        page_number = 1
        seen_ids: set[int] = set()
        while True:
            sent = self._clock()
            page = await self._list(page_number)
            more = page.cursor.page < page.cursor.pages and len(page) > 0
            previous = None  # one page is one atomic answer; pages may shift between reads
            for chat in page:
                if chat.id in seen_ids:
                    continue
                seen_ids.add(chat.id)
                at = seconds(chat.updated_at)
                self._check_order(previous, at)
                if at is not None:
                    previous = at
                    top = at if top is None else max(top, at)
                listed.append((chat, sent))
            if not more:
                break
            if self._mode == "ordered" and any(
                seconds(c.updated_at) != top for c in page if c.updated_at is not None
            ):
                break  # ordered: the newest second ended on this page
            page_number += 1
        for chat, _ in listed:
            self._seen[chat.id] = chat
        if self._mode == "full":
            # No global mark: every chat listed gets its own.  A chat whose listing was
            # sent after the server was past its updatedAt has all its messages up to
            # that second accounted for; the others need their newest page read.
            self._mark = self._head = self._run_mark = None
            for chat, sent in listed:
                at = seconds(chat.updated_at)
                if at is None:
                    continue  # nothing to compare later: only its payload can show a change
                if self._evidence.past(at, sent):
                    self._chats[chat.id] = ChatMark(at, at + 1, frozenset(), True)
                else:
                    await self._baseline(chat.id, at)
            self._started = True
            return
        self._mark = self._head = self._run_mark = top
        for chat, _ in listed:
            if top is not None and seconds(chat.updated_at) == top:
                await self._baseline(chat.id, top)
        self._started = True

    async def _baseline(self, chat_id: int, second: int) -> None:
        ids: set[int] = set()
        page_number = 1
        settled: bool | None = None
        while True:
            page, sent = await self._messages(chat_id, page_number)
            if settled is None:
                settled = self._evidence.past(second, sent)
            if page is None:
                break
            low = False
            for message in page:
                at = seconds(message.created_at)
                if at is not None and at < second:
                    low = True
                    break
                if at == second:
                    ids.add(message.id)
            if low or not page.items or page.cursor.page >= page.cursor.pages:
                break
            page_number += 1
        self._chats[chat_id] = ChatMark(second, second, frozenset(ids), bool(settled))

    # ------------------------------------------------------------------ scan

    def _changed(self, chat: Chat) -> ChatChange | None:
        at = seconds(chat.updated_at)
        own = self._chats.get(chat.id)
        last = self._seen.get(chat.id)
        payload_changed = last is not None and last != chat
        self._seen[chat.id] = chat
        if own is not None:
            if own.updated is None or at != own.updated:
                return ChatChange(chat, own, True, own.updated is not None or payload_changed)
            if not own.settled:
                ready = self._evidence.settles_at(max(_n(own.updated), _n(own.sec)))
                if ready is not None and ready <= self._clock():
                    return ChatChange(chat, own, True, payload_changed)
            if payload_changed:
                return ChatChange(chat, own, False, True)
            return None
        implied = self.mark_of(chat.id)
        if at is None:
            return ChatChange(chat, implied, False, True) if payload_changed else None
        if self._mark is None or at >= self._mark:
            return ChatChange(chat, implied, True, payload_changed or self._mark is not None)
        if payload_changed:
            return ChatChange(chat, implied, False, True)
        return None

    async def scan(self) -> list[ChatChange]:
        """Read the chat pages and return the changed chats, oldest change first.

        Ordered mode reads pages down to the first chat older than the mark (1 request
        when nothing changed); full mode reads every page.  Unsettled chats whose settle
        time has come are included (one message page each).
        """
        if not self._started:
            await self.start()
        changes: dict[int, ChatChange] = {}
        previous: int | None = None
        page_number = 1
        seen_ids: set[int] = set()
        self._scan_max = None
        self._pages = 0
        while True:
            page = await self._list(page_number)
            self._pages += 1
            below = False
            previous = None  # one page is one atomic answer; pages may shift between reads
            for chat in page:
                if chat.id in seen_ids:
                    continue  # pushed down a page by a chat that moved to the head
                seen_ids.add(chat.id)
                at = seconds(chat.updated_at)
                self._check_order(previous, at)
                if at is not None:
                    previous = at
                    if self._scan_max is None or at > self._scan_max:
                        self._scan_max = at
                if (
                    self._mode == "ordered"
                    and self._head is not None
                    and at is not None
                    and at < self._head
                ):
                    below = True
                    break
                change = self._changed(chat)
                if change is not None:
                    changes[chat.id] = change
            if not page.items or page.cursor.page >= page.cursor.pages:
                break
            if below and self._mode == "ordered":
                break
            page_number += 1
        return sorted(
            changes.values(),
            key=lambda c: (seconds(c.chat.updated_at) or 0, c.chat.id),
        )

    async def read(self, change: ChatChange) -> list[Message]:
        """The chat's new messages, oldest first; computes ``change.after``.

        Reads message pages newest first down to the chat's mark, de-duplicating by id
        (new messages push older ones onto the next page while it reads).
        """
        before = change.before
        listed_at = seconds(change.chat.updated_at)
        if not change.read:
            change.after = ChatMark(
                listed_at if before.updated is None else before.updated,
                before.sec,
                before.ids,
                before.settled,
            )
            if before.updated is None:
                change.after = attrs.evolve(change.after, updated=listed_at)
            return []
        fresh: list[Message] = []
        got: set[int] = set()
        top_sec = before.sec
        top_ids: set[int] = set(before.ids)
        sent_first: float | None = None
        page_number = 1
        gone = False
        while True:
            page, sent = await self._messages(change.chat.id, page_number)
            if sent_first is None:
                sent_first = sent
            if page is None:
                gone = True
                break
            low = False
            for message in page:
                if message.id in got:
                    continue
                got.add(message.id)
                if before.older(message):
                    low = True
                    break
                top_sec = raise_mark(top_sec, top_ids, seconds(message.created_at), message.id)
                if before.is_new(message):
                    fresh.append(message)
            if low or not page.items or page.cursor.page >= page.cursor.pages:
                break
            page_number += 1
        fresh.reverse()  # oldest first
        fresh.sort(key=lambda m: seconds(m.created_at) or 0)  # stable: server order in a second
        change.new = fresh
        if gone:
            change.after = None
            return fresh
        boundary = max(_n(listed_at), _n(top_sec))
        settled = sent_first is not None and self._evidence.past(boundary, sent_first)
        change.after = ChatMark(listed_at, top_sec, frozenset(top_ids), settled)
        return fresh

    def partial(
        self, change: ChatChange, delivered: Iterable[Message], *, start: ChatMark | None = None
    ) -> ChatMark:
        """The chat's mark once ``delivered`` (a prefix of ``change.new``) is accounted for.

        ``start`` is the mark of the prefix before ``delivered`` (default: the chat's mark
        before the change), so callers can extend it one message at a time.  ``updated``
        stays ``None`` so the rest is read again after a restart.
        """
        base = change.before if start is None else start
        sec = base.sec
        ids = set(base.ids)
        for message in delivered:
            at = seconds(message.created_at)
            if at is None:
                ids.add(message.id)
            else:
                sec = raise_mark(sec, ids, at, message.id)
        return ChatMark(None, sec, frozenset(ids), False)

    def finish(self, change: ChatChange) -> None:
        """Record the chat's new mark (after its messages are written/delivered)."""
        if not change.read:
            return
        chat_id = change.chat.id
        if change.after is None:
            self._chats.pop(chat_id, None)  # deleted: nothing left to read
            return
        self._chats[chat_id] = change.after

    def finish_scan(self) -> None:
        """Close the scan: in ordered mode, advance the marks and forget marks below them.

        The listing stop (``head``) moves to the newest ``updatedAt`` listed.  The floor
        (``mark``) follows only after a one-page scan: while several pages are read, a
        chat can jump from a page not yet read to the head (one already read) and be
        missed; it is then above ``head`` in the next scan, and its messages must still
        be read down to the old floor.
        """
        top = self._scan_max
        if self._mode != "ordered" or top is None:
            return
        if self._head is None or top > self._head:
            self._head = top
        if self._pages <= 1:
            self._mark = self._head
        floor = _n(self._mark)
        self._chats = {
            chat_id: m
            for chat_id, m in self._chats.items()
            if not (m.settled and m.updated is not None and max(m.updated, _n(m.sec)) < floor)
        }

    def unsettled(self) -> list[ChatChange]:
        """Chats whose last read can be settled now, as changes to read (no listing).

        The watch calls this right after :meth:`start`, once the newest second is over,
        so messages that arrived in it since the baseline are found without a scan.
        """
        now = self._clock()
        out: list[ChatChange] = []
        for chat_id, mark in self._chats.items():
            chat = self._seen.get(chat_id)
            if mark.settled or mark.updated is None or chat is None:
                continue
            ready = self._evidence.settles_at(max(mark.updated, _n(mark.sec)))
            if ready is not None and ready <= now:
                out.append(ChatChange(chat, mark, True, False))
        return out

    def settle_due(self) -> float | None:
        """The earliest local time at which an unsettled chat mark can be settled."""
        due: float | None = None
        for m in self._chats.values():
            if m.settled:
                continue
            t = self._evidence.settles_at(max(_n(m.updated), _n(m.sec)))
            if t is not None and (due is None or t < due):
                due = t
        return due


def _n(value: int | None) -> float:
    return -math.inf if value is None else value
