"""The resumable, incremental export of a project's chats and messages.

No click and no terminal output here: :class:`Exporter` takes a client, a checked
directory and options, reports through :class:`ExportProgress`, and raises typed errors.

A run has five phases, each resumable from the checkpoint (see ``_store``):

1. **listing**: ``GET /chats`` page by page (most recently updated first) into the
   checkpoint.  A chat is due for messages when it is new or its ``updatedAt`` differs from
   the one its messages were last fetched at.  An incremental run stops listing at the
   first chat older than the previous run's newest ``updatedAt``: every chat below it is
   unchanged since then.  After a crash the listing continues at the next page; pages only
   shift towards the end when chats move to the head, so nothing below is skipped.
2. **rescan** (only when the listing read more than one page): re-read the head of the
   list until a chat unchanged since the listing began, to catch chats that moved to the
   head while later pages were read (up to three times, like ``chats.stream``).
3. **messages**: each due chat's messages, newest first, ``concurrency`` chats at a time.
   A chat exported before stops at its high-water mark (the newest message already
   exported, by ``createdAt`` plus the ids at that instant), so an incremental run costs
   ``floor((new + h) / 20) + 1`` pages per changed chat (``h``: the messages already
   exported in the mark's second, usually 1: the walk reads on until a message older than
   that second) and nothing for the others (docs/guides/export.md has the whole formula).  A walk's
   position is checkpointed with its pages, so a crash redoes at most the pages after the
   last checkpoint.  Whether a walk saw the whole of its chat's last second is decided by
   the server's own timestamps only (the change engine's
   :func:`~smartsender_async.changes.server_past`, via ``Walk.settled``): a chat whose
   ``updatedAt`` is in the newest second the run has seen is looked at again next run.
4. **contacts** (unless ``contacts=False``): ``GET /contacts`` page by page into the
   checkpoint, each page with the next page number in one transaction.  A contact line is
   the list item as the server sent it; its ``tags``, ``funnels`` and ``variables`` come
   with it when the item carries them (the emulator's items do, and the reference lists
   all three on the Contact object).  Only for an item that lacks one of them is
   ``GET /contacts/{id}`` read, then ``/info`` for variables (flattened there) and
   ``/tags`` or ``/funnels`` pages for what is still missing.  This phase is not
   incremental: contacts carry no ``updatedAt`` and the API has no filter by change, so
   every run that lists contacts reads every contact page (``ceil(contacts / 20)``
   requests, at least 1).
5. **finishing**: ``chats.jsonl`` is rewritten from the checkpoint (only if a chat
   changed), ``contacts.jsonl`` from this run's contacts, ``project.json`` from this
   attempt's ``GET /me`` (no extra request: the project check reads it anyway), and the
   manifest marks the run complete.

What it relies on: message lists are newest first by ``createdAt`` (reference §4), chat
lists newest first by ``updatedAt``, and nothing is deleted while a run is reading
(deletions shift offset pages backwards and can hide an item, as for every stream).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import attrs

from smartsender_async import changes
from smartsender_async._convert import DecodeError, converter, structure
from smartsender_async._version import __version__
from smartsender_async.client import SmartSender
from smartsender_async.errors import NotFoundError, RateLimitedError, ResponseDecodeError
from smartsender_async.models.chats import Chat
from smartsender_async.models.common import Page
from smartsender_async.models.contacts import Contact
from smartsender_async.models.messages import Message
from smartsender_async.resources._base import MAX_LIMITATION
from smartsender_async.retry import RequestEvent

from ._store import (
    BUSY_TIMEOUT,
    CHATS_FILE,
    ChatWork,
    DirectoryCheck,
    ExportDirError,
    ExportStore,
    Identity,
    RunState,
    StoreIO,
    Walk,
    micros,
)

__all__ = ["ExportOptions", "ExportProgress", "ExportResult", "Exporter", "public_url"]

#: How many times the head of the chat list is re-read after the listing, at most.
HEAD_RESCANS = 3
#: Due chats read from the checkpoint at a time (the only per-chat state held in memory).
_FEED_BATCH = 256
_TOOL = f"smartsender-async {__version__}"


def public_url(url: str) -> str:
    """``url`` without credentials, query or fragment: safe to write into a manifest."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _chat_json(chat: Chat) -> str:
    return json.dumps(converter.unstructure(chat), ensure_ascii=False, separators=(",", ":"))


