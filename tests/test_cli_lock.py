"""The rate lock (HTTP 423) during an export is visible: the progress says the token is
locked and counts down, a line says so without a terminal, and the manifest records it.

The long locks run under trio's MockClock (the emulator and the progress read
``trio.current_time``), so a 60 s lock passes in no real time.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from rich.console import Console

from smartsender_async.cli import cli
from smartsender_async.cli._app import EXPORT_RETRY
from smartsender_async.cli._export import Exporter, ExportOptions, ExportProgress
from smartsender_async.cli._progress import ProgressBar, describe, lock_note
from smartsender_async.cli._store import check_directory
from smartsender_async.retry import RequestEvent
from smartsender_async.testing import Emulator

trio = pytest.importorskip("trio")
from trio.testing import MockClock  # noqa: E402


def test_a_lock_is_counted_down_noted_and_recorded(tmp_path: Path) -> None:
    out = tmp_path / "out"
    seen: dict[str, Any] = {"notes": [], "countdown": []}

    async def main() -> Any:
        emulator = Emulator(
            seed=3, chats=30, messages_per_chat=3, rate_limit=(12, 60.0), clock=trio.current_time
        )
        progress = ExportProgress(clock=trio.current_time)
        progress.on_lock = lambda seconds: seen["notes"].append(lock_note(seconds))

        async def watch_the_countdown() -> None:
            while progress.locked_until is None:
                await trio.sleep(0.5)
            for _ in range(3):
                seen["countdown"].append(describe(progress))
                await trio.sleep(20)

        async with emulator.client(
            observer=progress.observe, rate_limit=None, retry=EXPORT_RETRY
        ) as client:
            exporter = Exporter(
                client,
                check_directory(out),
                ExportOptions(concurrency=1, checkpoint_interval=0),
                progress=progress,
            )
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch_the_countdown)
                result = await exporter.run()
        return emulator, result

    emulator, result = trio.run(main, clock=MockClock(autojump_threshold=0))
    assert emulator.stats.lock_events >= 1
    assert result.chats == 30
    countdown = seen["countdown"]
    assert "token rate-locked (HTTP 423): resuming in 1:00" in countdown[0], countdown
    assert "resuming in 0:40" in countdown[1] and "resuming in 0:20" in countdown[2]
    assert seen["notes"][0].startswith("the token is rate-locked by Smart Sender (HTTP 423)")
    manifest = json.loads((out / "manifest.json").read_text())
    (run,) = manifest["runs"]
    assert manifest["status"] == "complete"
    assert len(run["locks"]) == emulator.stats.lock_events
    first = run["locks"][0]
    assert first["status"] == 423 and first["seconds"] == 60
    assert first["request"].startswith("GET /")
    assert run["requests"] == emulator.stats.requests  # the refused ones included


def test_simultaneous_423s_of_one_lock_are_one_event() -> None:
    now = [100.0]
    progress = ExportProgress(clock=lambda: now[0])
    retry = RequestEvent("retry", "GET", "/chats", 1, wait=60.0, reason="HTTP 423")
    progress.observe(retry)
    progress.observe(retry)  # a second worker hit the same lock
    assert len(progress.lock_events) == 1
    assert progress.lock_remaining() == 60.0
    now[0] = 159.0
    assert progress.lock_remaining() == pytest.approx(1.0)
    now[0] = 160.0
    assert progress.lock_remaining() is None
    progress.observe(RequestEvent("retry", "GET", "/chats", 2, wait=120.0, reason="HTTP 423"))
    assert len(progress.lock_events) == 2  # the next breach is a new lock
    progress.observe(RequestEvent("retry", "GET", "/chats", 1, wait=2.0, reason="HTTP 503"))
    assert len(progress.lock_events) == 2  # a 5xx retry is no lock


def test_the_bar_shows_the_lock_and_its_countdown_moves_by_itself() -> None:
    now = [0.0]
    progress = ExportProgress(clock=lambda: now[0], started=0.0)
    progress.phase, progress.mode = "messages", "full"
    progress.observe(RequestEvent("retry", "GET", "/chats", 1, wait=75.0, reason="HTTP 423"))
    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, width=200)
    with ProgressBar(console) as bar:
        bar.update(progress)
        bar._progress.refresh()
        now[0] = 30.0  # no update() call: the column reads the live progress
        bar._progress.refresh()
    text = buffer.getvalue()
    assert "rate-locked" in text
    assert "resuming in 1:15" in text and "resuming in 0:45" in text


def test_without_a_terminal_the_lock_is_one_line_on_stderr(tmp_path: Path) -> None:
    # A 1 s lock (the emulator scales locks with the quota's period): one real second.
    emulator = Emulator(seed=2, chats=8, messages_per_chat=3, rate_limit=(6, 1.0))
    result = CliRunner().invoke(
        cli, ["--emulator", "--rate", "off", "export", str(tmp_path / "out")], obj=emulator
    )
    assert result.exit_code == 0, result.output
    assert emulator.stats.lock_events == 1
    (line,) = [ln for ln in result.stderr.splitlines() if "rate-locked" in ln]
    assert "HTTP 423" in line and "waiting 0:01" in line
    (run,) = json.loads((tmp_path / "out" / "manifest.json").read_text())["runs"]
    assert [lock["seconds"] for lock in run["locks"]] == [1]


def test_the_exporter_under_asyncio_reports_no_lock_when_there_is_none(tmp_path: Path) -> None:
    async def main() -> Any:
        emulator = Emulator(seed=2, chats=4, messages_per_chat=2, rate_limit=None)
        progress = ExportProgress()
        async with emulator.client(observer=progress.observe) as client:
            exporter = Exporter(client, check_directory(tmp_path / "out"), progress=progress)
            return await exporter.run(), progress

    result, progress = anyio.run(main)
    assert result.run.locks == [] and progress.lock_remaining() is None


def test_a_lock_longer_than_the_export_waits_is_recorded_and_stops_the_run(
    tmp_path: Path,
) -> None:
    from smartsender_async.errors import RateLimitedError

    out = tmp_path / "out"

    async def main() -> Emulator:
        # A 1,000 s lock (the emulator's lock unit is the quota's period): longer than the
        # 720 s the export waits out.
        emulator = Emulator(
            seed=3, chats=30, messages_per_chat=3, rate_limit=(5, 1000.0), clock=trio.current_time
        )
        progress = ExportProgress(clock=trio.current_time)
        async with emulator.client(
            observer=progress.observe, rate_limit=None, retry=EXPORT_RETRY
        ) as client:
            exporter = Exporter(client, check_directory(out), progress=progress)
            with pytest.raises(RateLimitedError):
                await exporter.run()
        return emulator

    emulator = trio.run(main, clock=MockClock(autojump_threshold=0))
    assert emulator.stats.lock_events == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "incomplete"
    (run,) = manifest["runs"]
    assert [(lock["seconds"], lock["waited"]) for lock in run["locks"]] == [(1000, False)]
    assert run["requests"] == emulator.stats.requests
