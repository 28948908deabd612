"""The ``smartsender`` command line: the click group, its commands and the exit codes.

Exit codes:

* 0: complete;
* 1: a runtime failure: the API or the connection failed (a 423 lock prints how long to
  wait), a write to the export directory failed (disk full, database locked), or its
  files disagree with its checkpoint;
* 2: a usage error: bad options, an export directory that cannot be used (missing
  parent, not writable, holding files that are not the export's own, another project's
  export), or a base URL without a token;
* 130: interrupted by Ctrl-C (or SIGTERM); an export then resumes with the same command.

Every failure is one line on stderr, naming the file or the setting; ``--debug`` adds the
traceback.
"""

from __future__ import annotations

import math
import re
import signal
import sqlite3
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs
import click

from smartsender_async._version import __version__
from smartsender_async.client import BASE_URL_ENV, TOKEN_ENV, ConfigurationError, SmartSender
from smartsender_async.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SmartSenderError,
)
from smartsender_async.outgoing import (
    Animation,
    Audio,
    ContactCard,
    File,
    Location,
    OutgoingMessage,
    Picture,
    Text,
    Video,
    Voice,
)
from smartsender_async.pagination import PageStream
from smartsender_async.ratelimit import RateLimit
from smartsender_async.retry import RequestEvent, RetryPolicy
from smartsender_async.testing import Emulator

from ._store import ExportBusyError, ExportDirError, ExportStateError, ExportStorageError

__all__ = ["DEMO_CHATS", "DEMO_MESSAGES", "DEMO_SEED", "cli", "main"]

T = TypeVar("T")

#: The in-process demo project: big enough for a visible progress bar, small enough to
#: export in a few seconds.
DEMO_SEED = 2026
DEMO_CHATS = 300
DEMO_MESSAGES = 30

#: Interactive commands report a rate lock at once (with its retry_after) rather than
#: sitting silently through it; 5xx and dropped connections are still retried.
COMMAND_RETRY = RetryPolicy(max_wait=0.0)
#: An export runs unattended for hours: it waits out locks, up to Smart Sender's longest.
EXPORT_RETRY = RetryPolicy(max_attempts=6, max_wait=720.0)

_DEFAULT: Any = object()


class CommandError(click.ClickException):
    """A failure reported on one line (no traceback): exit code 1."""

    exit_code = 1


class UsageProblem(CommandError):
    """A usage problem found after parsing (a directory that cannot be used): exit code 2."""

    exit_code = 2


class Interrupted(CommandError):
    """Ctrl-C or SIGTERM stopped an export: exit code 130, as a shell reports SIGINT."""

    exit_code = 130

    def show(self, file: Any = None) -> None:
        click.echo(f"smartsender: {self.format_message()}", err=True)


if TYPE_CHECKING:
    _ParamType = click.ParamType[Any]
else:  # click < 8.2 has no generic ParamType at runtime
    _ParamType = click.ParamType


def _note(text: str) -> None:
    click.echo(f"smartsender: {text}", err=True)


# --------------------------------------------------------------------------- settings