def _message_line(chat_id: int, message: Message) -> bytes:
    return _encode({"chat_id": chat_id, **converter.unstructure(message)})


#: What a contact line always carries, fetched when the list item lacks it.
_CONTACT_PARTS = ("tags", "funnels", "variables")


def _decode(data: Any, model: Any, what: str) -> Any:
    """``data`` as ``model``, or a typed error carrying the body (never a bare one)."""
    try:
        if not isinstance(data, dict) or not isinstance(data.get("collection"), list):
            raise DecodeError("collection", "expected an object with a list here")
        if not all(isinstance(item, dict) for item in data["collection"]):
            raise DecodeError("collection", "expected objects")
        return structure(data, model)
    except DecodeError as exc:
        raise ResponseDecodeError(
            f"unexpected response shape for {what}: {exc}",
            status_code=200,
            raw_body=json.dumps(data, ensure_ascii=False, default=str)[:2000],
        ) from None


@attrs.define
class ExportOptions:
    """How to run an export.

    Attributes:
        concurrency: chats whose messages are fetched at the same time.
        full: list every chat even when an earlier run allows an incremental listing
            (refreshes chat payloads whose ``updatedAt`` did not change, such as unread
            counts); messages are still fetched only for chats with new activity.
        checkpoint_interval: seconds between checkpoints while fetching messages (0: after
            every page).  A crash redoes at most this much work.
        rate: the requests per second the client's rate limiter allows, for the ETA.
        emulator: recorded in the manifest.
        contacts: list the contacts into ``contacts.jsonl`` (``ceil(contacts / 20)``
            requests per run, more only for list items without tags, funnels or
            variables).  A resumed run keeps the choice it began with.
    """

    concurrency: int = 4
    full: bool = False
    contacts: bool = True
    checkpoint_interval: float = 1.0
    rate: float | None = None
    emulator: bool = False


#: Statuses whose retry is a token-wide rate lock.
_LOCK_REASONS = ("HTTP 423", "HTTP 429")


