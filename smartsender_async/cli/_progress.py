"""The export's progress bar (rich.progress) and its one-line summary.

While the token is rate-locked (HTTP 423) the bar says so and counts the lock down: the
text is rendered from the live :class:`ExportProgress` at every refresh, so it moves even
though no request is answered.  Without a terminal, each lock is one line on stderr.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn
from rich.text import Text

from ._export import ExportProgress, ExportResult

__all__ = ["ProgressBar", "format_duration", "summary"]

_PHASES = {
    "starting": "starting",
    "listing": "listing chats",
    "rescan": "re-reading list head",
    "messages": "fetching messages",
    "contacts": "listing contacts",
    "finishing": "writing the files",
    "complete": "done",
}


def format_duration(seconds: float | None) -> str:
    """``1:02:03``, ``4:05``, or ``-`` when unknown."""
    if seconds is None:
        return "-"
    total = max(round(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe(progress: ExportProgress, now: float | None = None) -> str:
    """The text next to the bar: a rate lock's countdown, if any, then chats, messages,
    request rate and ETA."""
    due = max(progress.chats_due, progress.chats_walked)
    text = (
        f"chats {progress.chats_walked:,}/{due:,} · messages {progress.messages:,} · "
        f"{progress.requests_per_second(now):.1f} req/s · ETA {format_duration(progress.eta(now))}"
    )
    locked = progress.lock_remaining(now)
    if locked is not None:
        text = f"token rate-locked (HTTP 423): resuming in {format_duration(locked)} · {text}"
    return text


def lock_note(seconds: float) -> str:
    """The line printed when the token gets locked."""
    return (
        f"the token is rate-locked by Smart Sender (HTTP 423): waiting {format_duration(seconds)} "
        "before the next request; the export continues by itself"
    )


class _LiveDetail(ProgressColumn):
    """:func:`describe` of the live progress, recomputed at every refresh."""

    def __init__(self, bar: ProgressBar) -> None:
        super().__init__()
        self._bar = bar

    def render(self, task: Task) -> Text:
        live = self._bar.live
        return Text(describe(live) if live is not None else "")


class ProgressBar:
    """A rich progress bar on ``console`` (stderr); draws nothing unless it is a terminal.

    The bar measures requests: done in this process over done plus the estimate of
    :meth:`ExportProgress.remaining_requests`, so it and the ETA firm up as chats are walked.
    """

    def __init__(self, console: Console) -> None:
        self.enabled = console.is_terminal
        self.live: ExportProgress | None = None
        self._progress = Progress(
            TextColumn("[bold]{task.description:<20}"),
            BarColumn(),
            TaskProgressColumn(),
            _LiveDetail(self),
            console=console,
            disable=not self.enabled,
            refresh_per_second=8,
        )
        self._task = self._progress.add_task(_PHASES["starting"], total=None, detail="")

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def note(self, text: str) -> None:
        """A line on stderr, above the bar when there is one."""
        self._progress.console.print(
            f"smartsender: {text}", markup=False, highlight=False, soft_wrap=True
        )

    def update(self, progress: ExportProgress) -> None:
        """Redraw from ``progress`` (the countdown of a lock also moves by itself)."""
        self.live = progress
        if not self.enabled:
            return
        done = progress.requests
        total: float | None = done + progress.remaining_requests()
        if progress.phase == "complete":
            total = done
        elif progress.phase in ("starting", "listing") and progress.listing_pages_total is None:
            total = None  # nothing to measure against before the first page: a pulsing bar
        self._progress.update(
            self._task,
            description="rate-locked"
            if progress.lock_remaining() is not None
            else _PHASES.get(progress.phase, progress.phase),
            completed=done,
            total=None if total is None else max(total, 1),
            detail=describe(progress),
        )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def summary(result: ExportResult, progress: ExportProgress) -> str:
    """One line for stderr when the run is complete."""
    run = result.run
    how = "resumed and completed" if result.resumed else "completed"
    elapsed = format_duration(max(0.0, time.monotonic() - progress.started))
    return (
        f"export {how} in {elapsed} ({run.mode} run {run.run}): "
        f"{_count(run.chats_listed, 'chat')} listed, {run.chats_walked:,} with new messages, "
        f"{_count(run.messages, 'message')} and {_count(run.requests, 'request')}; "
        f"{str(result.directory)!r} holds {_count(result.chats, 'chat')}"
        + (f", {_count(result.contacts, 'contact')}" if result.contacts is not None else "")
        + f" and {_count(result.messages, 'message')}"
    )