@attrs.define
class Settings:
    """The global options, and the client (or emulator) they describe."""

    token: str | None
    base_url: str | None
    emulator: bool
    rate: Any  # RateLimit, None (no limiter) or _DEFAULT
    hook: Emulator | None = None  # tests: an emulator shared across invocations
    quota: Any = _DEFAULT  # --quota: the built-in emulator's quota too
    demo_chats: int = DEMO_CHATS
    demo_messages: int = DEMO_MESSAGES
    _emulator: Emulator | None = attrs.field(default=None, init=False)

    @property
    def uses_emulator(self) -> bool:
        return self.emulator or not self.token

    def get_emulator(self) -> Emulator:
        if self._emulator is None:
            if self.emulator:
                _note("using the built-in emulator's demo project (--emulator)")
            else:
                _note(
                    f"no token (--token or {TOKEN_ENV}): using the built-in emulator's demo "
                    "project; pass a token to use your own project"
                )
            quota = self.quota if isinstance(self.quota, RateLimit) else None
            self._emulator = self.hook or Emulator(
                seed=DEMO_SEED,
                chats=self.demo_chats,
                messages_per_chat=self.demo_messages,
                rate_limit=None if quota is None else (quota.requests, quota.period),
            )
        return self._emulator

    def client(
        self,
        *,
        retry: RetryPolicy,
        observer: Callable[[RequestEvent], None] | None = None,
    ) -> SmartSender:
        kwargs: dict[str, Any] = {"retry": retry, "observer": observer}
        if self.rate is not _DEFAULT:
            kwargs["rate_limit"] = self.rate
        if self.uses_emulator:
            return self.get_emulator().client(**kwargs)
        if self.base_url is not None:
            kwargs["base_url"] = self.base_url
        try:
            return SmartSender(self.token, **kwargs)
        except ConfigurationError as exc:
            raise UsageProblem(str(exc)) from None

    def request_rate(self) -> float | None:
        """Requests per second the client's limiter allows (None: unlimited)."""
        rate = self.rate
        if rate is _DEFAULT:
            if self.uses_emulator and self.get_emulator().quota is None:
                return None
            rate = RateLimit()
        return rate.sustained_rate if isinstance(rate, RateLimit) else None

    def run(self, body: Callable[[SmartSender], Awaitable[T]]) -> T:
        """Run ``body(client)`` in a fresh event loop with a client for a command."""

        async def go() -> T:
            async with self.client(retry=COMMAND_RETRY) as client:
                return await body(client)

        return anyio.run(go)


# --------------------------------------------------------------------------- parameter types


class RateType(_ParamType):
    """``R/P`` (R requests per P seconds) or ``off``."""

    name = "R/P"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, RateLimit) or value is None:
            return value
        text = str(value).strip().lower()
        if text in ("off", "none", "0"):
            return None
        match = re.fullmatch(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)", text)
        if not match or int(match[1]) < 1 or float(match[2]) <= 0:
            self.fail(f"expected R/P such as 180/60, or 'off'; got {value!r}", param, ctx)
        requests, period = int(match[1]), float(match[2])
        # Scale the 1 s margin of the 180/60 default with the period.
        return RateLimit(requests, period, burst=min(5, requests), margin=period / 60)