@attrs.define
class ExportProgress:
    """Live counters of an export, for a progress display.

    ``observe`` is meant as the client's ``observer``: it counts HTTP attempts and notices
    rate locks (HTTP 423): :meth:`lock_remaining` then counts the lock down, each lock is
    appended to ``lock_events`` (the exporter records them in the manifest), and
    ``on_lock`` is called with the lock's seconds.  ``clock`` measures durations on this
    machine (a countdown only; it is never compared with the server's clock).
    """

    rate: float | None = None
    clock: Callable[[], float] = time.monotonic
    on_lock: Callable[[float], None] | None = None
    locked_until: float | None = None
    lock_events: list[dict[str, Any]] = attrs.Factory(list)
    phase: str = "starting"
    mode: str = ""
    resumed: bool = False
    started: float = attrs.Factory(time.monotonic)
    requests: int = 0
    listing_pages_read: int = 0
    listing_pages_total: int | None = None
    chats_due: int = 0  # chats known to need messages (grows during the listing)
    chats_walked: int = 0
    messages: int = 0
    contacts: int = 0
    walk_pages_finished: int = 0
    walks_finished: int = 0

    def observe(self, event: RequestEvent) -> None:
        """The client's observer: count attempts, notice locks."""
        if event.kind == "attempt":
            self.requests += 1
        elif event.kind == "retry" and event.reason in _LOCK_REASONS:
            now = self.clock()
            until = now + event.wait
            if self.locked_until is not None and now < self.locked_until:
                # Another task hit the same lock: one event, the later end.
                self.locked_until = max(self.locked_until, until)
                return
            self.locked_until = until
            self.lock_events.append(
                {
                    "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "status": int(event.reason.split()[1]) if event.reason else 423,
                    "seconds": round(event.wait, 3),
                    "request": f"{event.method} {event.path}",
                    "waited": True,
                }
            )
            if self.on_lock is not None:
                self.on_lock(event.wait)

    def lock_remaining(self, now: float | None = None) -> float | None:
        """Seconds left of the current rate lock, or ``None`` when not locked."""
        if self.locked_until is None:
            return None
        left = self.locked_until - (self.clock() if now is None else now)
        return left if left > 0 else None

    def requests_per_second(self, now: float | None = None) -> float:
        elapsed = (time.monotonic() if now is None else now) - self.started
        return self.requests / elapsed if elapsed > 0 else 0.0

    def remaining_requests(self) -> float:
        """An estimate of the requests still to send.

        Listing: the pages left (a full listing knows them from ``cursor.pages``; an
        incremental one usually ends on its next page), plus one rescan page when the
        listing spans several pages.  Messages: the due chats not yet walked, times the
        average pages per walk so far (1 before the first walk ends; a full export's
        chats are assumed due, 20 per listing page left).
        """
        left_walks = max(self.chats_due - self.chats_walked, 0)
        remaining = 0.0
        if self.phase in ("starting", "listing"):
            if self.mode == "full" and self.listing_pages_total is not None:
                left = max(self.listing_pages_total - self.listing_pages_read, 0)
                left_walks += left * MAX_LIMITATION
            else:
                left = 1
            remaining += left + (1 if self.listing_pages_read + left > 1 else 0)
        elif self.phase == "rescan":
            remaining += 1
        per_walk = self.walk_pages_finished / self.walks_finished if self.walks_finished else 1.0
        return remaining + left_walks * per_walk

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left: remaining requests over the rate limit, or over the observed rate
        when that is lower (latency-bound) or there is no limit."""
        now = time.monotonic() if now is None else now
        rates = [self.rate] if self.rate else []
        if now - self.started >= 0.5 and self.requests >= 10:
            rates.append(self.requests_per_second(now))
        if not rates:
            return None
        return self.remaining_requests() / min(rates)


@attrs.frozen
class ExportResult:
    """What a finished run did."""

    directory: Path
    run: RunState
    resumed: bool
    chats: int  # lines in chats.jsonl
    messages: int  # lines in messages.jsonl
    contacts: int | None = None  # lines in contacts.jsonl (None: never written)


class _Feeder:
    """Hands due chats to the workers in listing order, reading the checkpoint in batches."""

    def __init__(self, store: ExportStore) -> None:
        self._store = store
        self._after = 0
        self._buffer: deque[ChatWork] = deque()
        self._exhausted = False

    def next(self) -> ChatWork | None:
        if not self._buffer and not self._exhausted:
            batch = self._store.pending_chats(self._after, _FEED_BATCH)
            if batch:
                self._buffer.extend(batch)
                self._after = batch[-1].seq
            else:
                self._exhausted = True
        return self._buffer.popleft() if self._buffer else None


class Exporter:
    """Export (or continue exporting) one project into one directory.

    Args:
        client: an open :class:`SmartSender`.
        check: the directory as :func:`~._store.check_directory` found it.
        options: :class:`ExportOptions`.
        progress: counters to update (give ``progress.observe`` to the client as its
            observer to count requests).
        on_update: called after every page, e.g. to redraw a progress bar.
        notify: called with a line of text worth telling the user (a resumed run).
        io: the door for every write (tests pass one that fails on purpose).
        busy_timeout: seconds a checkpoint write waits for a database locked elsewhere.

    :meth:`run` may be cancelled at any await (Ctrl-C): it then commits what it has
    staged, which is always consistent, and re-raises.  A storage error stops it at once,
    with nothing more written (:class:`~._store.ExportStorageError`).
    """

    def __init__(
        self,
        client: SmartSender,
        check: DirectoryCheck,
        options: ExportOptions | None = None,
        *,
        progress: ExportProgress | None = None,
        on_update: Callable[[ExportProgress], None] | None = None,
        notify: Callable[[str], None] | None = None,
        io: StoreIO | None = None,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.client = client
        self._notify = notify
        self.check = check
        self.options = options if options is not None else ExportOptions()
        self.progress = progress if progress is not None else ExportProgress()
        self._on_update = on_update
        self._io = io
        self._busy_timeout = busy_timeout
        self._store: ExportStore | None = None
        self._last_commit = 0.0
        self._error: Exception | None = None
        self._locks_recorded = 0
        #: The newest timestamp the server wrote, among the responses received so far.
        self._server_time: int | None = None
        #: This attempt's ``GET /me`` answer, for project.json (None: the server has none).
        self._project: dict[str, Any] | None = None

    @property
    def store(self) -> ExportStore:
        assert self._store is not None
        return self._store

    @property
    def run_state(self) -> RunState:
        run = self.store.run
        assert run is not None
        return run

    def _update(self) -> None:
        run = self.run_state
        store = self.store
        if run.requests_from is not None:
            run.requests = max(store.ledger_size - run.requests_from, 0)
        events = self.progress.lock_events
        if len(events) > self._locks_recorded:
            run.locks.extend(events[self._locks_recorded :])
            self._locks_recorded = len(events)
        if self._on_update is not None:
            self._on_update(self.progress)

    async def identity(self) -> Identity:
        """The project behind the client's token: ``GET /me`` (id and name) and the URL.

        A server without ``/me`` (404) leaves the project id and name unknown; the base
        URL alone then identifies the project.
        """
        try:
            me = await self.client.request("GET", "/me")
        except NotFoundError:
            me = None
        if not isinstance(me, dict):
            me = {}
        self._project = me or None
        name = me.get("name")
        return Identity(
            public_url(self.client.base_url),
            me.get("id"),
            name if isinstance(name, str) else None,
        )

    async def run(self) -> ExportResult:
        """Run the export to completion (or continue the interrupted run).

        Raises:
            ExportDirError: the directory belongs to another project or cannot be used.
            ExportBusyError: another export is writing into it.
            ExportStateError: its files disagree with its checkpoint.
            ExportStorageError: a write failed; a re-run continues from the last commit.
            SmartSenderError: the API failed.
        """
        store = self._store = ExportStore(
            self.check.path,
            emulator=self.options.emulator,
            io=self._io,
            busy_timeout=self._busy_timeout,
        )
        http = self.client._http

        async def count(request: Any) -> None:
            store.count_request()

        try:
            # The lock and the request ledger come first: every request is counted,
            # durably, before it is sent, GET /me included.
            store.acquire()
            hooks = http.event_hooks
            hooks.setdefault("request", []).append(count)
            http.event_hooks = hooks
            before = store.ledger_size
            try:
                identity = await self.identity()
                found = self.check.identity
                if found is not None and not found.same_project(identity):
                    raise ExportDirError(
                        f"{str(self.check.path)!r} holds an export of {found.describe()}, "
                        f"not of {identity.describe()}; use another directory"
                    )
                store.open(identity)
            except BaseException:
                # Refused before a run began (bad token, another project's export, files
                # that disagree): leave the directory exactly as it was.
                store.forget_requests(before)
                raise
            return await self._run()
        finally:
            hooks = http.event_hooks
            with contextlib.suppress(KeyError, ValueError):
                hooks["request"].remove(count)
            http.event_hooks = hooks
            store.close()

    async def _run(self) -> ExportResult:
        store = self.store
        progress = self.progress
        run = store.run
        resumed = run is not None and run.phase != "complete"
        if run is None or run.phase == "complete":
            run = store.begin_run(full=self.options.full, contacts=self.options.contacts)
        else:
            run.attempts += 1
            store.save_run()
        progress.mode = run.mode
        progress.resumed = resumed
        progress.phase = run.phase
        progress.listing_pages_read = run.listing_page - 1
        progress.listing_pages_total = run.listing_pages
        progress.chats_due = run.chats_walked + store.count_pending()
        progress.chats_walked = run.chats_walked
        store.write_manifest(_TOOL)
        if self._notify is not None:
            if resumed:
                self._notify(
                    f"resuming the interrupted run {run.run} ({run.mode}, {run.phase}; "
                    f"{run.messages:,} messages already written)"
                )
            elif run.mode == "incremental":
                self._notify(
                    f"incremental run {run.run}: only chats updated since the previous run"
                )
        try:
            await self._listing()
            await self._rescan()
            await self._messages()
            await self._contacts()
            self._finish()
        except BaseException as exc:
            if isinstance(exc, RateLimitedError):
                # A lock longer than the export waits: recorded too, as not waited out.
                self.progress.lock_events.append(
                    {
                        "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "status": exc.status_code,
                        "seconds": exc.retry_after,
                        "request": None,
                        "waited": False,
                    }
                )
            self._checkpoint_on_exit()
            raise
        chats = store.chats_file_lines() or 0
        contacts = store.contacts_file()
        return ExportResult(
            self.check.path,
            run,
            resumed,
            chats,
            store.committed_lines,
            int(contacts["lines"]) if contacts is not None else None,
        )

    def _checkpoint_on_exit(self) -> None:
        """Commit what is staged (it is consistent: staging never awaits) and record the
        run as incomplete in the manifest; failures here must not hide the real error.
        After a storage error nothing is written at all."""
        if self.store.broken:
            return
        try:
            self._update()
            self.store.commit()
        except Exception:
            return
        try:
            self.store.write_manifest(_TOOL)
        except Exception:
            return

    # ------------------------------------------------------------------ phase 1: listing

    def _listed(self, chat: Chat, rows: list[tuple[int, int | None, str]]) -> None:
        at = micros(chat.updated_at)
        run = self.run_state
        if at is not None and (run.head_at is None or at > run.head_at):
            run.head_at = at
        self._saw_server_time(at)
        rows.append((chat.id, at, _chat_json(chat)))

    def _saw_server_time(self, at: int | None) -> None:
        if at is not None and (self._server_time is None or at > self._server_time):
            self._server_time = at

    async def _listing(self) -> None:
        run = self.run_state
        progress = self.progress
        while run.phase == "listing":
            progress.phase = "listing"
            page = await self.client.chats.list(run.listing_page, MAX_LIMITATION)
            rows: list[tuple[int, int | None, str]] = []
            older = False
            for chat in page:
                at = micros(chat.updated_at)
                if run.prev_mark is not None and at is not None and at < run.prev_mark:
                    older = True  # every chat from here on is unchanged since the last run
                    break
                self._listed(chat, rows)
            run.listing_page += 1
            run.listing_pages = page.cursor.pages
            run.chats_listed += len(rows)
            if older or not page.items or page.cursor.page >= page.cursor.pages:
                run.phase = "rescan" if run.listing_page > 2 else "messages"
            self._update()
            moved = self.store.record_chats(rows)
            progress.listing_pages_read = run.listing_page - 1
            progress.listing_pages_total = page.cursor.pages
            progress.chats_due += moved
            self._update()

    async def _rescan(self) -> None:
        run = self.run_state
        while run.phase == "rescan":
            self.progress.phase = "rescan"
            mark = run.head_at
            moved = 0
            number = 1
            while True:
                page = await self.client.chats.list(number, MAX_LIMITATION)
                rows: list[tuple[int, int | None, str]] = []
                reached = False
                for chat in page:
                    at = micros(chat.updated_at)
                    if (
                        mark is not None
                        and at is not None
                        and (at < mark or (at == mark and self.store.is_current(chat.id, at)))
                    ):
                        reached = True  # unchanged since the listing began: the rest is too
                        break
                    self._listed(chat, rows)
                moved_here = self.store.record_chats(rows)
                moved += moved_here
                self.progress.chats_due += moved_here
                number += 1
                if reached or not page.items or page.cursor.page >= page.cursor.pages:
                    break
            run.rescans += 1
            if moved == 0 or run.rescans >= HEAD_RESCANS:
                run.phase = "messages"
            self._update()
            self.store.save_run()

    # ------------------------------------------------------------------ phase 2: messages

    async def _messages(self) -> None:
        run = self.run_state
        if run.phase != "messages":
            return
        store = self.store
        progress = self.progress
        progress.phase = "messages"
        progress.chats_due = run.chats_walked + store.count_pending()
        self._update()
        feeder = _Feeder(store)
        self._saw_server_time(run.head_at)
        self._last_commit = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(max(1, self.options.concurrency)):
                tg.start_soon(self._worker, feeder, tg.cancel_scope)
        if self._error is not None:
            raise self._error
        run.phase = "contacts" if run.contacts else "finishing"
        self._update()
        store.commit()

    # ------------------------------------------------------------------ phase 3: contacts

    async def _contacts(self) -> None:
        run = self.run_state
        progress = self.progress
        while run.phase == "contacts":
            progress.phase = "contacts"
            number = run.contacts_page
            data = await self.client.request(
                "GET",
                "/contacts",
                params={"page": number, "limitation": MAX_LIMITATION},
                operation="contacts.list",
                template="/contacts",
            )
            page = _decode(data, Page[Contact], "GET /contacts")
            items = data["collection"]
            rows: list[tuple[int, str]] = []
            for contact, item in zip(page.items, items, strict=True):
                line = await self._contact_line(contact.id, item)
                rows.append(
                    (contact.id, json.dumps(line, ensure_ascii=False, separators=(",", ":")))
                )
            run.contacts_page += 1
            if not page.items or page.cursor.page >= page.cursor.pages:
                run.phase = "finishing"
            self._update()
            progress.contacts += self.store.record_contacts(rows)
            self._update()

    async def _contact_line(self, contact_id: int, item: dict[str, Any]) -> dict[str, Any]:
        """The list item, with ``tags``, ``funnels`` and ``variables`` fetched only when
        the item lacks them (see the module docstring)."""
        line = dict(item)
        missing = [key for key in _CONTACT_PARTS if not isinstance(line.get(key), list)]
        if not missing:
            return line
        client = self.client
        try:
            full = await client.request(
                "GET",
                f"/contacts/{contact_id}",
                operation="contacts.get",
                template="/contacts/{contactId}",
            )
        except NotFoundError:
            return line  # gone since it was listed: the list item is all there is
        if isinstance(full, dict):
            for key in missing:
                if isinstance(full.get(key), list):
                    line[key] = full[key]
        if not isinstance(line.get("variables"), list):
            info = await client.contacts.info(contact_id)
            known = set(full) if isinstance(full, dict) else set(line)
            line["variables"] = [{"name": k, "value": v} for k, v in info.items() if k not in known]
        if not isinstance(line.get("tags"), list):
            line["tags"] = [
                converter.unstructure(tag) async for tag in client.contacts.stream_tags(contact_id)
            ]
        if not isinstance(line.get("funnels"), list):
            line["funnels"] = [
                converter.unstructure(funnel)
                async for funnel in client.contacts.stream_funnels(contact_id)
            ]
        return line

    async def _worker(self, feeder: _Feeder, scope: anyio.CancelScope) -> None:
        # Errors are passed on by hand rather than as an ExceptionGroup: the first one
        # stops every worker and is raised as is by _messages.
        try:
            while (work := feeder.next()) is not None:
                await self._walk(work)
        except Exception as exc:
            if self._error is None:
                self._error = exc
            scope.cancel()

    async def _walk(self, work: ChatWork) -> None:
        walk = work.walk if work.walk is not None else Walk()
        since_at = work.hw_at
        since_ids = frozenset(work.hw_ids)
        run = self.run_state
        progress = self.progress
        pages = 0
        while True:
            if walk.page == 1 and walk.server_time is None:
                # The clock rule's evidence: what the server had stamped before page 1
                # was requested (see Walk.settled), never this machine's clock.
                walk.server_time = self._server_time
            try:
                page = await self.client.chats.messages(
                    work.id, walk.page, MAX_LIMITATION, activities=True
                )
            except NotFoundError:
                # Deleted since it was listed: there is nothing more to fetch, and failing
                # here would fail every resume too.  Its last payload stays in chats.jsonl.
                page = None
            pages += 1
            if page is None:
                self.store.stage_page(work, [], walk, True)
                run.chats_walked += 1
                progress.chats_walked += 1
                self._update()
                return
            lines: list[bytes] = []
            reached = False
            for message in page:
                at = micros(message.created_at)
                self._saw_server_time(at)
                # The change engine's rules (smartsender_async.changes), as the watch's.
                if changes.is_below(at, since_at):
                    reached = True  # older than everything new: exported before
                    break
                if not changes.is_new(at, message.id, since_at, since_ids):
                    continue  # in the mark's second and exported before
                if walk.seen(message.id, at):
                    continue  # pushed down from the previous page by a new message
                walk.record(message.id, at)
                lines.append(_message_line(work.id, message))
            walk.page += 1
            done = reached or not page.items or page.cursor.page >= page.cursor.pages
            self.store.stage_page(work, lines, walk, done)
            run.messages += len(lines)
            progress.messages += len(lines)
            if done:
                run.chats_walked += 1
                progress.chats_walked += 1
                progress.walks_finished += 1
                progress.walk_pages_finished += pages
            self._update()
            now = time.monotonic()
            if now - self._last_commit >= self.options.checkpoint_interval:
                self.store.commit()
                self._last_commit = now
            if done:
                return

    # ------------------------------------------------------------------ phase 4: finishing

    def _finish(self) -> None:
        run = self.run_state
        if run.phase != "finishing":
            return
        store = self.store
        self.progress.phase = "finishing"
        if (
            run.chats_changed
            or store.chats_file_lines() is None
            or not (store.directory / CHATS_FILE).exists()
        ):
            store.write_chats_file()
        if run.contacts and run.contacts_page > 1:
            store.write_contacts_file()
        if self._project is not None:
            store.write_project_file(self._project)
        run.phase = "complete"
        run.finished_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.progress.phase = "complete"
        self._update()
        store.save_run()
        store.write_manifest(_TOOL)
