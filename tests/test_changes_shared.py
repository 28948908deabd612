"""The export and the watch answer "what changed since position P" with ONE engine.

Both route their decisions through :mod:`smartsender_async.changes`: the same-second rule
(:func:`~smartsender_async.changes.is_new`), the stop at the mark
(:func:`~smartsender_async.changes.is_below`) and the settled rule, from the server's own
timestamps only (:func:`~smartsender_async.changes.server_past`).  The proof here is by
substitution: replacing the engine's function changes what BOTH deliver, the way a
time-only engine would (it loses the messages of the mark's second).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from smartsender_async import changes
from smartsender_async.cli import cli
from smartsender_async.cli._store import Walk
from smartsender_async.testing import Emulator, FakeClock
from smartsender_async.watch import Watch
from tests._watch_harness import FakeTime


def time_only(at: int | None, message_id: int, mark_at: int | None, ids: Iterable[int]) -> bool:
    """The broken rule the issue warns about: only strictly newer than the mark is new."""
    return mark_at is None or (at is not None and at > mark_at)


class Spy:
    """Wraps an engine function and counts calls (keeps its answers)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0
        self.args: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        self.args.append(args)
        return self.real(*args)


def export_same_second(tmp_path: Path) -> tuple[set[int], set[int]]:
    """An incremental export after a message of the mark's second: (exported, expected)."""
    import time

    emulator = Emulator(
        seed=7, chats=10, messages_per_chat=4, rate_limit=None, clock=FakeClock(),
        epoch=time.time() + 3600,
    )  # fmt: skip
    out = tmp_path / "out"

    def run() -> None:
        result = CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator)
        assert result.exit_code == 0, result.output

    chat_id = emulator.chat_ids()[5]
    emulator.add_inbound_message(chat_id, "first")
    run()
    # The emulator's clock is frozen: this one lands in the second of the chat's mark.
    emulator.add_inbound_message(chat_id, "second, same second")
    run()
    lines = (out / "messages.jsonl").read_text().splitlines()
    exported = {json.loads(line)["id"] for line in lines}
    expected = {
        mid for cid in emulator.chat_ids() for mid in emulator.message_ids(cid, activities=True)
    }
    return exported, expected


def watch_same_second() -> tuple[list[int], set[int]]:
    """A watch, with messages that arrive right after its reads: (delivered, sent).

    The emulator runs on its own clock, which follows the watch's fake clock but moves
    only after the messages of each pause are added: they are stamped with the second of
    the reads just made, the mark's second (a server whose clock runs like ours).
    """
    fake = FakeTime()
    server = FakeClock(fake())
    emu = Emulator(seed=3, chats=20, messages_per_chat=3, clock=server)
    chat_id = emu.chat_ids()[0]
    sent: list[int] = [emu.add_inbound_message(chat_id, "first")["id"]]  # the newest second
    delivered: list[int] = []

    def pause(before: float, after: float) -> None:
        if len(sent) < 4:
            sent.append(emu.add_inbound_message(chat_id, "same second as the read")["id"])
        server.advance(after - before)

    fake.on_advance = pause

    async def scenario() -> None:
        async with (
            fake.client(emu) as client,
            Watch(client, clock=fake, sleep=fake.sleep) as watch,
        ):
            give_up = fake() + 120
            while fake() < give_up and not (len(sent) >= 4 and set(delivered) >= set(sent[1:])):
                while not watch._buffer and fake() < give_up:
                    await watch._step()
                if not watch._buffer:
                    break
                event = await watch.__anext__()
                assert event.message is not None
                delivered.append(event.message.id)

    anyio.run(scenario)
    return delivered, set(sent[1:])  # "first" is before the watch: not delivered


def test_both_call_the_engines_same_second_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(changes.is_new)
    monkeypatch.setattr(changes, "is_new", spy)
    exported, expected = export_same_second(tmp_path)
    assert exported == expected  # the same-second message is exported, once
    export_calls = spy.calls
    assert export_calls > 0
    delivered, sent = watch_same_second()
    assert sorted(delivered) == sorted(sent)  # each once
    assert spy.calls > export_calls


def test_a_time_only_rule_in_the_engine_breaks_both_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Substituting the engine's rule is seen by both callers: they share it, not copy it.
    monkeypatch.setattr(changes, "is_new", time_only)
    exported, expected = export_same_second(tmp_path)
    missed = expected - exported
    assert len(missed) == 1  # the message of the mark's second
    delivered, sent = watch_same_second()
    assert set(sent) - set(delivered)  # the watch loses it too


def test_the_export_settles_through_the_engines_server_side_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = Spy(changes.server_past)
    monkeypatch.setattr(changes, "server_past", spy)
    walk = Walk(server_time=10_500_000)  # the server had stamped second 10 (microseconds)
    assert walk.settled(9_999_999)
    assert not walk.settled(10_000_000)
    assert spy.args == [(9, 10), (10, 10)]  # the server's whole seconds, never our clock


@pytest.mark.parametrize(
    ("at", "mid", "mark_at", "ids", "new"),
    [
        (11, 1, 10, {1}, True),  # younger than the mark
        (10, 2, 10, {1}, True),  # the mark's second, not yet seen
        (10, 1, 10, {1}, False),  # the mark's second, seen
        (9, 3, 10, {1}, False),  # older
        (None, 4, 10, {1}, True),  # no timestamp: by id
        (None, 1, 10, {1}, False),
        (5, 1, None, set(), True),  # no mark: everything
    ],
)
def test_the_same_second_rule(
    at: int | None, mid: int, mark_at: int | None, ids: set[int], new: bool
) -> None:
    assert changes.is_new(at, mid, mark_at, ids) is new
    assert changes.is_below(at, mark_at) is (
        at is not None and mark_at is not None and at < mark_at
    )


def test_marks_move_forward_only() -> None:
    ids: set[int] = {1}
    assert changes.raise_mark(10, ids, 10, 2) == 10 and ids == {1, 2}
    assert changes.raise_mark(10, ids, 9, 3) == 10 and ids == {1, 2}  # older: no change
    assert changes.raise_mark(10, ids, None, 4) == 10 and ids == {1, 2}
    assert changes.raise_mark(10, ids, 12, 5) == 12 and ids == {5}
    assert changes.merge_marks(10, [1], 10, [2]) == (10, {1, 2})
    assert changes.merge_marks(10, [1], 11, [2]) == (11, {2})
    assert changes.merge_marks(10, [1], None, []) == (10, {1})
    assert changes.merge_marks(None, [], 9, [3]) == (9, {3})
    assert changes.merge_marks(10, [1], 9, [3]) == (10, {1})  # never backwards
