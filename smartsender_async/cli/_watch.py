"""``smartsender watch``: one line per new message (or JSON Lines), with a resumable state file.

The position is written to ``--state FILE`` atomically (a temporary file in the same
directory, flushed and fsynced, then renamed over the old one) after each event is
printed, so a restart repeats at most the event being printed when it stopped and never
skips one.  A failed write stops the command (exit 1); it never goes on unsaved.
Ctrl-C (or SIGTERM) exits 130 with the position saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import anyio
import click

from smartsender_async._convert import converter
from smartsender_async.changes import Position
from smartsender_async.retry import RetryPolicy
from smartsender_async.watch import Watch, WatchEvent

from ._app import CommandError, Interrupted, Settings, UsageProblem, cli, pass_settings

__all__ = ["load_state", "save_state", "watch"]

#: A watch runs unattended: it waits out locks, up to Smart Sender's longest (720 s).
WATCH_RETRY = RetryPolicy(max_attempts=6, max_wait=720.0)
#: New inbound messages per second on the demo project, so `smartsender watch` shows some.
DEMO_CHURN = 0.5
#: The demo's default interval (a real project's is 5 s).
DEMO_INTERVAL = 2.0


def load_state(path: Path) -> Any:
    """The position saved in ``path``, or ``None`` when the file does not exist.

    Raises:
        UsageProblem: the file exists but holds no position this version wrote (exit 2).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageProblem(f"cannot read the state file {str(path)!r}: {exc.strerror}") from None
    try:
        data = json.loads(text)
        position = data["position"] if isinstance(data, dict) else None
        if position == "start":
            return position
        Position.from_json(position)
    except (ValueError, KeyError, TypeError):
        raise UsageProblem(
            f"{str(path)!r} is not a watch state file (delete it to start from now)"
        ) from None
    return position


def save_state(path: Path, position: Any) -> None:
    """Write ``{"position": ...}`` to ``path`` atomically.

    Raises:
        CommandError: the write failed (exit 1); the old file is left as it was.
    """
    payload = json.dumps({"position": position}, separators=(",", ":")).encode() + b"\n"
    directory = path.parent if str(path.parent) else Path(".")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise CommandError(
            f"cannot write the state file {str(path)!r}: {exc.strerror or exc}; stopped "
            "(the position in it is the last one saved)"
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _describe(event: WatchEvent) -> str:
    chat = event.chat
    who = chat.name or f"chat {chat.id}"
    if event.message is None:
        unread = chat.unread_messages
        extra = f" (unread: {unread})" if unread is not None else ""
        return f"{who} [chat {chat.id}]: chat changed{extra}"
    message = event.message
    stamp = message.created_at.strftime("%Y-%m-%d %H:%M:%S") if message.created_at else "?"
    arrow = "<-" if message.is_inbound else "->"
    text = message.text
    if text is None:
        kind = message.content.type if message.content is not None else "empty"
        text = f"<{kind or 'unknown'}>"
    text = " ".join(text.split())
    return f"{stamp}  {who} [chat {chat.id}] {arrow} {text}"


def _json_line(event: WatchEvent) -> str:
    payload: dict[str, Any] = {
        "kind": event.kind,
        "chat": converter.unstructure(event.chat),
        "message": converter.unstructure(event.message) if event.message is not None else None,
        "position": event.position,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


@cli.command("watch")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object per event.")
@click.option("--inbound", is_flag=True, help="Only messages the contacts wrote.")
@click.option(
    "--state",
    "state",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Keep the position in this file: a restart resumes right after the last event.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05, max=3600),
    default=None,
    help=(
        "Seconds between polls of an idle project; half that after a poll found "
        "something (default 5; 2 on the demo)."
    ),
)
@click.option("--chat-changes", is_flag=True, help="Also report chats whose state changed.")
@click.option("--from-start", is_flag=True, help="Replay every message from the beginning.")
@click.option("--max-events", type=click.IntRange(min=1), default=None, hidden=True)
@pass_settings
def watch(
    settings: Settings,
    as_json: bool,
    inbound: bool,
    state: Path | None,
    interval: float | None,
    chat_changes: bool,
    from_start: bool,
    max_events: int | None,
) -> None:
    """Print new messages as they arrive, one line each (or --json), until Ctrl-C.

    Without a token it watches the built-in demo project, where contacts keep writing.
    With --state FILE the position is saved after every event; run the same command
    again to continue where it stopped (nothing skipped; Ctrl-C exits 130).
    """
    position: Any = load_state(state) if state is not None else None
    if from_start and position is None:
        position = "start"
    if settings.uses_emulator:
        emu = settings.get_emulator()
        if settings.hook is None and emu.churn_per_s == 0:
            emu.churn_per_s = DEMO_CHURN
        if interval is None:
            interval = DEMO_INTERVAL
    interval = 5.0 if interval is None else interval

    def emit(line: str) -> None:
        click.echo(line)

    async def go() -> bool:
        count = 0
        interrupted = False
        error: Exception | None = None
        async with settings.client(retry=WATCH_RETRY) as client:
            events = Watch(
                client,
                interval=interval,
                position=position,
                inbound_only=inbound,
                include_chat_changes=chat_changes,
            )
            async with anyio.create_task_group() as tg:

                async def watch_signals() -> None:
                    nonlocal interrupted
                    try:
                        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                            async for _ in signals:
                                interrupted = True
                                tg.cancel_scope.cancel()
                                return
                    except (NotImplementedError, RuntimeError, ValueError):
                        return  # no signal handling here (not the main thread, Windows)

                tg.start_soon(watch_signals)
                try:
                    async with events:
                        if state is not None:
                            save_state(state, events.position())
                        async for event in events:
                            emit(_json_line(event) if as_json else _describe(event))
                            if state is not None:
                                save_state(state, event.position)
                            count += 1
                            if max_events is not None and count >= max_events:
                                break
                except Exception as exc:  # raised as is, not inside an ExceptionGroup
                    error = exc
                finally:
                    tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return interrupted

    try:
        interrupted = anyio.run(go)
    except KeyboardInterrupt:
        interrupted = True
    if interrupted:
        saved = f"; position saved in {state}" if state is not None else ""
        raise Interrupted(f"stopped{saved}")