_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class SinceType(_ParamType):
    """An ISO 8601 date or time (UTC unless it says otherwise) or an age such as ``2h``."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        match = _RELATIVE.fullmatch(text.lower())
        if match:
            seconds = float(match[1]) * _UNITS[match[2]]
            return datetime.now(timezone.utc) - timedelta(seconds=seconds)
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            self.fail(
                f"expected a date or time such as 2026-03-18 or 2026-03-18T16:40:00Z, or an "
                f"age such as 30m, 2h or 7d; got {value!r}",
                param,
                ctx,
            )
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


ID = click.IntRange(min=1)


# --------------------------------------------------------------------------- the group


def _api_message(exc: SmartSenderError) -> str:
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc)
    description = getattr(exc, "description", None)
    if isinstance(exc, RateLimitedError):
        wait = f"; retry after {exc.retry_after:g} s" if exc.retry_after is not None else ""
        return f"rate-limited by Smart Sender (HTTP {exc.status_code}: {exc.message}){wait}"
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return (
            f"the API refused the token (HTTP {exc.status_code}: {exc.message}); check --token "
            f"or {TOKEN_ENV} (the project's Integrations tab shows the token)"
        )
    if isinstance(exc, NotFoundError):
        return f"not found (HTTP 404: {exc.message})"
    if status is not None:
        text = f"the API answered HTTP {status}: {message}"
        if description:
            fields = "; ".join(
                f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
                for key, value in dict(description).items()
            )
            text += f" ({fields})"
        return text
    return message


def _failure(exc: Exception) -> CommandError:
    """The one-line message and exit code for an exception a command let through."""
    if isinstance(exc, SmartSenderError):
        return CommandError(_api_message(exc))
    if isinstance(exc, ExportDirError):
        return UsageProblem(str(exc))
    if isinstance(exc, ExportStorageError):
        return CommandError(
            f"{exc}; the export stopped with everything before it saved: re-run the same "
            "command to continue"
        )
    if isinstance(exc, ExportStateError | ExportBusyError):
        return CommandError(str(exc))
    if isinstance(exc, PermissionError):
        where = f" {str(exc.filename)!r}" if exc.filename else ""
        return UsageProblem(f"cannot write{where}: {exc.strerror or exc}")
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return CommandError(f"{exc.strerror or exc}{where}")
    if isinstance(exc, sqlite3.Error):
        return CommandError(f"sqlite: {exc}")
    return CommandError(
        f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
    )


class _Group(click.Group):
    """Maps the SDK's and the exporter's exceptions to one-line messages and exit codes;
    with ``--debug`` the traceback is printed first."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.meta.get("smartsender.debug"):
                traceback.print_exc(file=sys.stderr)
            raise _failure(exc) from None


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    show_envvar=True,
    metavar="TOKEN",
    help="The project's API token (Integrations tab). Without one, the built-in emulator is used.",
)
@click.option(
    "--base-url",
    envvar=BASE_URL_ENV,
    show_envvar=True,
    metavar="URL",
    help="The API root (default https://api.smartsender.com/v1), e.g. a proxy or an emulator.",
)
@click.option(
    "--emulator",
    "use_emulator",
    is_flag=True,
    help="Use an in-process emulator with a demo project (the default without a token).",
)
@click.option(
    "--quota",
    type=RateType(),
    default=None,
    envvar="SMARTSENDER_QUOTA",
    show_envvar=True,
    metavar="R/P",
    help="The token's quota, R requests per P seconds, or 'off' (default 180/60, Smart "
    "Sender's). The client paces itself to it; the built-in emulator enforces it too.",
)
@click.option(
    "--rate",
    type=RateType(),
    default=None,
    hidden=True,
    help="The client's own limiter R/P or 'off', whatever --quota says (for tests).",
)
@click.option("--debug", is_flag=True, help="Print the traceback of a failure.")
@click.option("--emulator-chats", type=click.IntRange(min=1), default=DEMO_CHATS, hidden=True)
@click.option("--emulator-messages", type=click.IntRange(min=0), default=DEMO_MESSAGES, hidden=True)
@click.version_option(__version__, prog_name="smartsender")
@click.pass_context
def cli(
    ctx: click.Context,
    token: str | None,
    base_url: str | None,
    use_emulator: bool,
    quota: Any,
    rate: Any,
    debug: bool,
    emulator_chats: int,
    emulator_messages: int,
) -> None:
    """Smart Sender from the command line: list and manage chats, send messages, and export
    a whole project to JSON Lines, resumably and incrementally.

    Without a token it runs on a built-in emulator with a demo project, so you can try
    every command right away, e.g. `smartsender export demo-export`.
    """
    ctx.meta["smartsender.debug"] = debug
    hook = ctx.obj if isinstance(ctx.obj, Emulator) else None
    token = token.strip() if token else None
    base_url = base_url.strip() if base_url else None
    source = ctx.get_parameter_source("base_url")
    explicit_url = source is click.core.ParameterSource.COMMANDLINE
    if use_emulator and explicit_url:
        raise click.UsageError("--emulator and --base-url exclude each other")
    if not token and base_url and not use_emulator:
        where = "--base-url" if explicit_url else BASE_URL_ENV
        raise click.UsageError(
            f"{where} ({base_url}) needs a token (--token or {TOKEN_ENV}); without one the "
            "demo emulator would run instead, which is not what a base URL asks for"
        )
    given = {
        name: ctx.get_parameter_source(name)
        in (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
        for name in ("rate", "quota")
    }
    client_rate = rate if given["rate"] else quota if given["quota"] else _DEFAULT
    ctx.obj = Settings(
        token=token or None,
        base_url=base_url or None,
        emulator=use_emulator,
        rate=client_rate,
        hook=hook,
        quota=quota if given["quota"] else _DEFAULT,
        demo_chats=emulator_chats,
        demo_messages=emulator_messages,
    )


pass_settings = click.make_pass_decorator(Settings)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


# --------------------------------------------------------------------------- chats


@cli.command()
@click.option("--state", type=click.Choice(["open", "closed"]), help="Only open or closed chats.")
@click.option("--unread", is_flag=True, help="Only chats with unread messages.")
@click.option(
    "--operator", "operator_id", type=ID, metavar="ID", help="Only chats assigned to operator ID."
)
@click.option("--term", help="Search keyword.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show at most N chats (0: all).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one chat object per line.")
@pass_settings
def chats(
    settings: Settings,
    state: str | None,
    unread: bool,
    operator_id: int | None,
    term: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List chats, most recently active first."""
    if unread and operator_id is not None:
        raise click.UsageError("--unread and --operator cannot be combined (one selector a call)")
    if term is not None and not term.strip():
        raise click.BadParameter("must not be empty", param_hint="--term")
    selector = "unread" if unread else "private" if operator_id is not None else None
    from ._output import chats_table

    _print_stream(
        settings,
        lambda client: client.chats.stream(
            term=term, state=state, selector=selector, operator_id=operator_id, limit=limit or None
        ),
        as_json=as_json,
        table=chats_table,
        empty="no chats match",
    )


@cli.command()
@click.argument("chat_id", type=ID)
@click.option("--json", "as_json", is_flag=True, help="The chat as JSON.")
@pass_settings
def chat(settings: Settings, chat_id: int, as_json: bool) -> None:
    """Show one chat."""
    from ._output import chat_details, to_json

    found = settings.run(lambda client: client.chats.get(chat_id))
    if as_json:
        click.echo(to_json(found))
    else:
        _console().print(chat_details(found))


@cli.command()
@click.argument("chat_id", type=ID)
@click.option("--since", type=SinceType(), help="Only messages since TIME (ISO 8601 or 2h, 7d).")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show at most N messages (0: all).",
)
@click.option("--activities", is_flag=True, help="Include system/activity messages.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one message object per line.")
@pass_settings
def messages(
    settings: Settings,
    chat_id: int,
    since: datetime | None,
    limit: int,
    activities: bool,
    as_json: bool,
) -> None:
    """List a chat's messages, newest first."""
    from ._output import messages_table

    _print_stream(
        settings,
        lambda client: client.chats.stream_messages(
            chat_id, since=since, limit=limit or None, activities=activities
        ),
        as_json=as_json,
        table=messages_table,
        empty="no messages",
    )


def _print_stream(
    settings: Settings,
    open_stream: Callable[[SmartSender], PageStream[Any]],
    *,
    as_json: bool,
    table: Callable[[list[Any]], Any],
    empty: str,
) -> None:
    """Walk a stream: JSON Lines as items arrive, or one table at the end."""
    from ._output import to_json

    async def body(client: SmartSender) -> list[Any]:
        found: list[Any] = []
        async with open_stream(client) as stream:
            async for item in stream:
                if as_json:
                    click.echo(to_json(item))
                else:
                    found.append(item)
        return found

    found = settings.run(body)
    if not as_json:
        if found:
            _console().print(table(found))
        else:
            _note(empty)


@cli.command()
@click.argument("chat_id", type=ID)
@pass_settings
def read(settings: Settings, chat_id: int) -> None:
    """Mark every message in a chat as read."""
    settings.run(lambda client: client.chats.read(chat_id))
    click.echo(f"chat {chat_id}: marked as read")


@cli.command()
@click.argument("chat_id", type=ID)
@pass_settings
def close(settings: Settings, chat_id: int) -> None:
    """Close a chat."""
    settings.run(lambda client: client.chats.close(chat_id))
    click.echo(f"chat {chat_id}: closed")


@cli.command()
@click.argument("chat_id", type=ID)
@click.argument("operator_id", type=ID)
@click.option("--text", help="A note for the operator.")
@pass_settings
def assign(settings: Settings, chat_id: int, operator_id: int, text: str | None) -> None:
    """Assign (forward) a chat to an operator."""
    if text is not None and not text.strip():
        raise click.BadParameter("must not be empty", param_hint="--text")
    settings.run(lambda client: client.chats.assign(chat_id, operator_id, text=text))
    click.echo(f"chat {chat_id}: assigned to operator {operator_id}")


_MEDIA: dict[str, type[Picture | File | Video | Audio | Voice | Animation]] = {
    "picture": Picture,
    "file": File,
    "video": Video,
    "audio": Audio,
    "voice": Voice,
    "animation": Animation,
}


def _media_option(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(f"--{name}", metavar="URL", help=f"Send the {name} at URL.")


def _location(value: str) -> tuple[float, float]:
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*", value)
    if not match:
        raise click.BadParameter(
            f"expected LAT,LON such as 50.45,30.52; got {value!r}", param_hint="--location"
        )
    return float(match[1]), float(match[2])


@cli.command()
@click.argument("contact_id", type=ID)
@click.option("--text", help="Send a text message.")
@_media_option("picture")
@_media_option("file")
@_media_option("video")
@_media_option("audio")
@_media_option("voice")
@_media_option("animation")
@click.option("--location", metavar="LAT,LON", help="Send a location (see --title).")
@click.option("--title", default="", help="The title of a --location (required with it).")
@click.option(
    "--contact-card", nargs=2, metavar="NAME PHONE", default=None, help="Send a contact card."
)
@click.option("--json", "as_json", is_flag=True, help="Print the sent message as JSON.")
@pass_settings
def send(
    settings: Settings,
    /,
    contact_id: int,
    text: str | None,
    location: str | None,
    title: str,
    contact_card: tuple[str, str] | None,
    as_json: bool,
    **media: str | None,
) -> None:
    """Send one message to a contact (a chat's contact id is shown by `chats`).

    Give exactly one of --text, --picture, --file, --video, --audio, --voice, --animation,
    --location or --contact-card.  A send is never retried once it may have reached the
    server, so it is never duplicated.
    """
    chosen = [f"--{name}" for name, url in media.items() if url is not None]
    chosen += [
        opt
        for opt, given in (
            ("--text", text is not None),
            ("--location", location is not None),
            ("--contact-card", contact_card is not None),
        )
        if given
    ]
    if len(chosen) != 1:
        what = "none" if not chosen else ", ".join(chosen)
        raise click.UsageError(
            "give exactly one of --text, --picture, --file, --video, --audio, --voice, "
            f"--animation, --location, --contact-card (got {what})"
        )
    if title and location is None:
        raise click.UsageError("--title goes with --location")
    if location is not None and not title.strip():
        raise click.UsageError("--location needs --title (the API requires a title)")
    message: OutgoingMessage
    try:
        if text is not None:
            message = Text(text)
        elif location is not None:
            lat, lon = _location(location)
            message = Location(lat, lon, title=title)
        elif contact_card is not None:
            message = ContactCard(contact_card[0], contact_card[1])
        else:
            name, url = next((n, u) for n, u in media.items() if u is not None)
            assert url is not None
            message = _MEDIA[name](url)
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    sent = settings.run(lambda client: client.contacts.send(contact_id, message))
    if as_json:
        from ._output import to_json

        click.echo(to_json(sent))
    else:
        click.echo(f"sent message {sent.id} to contact {contact_id}")


# --------------------------------------------------------------------------- export


class FiniteFloat(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and ``inf`` (which compare
    false with every bound, so a plain range lets them through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


@cli.command()
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--full",
    is_flag=True,
    help="List every chat again (refreshes chat fields such as unread counts); messages are "
    "still fetched only for chats with new activity.",
)
@click.option(
    "--contacts/--no-contacts",
    default=True,
    show_default=True,
    help="Also write contacts.jsonl (every contact with its tags, funnels and variables): "
    "ceil(contacts / 20) requests every run, since contacts cannot be listed by change.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Chats fetched at the same time.",
)
@click.option(
    "--checkpoint-interval",
    type=FiniteFloat(min=0),
    default=1.0,
    hidden=True,
    help="Seconds between checkpoints (0: after every page).",
)
@click.option(
    "--busy-timeout",
    type=FiniteFloat(min=0),
    default=5.0,
    hidden=True,
    help="Seconds a checkpoint write waits for a database locked by another process.",
)
@pass_settings
def export(
    settings: Settings,
    out_dir: Path,
    full: bool,
    contacts: bool,
    concurrency: int,
    checkpoint_interval: float,
    busy_timeout: float,
) -> None:
    """Export every chat and message into OUT_DIR as JSON Lines.

    OUT_DIR gets chats.jsonl (every chat's full payload), messages.jsonl (every message with
    its chat_id), contacts.jsonl (every contact with its tags, funnels and variables),
    project.json (GET /me) and manifest.json.  Interrupted (Ctrl-C, crash, kill), the same command
    continues where it stopped.  Run again later, it fetches only chats updated since and
    their new messages.
    """
    from ._export import Exporter, ExportOptions, ExportProgress
    from ._progress import ProgressBar, summary
    from ._store import check_directory

    check = check_directory(out_dir)  # before any request: a bad directory costs nothing
    options = ExportOptions(
        concurrency=concurrency,
        full=full,
        contacts=contacts,
        checkpoint_interval=checkpoint_interval,
        rate=settings.request_rate(),
        emulator=settings.uses_emulator,
    )
    progress = ExportProgress(rate=options.rate)
    console = _console(stderr=True)
    from ._progress import lock_note

    async def go() -> Any:
        error: Exception | None = None
        result = None
        async with settings.client(retry=EXPORT_RETRY, observer=progress.observe) as client:
            with ProgressBar(console) as bar:
                bar.live = progress
                progress.on_lock = lambda seconds: bar.note(lock_note(seconds))
                exporter = Exporter(
                    client,
                    check,
                    options,
                    progress=progress,
                    on_update=bar.update,
                    notify=bar.note,
                    busy_timeout=busy_timeout,
                )
                async with anyio.create_task_group() as tg:

                    async def watch_signals() -> None:
                        try:
                            receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
                            with receiver as signals:
                                async for _ in signals:
                                    tg.cancel_scope.cancel()  # the exporter commits and stops
                                    return
                        except (NotImplementedError, RuntimeError, ValueError):
                            return  # no signal handling here (not the main thread, Windows)

                    tg.start_soon(watch_signals)
                    try:
                        result = await exporter.run()
                    except Exception as exc:
                        error = exc
                    finally:
                        tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return result

    try:
        result = anyio.run(go)
    except KeyboardInterrupt:  # before the signal handler was in place
        result = None
    if result is None:  # a signal cancelled the run (had it just completed, report that)
        raise Interrupted(
            "interrupted; everything fetched so far is saved: re-run the same command to resume"
        )
    click.echo(summary(result, progress), err=True)


# --------------------------------------------------------------------------- emulator


@cli.group()
def emulator() -> None:
    """The Smart Sender emulator (for trying things out and for tests)."""


class EpochType(_ParamType):
    """An ISO 8601 date or time (UTC unless it says otherwise), or ``now``."""

    name = "TIME|now"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text.lower() == "now":
            # The user asks for this machine's time as the emulator's start: a setting,
            # not a comparison of two clocks.
            return datetime.now(timezone.utc).replace(microsecond=0)
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            self.fail(
                f"expected 'now' or an ISO 8601 time such as 2026-03-18T12:00:00Z; got {value!r}",
                param,
                ctx,
            )
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        if not 1970 <= parsed.astimezone(timezone.utc).year <= 9000:
            self.fail(f"expected a time between 1970 and 9000; got {value!r}", param, ctx)
        return parsed


def _behaviours_epilog() -> str:
    """The emulator's behaviours and their evidence, from ``testing._choices.CHOICES``."""
    from smartsender_async.testing._choices import CHOICES

    groups = (
        ("Documented or seen facts (from the API reference)", ("documented", "seen")),
        ("Inferred from the evidence", ("inferred",)),
        ("The emulator's own choices (the reference says unknown)", ("choice",)),
    )
    lines: list[str] = []
    for title, kinds in groups:
        entries = [b for b in CHOICES if b.evidence in kinds]
        if not entries:
            continue
        lines.append("\b")
        lines.append(f"{title}:")
        for b in entries:
            option = f" [{b.option}]" if b.option else ""
            lines.append(f"  {b.name} ({b.evidence}): {b.summary}{option}")
        lines.append("")
    return "\n".join(lines).rstrip()


_RATE = FiniteFloat(0, 1)


@emulator.command(epilog=_behaviours_epilog())
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port (0: a free one).")
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True)
@click.option(
    "--chats", "n_chats", type=click.IntRange(min=1), default=DEMO_CHATS, show_default=True
)
@click.option(
    "--messages-per-chat", type=click.IntRange(min=0), default=DEMO_MESSAGES, show_default=True
)
@click.option("--operators", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--token", "serve_token", default="emulator-token", show_default=True)
@click.option(
    "--quota",
    type=RateType(),
    default="180/60",
    show_default=True,
    help="The server's quota R/P per token (a breach locks the token: 423), or 'off'.",
)
@click.option("--retry-after", is_flag=True, help="Send Retry-After with 423 answers.")
@click.option(
    "--epoch",
    type=EpochType(),
    default=None,
    help="The emulator's wall-clock time at start: an ISO 8601 time or 'now' "
    "(default 2026-03-18T12:00:00Z, for reproducible timestamps).",
)
@click.option(
    "--latency-ms", type=FiniteFloat(min=0), default=0.0, help="Added delay per response."
)
@click.option("--jitter-ms", type=FiniteFloat(min=0), default=0.0, help="Up to this much more.")
@click.option(
    "--error-rate", type=_RATE, default=0.0, help="Fraction of requests answered 500/502/503."
)
@click.option(
    "--slow-rate", type=_RATE, default=0.0, help="Fraction answered after --slow-seconds."
)
@click.option(
    "--slow-seconds",
    type=FiniteFloat(min=0, min_open=True),
    default=30.0,
    show_default=True,
)
@click.option(
    "--drop-rate", type=_RATE, default=0.0, help="Fraction of connections dropped mid-answer."
)
@click.option(
    "--churn-per-s", type=FiniteFloat(min=0), default=0.0, help="Inbound messages per second."
)
def serve(
    host: str,
    port: int,
    seed: int,
    n_chats: int,
    messages_per_chat: int,
    operators: int,
    serve_token: str,
    quota: RateLimit | None,
    retry_after: bool,
    epoch: datetime | None,
    latency_ms: float,
    jitter_ms: float,
    error_rate: float,
    slow_rate: float,
    slow_seconds: float,
    drop_rate: float,
    churn_per_s: float,
) -> None:
    """Serve an emulator over HTTP until Ctrl-C; prints its base URL on stdout.

    Which of its behaviours are documented facts and which are its own choices is listed
    below (and in the emulator's docstring).
    """
    if not serve_token.strip():
        raise click.BadParameter("must not be empty", param_hint="--token")
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        raise CommandError(
            "serving needs uvicorn: pip install 'smartsender-async[testing]'"
        ) from None
    from smartsender_async.testing import Faults
    from smartsender_async.testing._asgi import base_url, bind_socket, make_server

    extra: dict[str, Any] = {} if epoch is None else {"epoch": epoch}
    server_emulator = Emulator(
        seed=seed,
        chats=n_chats,
        messages_per_chat=messages_per_chat,
        operators=operators,
        token=serve_token,
        rate_limit=None if quota is None else (quota.requests, quota.period),
        retry_after_header=retry_after,
        faults=Faults(
            latency=latency_ms / 1000,
            jitter=jitter_ms / 1000,
            error_rate=error_rate,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            drop_rate=drop_rate,
        ),
        churn_per_s=churn_per_s,
        **extra,
    )
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    url = base_url(sock)

    def announce() -> None:
        click.echo(url)
        sys.stdout.flush()
        _note(
            f"emulator ready; try: smartsender --base-url {url} --token {serve_token} chats "
            "(Ctrl-C stops it)"
        )

    server = make_server(server_emulator, on_ready=announce)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled, after shutting down cleanly
    finally:
        sock.close()
    _note("emulator stopped")


from . import _contacts  # noqa: E402, F401  (adds the `contacts` and `contact` commands)

# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """The ``smartsender`` console script; returns the exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="smartsender")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 0  # pragma: no cover - click always exits in standalone mode


from smartsender_async.cli import _watch as _watch  # noqa: E402  (registers `smartsender watch`)
