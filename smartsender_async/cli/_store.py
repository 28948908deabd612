"""The export directory on disk: two JSON Lines files, a manifest and a sqlite checkpoint.

Layout of ``OUT_DIR``::

    chats.jsonl           one line per chat, its latest payload (rewritten at the end of a run)
    messages.jsonl        one line per message with its "chat_id" (append-only)
    contacts.jsonl        one line per contact, with its tags, funnels and variables
                          (rewritten at the end of a run that lists contacts)
    project.json          the project as ``GET /me`` describes it (rewritten every run)
    manifest.json         what this directory holds: format, project, counts, run history
    export-state.sqlite   the checkpoint: per-chat state and committed file offsets
    .export.lock          held (flock) while an export runs
    .export.requests      one byte per request sent, written before the request leaves

Nothing else may be in the directory: a file of yours there makes the export refuse it.

The invariant (crash consistency by construction).  The checkpoint never records more than
is durable: a page's lines are appended to ``messages.jsonl`` and fsynced, and only then
does one sqlite transaction record the file's new length together with the walk positions
and run state those lines belong to; a listing page's chats and the listing position that
follows them are one transaction too, and so are a contact page's contacts and the
contact listing position after them.  Every write (sqlite statement, file write, fsync,
rename, truncate) goes through :class:`StoreIO`, and the first one that fails marks the
store broken: every later write raises :class:`ExportStorageError` at once, so nothing is
committed after a failure and no state advances past a page whose items are not durable.
A run stops on the first storage error; on the next open ``messages.jsonl`` is cut back to
the committed length, so a plain re-run continues from the last commit and writes each
chat and message exactly once.

Why sqlite for the checkpoint.  Per-chat state (where its message walk stands, the newest
message already exported) is needed for 100,000 chats and more.  A JSON checkpoint would be
rewritten whole on every commit; sqlite updates only the touched rows, keeps them on disk
(flat memory) and commits atomically, so one transaction can cover "these chats advanced"
and "messages.jsonl is now this many bytes long" together.

``chats.jsonl``, ``contacts.jsonl``, ``project.json`` and ``manifest.json`` are written
whole to a temporary file in the same directory (``<name>.tmp``), fsynced, and moved over
the old one (``os.replace``), so a reader sees the old version or the new one, never a
mixture; a failed write removes its temporary file.

Requests are counted in ``.export.requests`` before they are sent (one byte each, fsynced),
so the manifest's ``runs[].requests`` is exact after any crash: the bytes beyond the
previous run's end belong to the current run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from smartsender_async import changes

__all__ = [
    "BUSY_TIMEOUT",
    "CHATS_FILE",
    "CONTACTS_FILE",
    "FORMAT",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "MESSAGES_FILE",
    "PROJECT_FILE",
    "REQUESTS_FILE",
    "STATE_FILE",
    "ChatWork",
    "ExportBusyError",
    "ExportDirError",
    "ExportStateError",
    "ExportStorageError",
    "ExportStore",
    "Identity",
    "RunState",
    "StoreIO",
    "Walk",
    "check_directory",
    "micros",
]

FORMAT = "smartsender-export/1"
CHATS_FILE = "chats.jsonl"
MESSAGES_FILE = "messages.jsonl"
CONTACTS_FILE = "contacts.jsonl"
PROJECT_FILE = "project.json"
MANIFEST_FILE = "manifest.json"
STATE_FILE = "export-state.sqlite"
LOCK_FILE = ".export.lock"
REQUESTS_FILE = ".export.requests"
#: Every name an export directory may hold: ours and sqlite's companions, exactly.
OWN_FILES = frozenset(
    {
        CHATS_FILE,
        MESSAGES_FILE,
        CONTACTS_FILE,
        PROJECT_FILE,
        MANIFEST_FILE,
        STATE_FILE,
        LOCK_FILE,
        REQUESTS_FILE,
        f"{STATE_FILE}-wal",
        f"{STATE_FILE}-shm",
        f"{STATE_FILE}-journal",
        f"{CHATS_FILE}.tmp",
        f"{MANIFEST_FILE}.tmp",
        f"{CONTACTS_FILE}.tmp",
        f"{PROJECT_FILE}.tmp",
    }
)
_PROBE_PREFIX = ".smartsender-probe-"
#: What a directory holds after an export started but before it created its checkpoint.
_BEFORE_CHECKPOINT = frozenset({LOCK_FILE, REQUESTS_FILE})
#: Seconds a checkpoint write waits for a sqlite database locked by another process
#: before the run stops (exit code 1; a re-run continues).
BUSY_TIMEOUT = 5.0

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_SECOND = 1_000_000


def micros(value: datetime | None) -> int | None:
    """A timestamp as integer microseconds since 1970 (exact, unlike float seconds)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _MICRO


def _second(value: int | None) -> int | None:
    """Microseconds as the whole second they fall in (``None`` stays)."""
    return None if value is None else value // _SECOND


def _utc_now() -> str:
    # A record for people (when a run started); never used to decide anything.
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ExportDirError(Exception):
    """The directory cannot be used for this export (a usage problem: exit code 2)."""


class ExportStateError(Exception):
    """The directory's files disagree with its checkpoint (it was modified by hand)."""


class ExportBusyError(Exception):
    """Another export is writing into the same directory right now."""


class ExportStorageError(Exception):
    """A write to the export directory failed (disk full, database locked, I/O error).

    The run stops at once; what is committed is consistent, and a plain re-run continues
    from it.  ``path`` is the file that could not be written.
    """

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class StoreIO:
    """The one door every write of an export goes through.

    Subclass it to inject failures (the fault-injection tests make the N-th call raise);
    each method is one write: a sqlite statement, a file write, an fsync, a rename or a
    truncation.
    """

    def sql(self, db: sqlite3.Connection, statement: str, params: Sequence[Any] = ()) -> None:
        """Run one writing sqlite statement (``BEGIN``/``COMMIT`` included)."""
        db.execute(statement, params)

    def write(self, fd: int, data: bytes) -> None:
        """Write all of ``data`` to the file descriptor ``fd``."""
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def fsync(self, fd: int) -> None:
        """Make ``fd``'s writes durable."""
        os.fsync(fd)

    def replace(self, source: Path, target: Path) -> None:
        """Rename ``source`` over ``target`` (atomic on POSIX)."""
        os.replace(source, target)

    def truncate(self, path: Path, size: int) -> None:
        """Cut ``path`` back to ``size`` bytes."""
        os.truncate(path, size)


_USAGE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR)


def _open_error(path: Path, exc: OSError) -> Exception:
    """A directory we may not write is a usage problem (exit 2); a full disk or an I/O
    error is a storage failure (exit 1)."""
    if exc.errno in _USAGE_ERRNOS:
        return ExportDirError(f"cannot write to {str(path)!r}: {exc.strerror or exc}")
    return ExportStorageError(f"cannot write {str(path)!r}: {_reason(exc)}", path)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return (
            f"the database is locked by another process (waited {BUSY_TIMEOUT:g} s); close "
            "whatever holds it open (a backup tool, a sqlite3 shell)"
        )
    return text or type(exc).__name__


@attrs.frozen
class Identity:
    """Which project an export belongs to.

    ``project_id`` and ``project_name`` come from ``GET /me``; ``base_url`` is the API root
    without credentials.  The token is never part of it: the same project reached with a
    rotated token is the same project.
    """

    base_url: str
    project_id: Any = None
    project_name: str | None = None

    def same_project(self, other: Identity) -> bool:
        """Same base URL and the same project id (or, without ids, the same name)."""
        if self.base_url != other.base_url:
            return False
        if self.project_id is not None and other.project_id is not None:
            return bool(self.project_id == other.project_id)
        return self.project_name == other.project_name

    def describe(self) -> str:
        """``project 'Shop' (id 501) at https://...``."""
        name = self.project_name or "?"
        ident = f" (id {self.project_id})" if self.project_id is not None else ""
        return f"project {name!r}{ident} at {self.base_url}"

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``project`` entry."""
        return {"base_url": self.base_url, "id": self.project_id, "name": self.project_name}

    @classmethod
    def from_json(cls, data: Any) -> Identity:
        """Read a manifest's ``project`` entry."""
        if not isinstance(data, dict) or not isinstance(data.get("base_url"), str):
            raise ExportStateError("manifest.json has no valid 'project' entry")
        name = data.get("name")
        return cls(data["base_url"], data.get("id"), name if isinstance(name, str) else None)


@attrs.frozen
class DirectoryCheck:
    """What :func:`check_directory` found: whether it exists and the export it holds."""

    path: Path
    exists: bool
    identity: Identity | None  # None: empty or new directory


def _is_own(name: str) -> bool:
    return name in OWN_FILES or name.startswith(_PROBE_PREFIX)


def check_directory(path: Path) -> DirectoryCheck:
    """Decide, without changing anything, whether ``path`` can receive an export.

    Accepted: a directory that does not exist yet (its parent must), an empty directory,
    or a directory holding an export (``manifest.json``) and nothing else.  Anything else
    raises :class:`ExportDirError` with the reason: a missing parent, a file, a directory
    that cannot be written, a file that is not the export's own (yours are never touched),
    an export in an unknown format.
    """
    path = path.expanduser()
    if not path.exists():
        parent = path.absolute().parent
        if not parent.is_dir():
            raise ExportDirError(
                f"cannot create {str(path)!r}: its parent directory {str(parent)!r} does not "
                "exist (create it first)"
            )
        _probe(parent, f"cannot create {str(path)!r}")
        return DirectoryCheck(path, False, None)
    if not path.is_dir():
        raise ExportDirError(f"{str(path)!r} exists and is not a directory")
    _probe(path, f"cannot write to {str(path)!r}")
    try:
        names = sorted(entry.name for entry in path.iterdir())
    except OSError as exc:
        raise ExportDirError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    foreign = [name for name in names if not _is_own(name)]
    if foreign:
        shown = ", ".join(repr(name) for name in foreign[:3])
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        kind = "holds an export and" if MANIFEST_FILE in names else "is not empty:"
        raise ExportDirError(
            f"{str(path)!r} {kind} files that are not the export's own ({shown}{more}); "
            "choose an empty or new directory, or move them away"
        )
    for name in names:
        entry = path / name
        if entry.is_file() and not os.access(entry, os.R_OK | os.W_OK):
            raise ExportDirError(f"cannot write to {str(entry)!r}: permission denied")
        if not entry.is_file() and not name.startswith(_PROBE_PREFIX):
            raise ExportDirError(f"{str(entry)!r} is not a regular file")
    manifest = path / MANIFEST_FILE
    if manifest.exists():
        try:
            data = json.loads(manifest.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ExportDirError(f"{str(manifest)!r} is unreadable: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise ExportDirError(
                f"{str(path)!r} holds an export in an unknown format ({found!r}; this version "
                f"writes {FORMAT!r})"
            )
        try:
            identity = Identity.from_json(data.get("project"))
        except ExportStateError as exc:
            raise ExportDirError(f"{str(path)!r}: {exc}") from None
        return DirectoryCheck(path, True, identity)
    if not (path / STATE_FILE).exists():
        # No checkpoint: only what an export creates before its checkpoint (the lock and
        # the request ledger) can be ours.  A file with one of our other names
        # (project.json is a common one) is the user's, and would be overwritten.
        theirs = [name for name in names if name not in _BEFORE_CHECKPOINT and _is_own(name)]
        theirs = [name for name in theirs if not name.startswith(_PROBE_PREFIX)]
        if theirs:
            shown = ", ".join(repr(name) for name in theirs[:3])
            raise ExportDirError(
                f"{str(path)!r} holds {shown} but no {MANIFEST_FILE} or checkpoint "
                f"({STATE_FILE}), so not an export's; choose an empty or new directory, "
                "or move them away"
            )
    return DirectoryCheck(path, True, None)


def _probe(directory: Path, problem: str) -> None:
    """Create and delete a file in ``directory``: the only sure test of writability
    (``os.access`` answers yes to root on a read-only mount)."""
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=_PROBE_PREFIX):
            pass
    except OSError as exc:
        raise ExportDirError(f"{problem}: {exc.strerror or exc}") from None


@attrs.define
class RunState:
    """Where the current run stands; committed with every checkpoint.

    ``phase`` goes ``listing`` → ``rescan`` (only if the listing read more than one page)
    → ``messages`` → ``contacts`` → ``finishing`` → ``complete``.  ``contacts`` says
    whether this run lists the contacts (chosen when the run begins; a resume keeps it),
    ``contacts_page`` is the next contact page to read and ``contacts_listed`` the
    contacts stored so far.  ``head_at`` is the newest chat
    ``updatedAt`` this run has seen (microseconds); the next incremental run lists chats
    only down to it (``prev_mark``).  ``requests`` counts every request sent for this
    run, all attempts (crashed ones included), from ``.export.requests``; ``locks`` lists
    the rate locks (HTTP 423) the run waited out.
    """

    run: int
    mode: str  # "full" or "incremental"
    started_at: str
    prev_mark: int | None = None
    phase: str = "listing"
    listing_page: int = 1
    listing_pages: int | None = None
    head_at: int | None = None
    rescans: int = 0
    chats_listed: int = 0
    chats_changed: int = 0
    chats_walked: int = 0
    messages: int = 0
    contacts: bool = True
    contacts_page: int = 1
    contacts_listed: int = 0
    requests: int = 0
    attempts: int = 1
    finished_at: str | None = None
    requests_from: int | None = None  # .export.requests size when the run began
    locks: list[dict[str, Any]] = attrs.Factory(list)

    def to_json(self) -> dict[str, Any]:
        """The run as stored in the checkpoint and listed in the manifest."""
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        """Read a stored run (unknown keys are ignored)."""
        names = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@attrs.define
class Walk:
    """A chat's message walk in progress (newest first), resumable after a crash.

    ``page`` is the next page to fetch.  ``top_*`` is the newest message written in this
    walk (it becomes the chat's high-water mark when the walk ends), ``low_*`` the oldest:
    a message at or above ``low_at`` that was already written is a repeat caused by new
    messages pushing the list down, and is skipped.  Times are microseconds; the id lists
    hold the messages written at exactly that time.  ``server_time`` is the newest
    timestamp the server had written before page 1 was requested (see :meth:`settled`).

    The decisions are the change engine's (:mod:`smartsender_async.changes`), the same
    functions the watch uses: the top mark moves by :func:`~smartsender_async.changes.raise_mark`
    and settling is :func:`~smartsender_async.changes.server_past`.  What is the walk's
    own is that it is persisted page by page, so the low mark (the "pushed down a page"
    check) lives here rather than in memory.
    """

    page: int = 1
    top_at: int | None = None
    top_ids: list[int] = attrs.Factory(list)
    low_at: int | None = None
    low_ids: list[int] = attrs.Factory(list)
    written: int = 0
    server_time: int | None = None

    def settled(self, updated_at: int | None) -> bool:
        """Whether page 1 was read after the second of ``updated_at`` had surely ended,
        by the server's own timestamps: the engine's settled rule
        (:func:`smartsender_async.changes.server_past`), on the seconds of these
        microsecond values.  This machine's clock is never consulted.  A chat that is not
        yet settled is read again by the next run (one request: "re-read the boundary
        second")."""
        return changes.server_past(_second(updated_at), _second(self.server_time))

    def seen(self, message_id: int, at: int | None) -> bool:
        """Whether this walk already wrote the message (it was pushed down a page)."""
        if at is None or self.low_at is None:
            return message_id in self.low_ids or message_id in self.top_ids
        return at > self.low_at or (at == self.low_at and message_id in self.low_ids)

    def record(self, message_id: int, at: int | None) -> None:
        """Note a message as written by this walk."""
        self.written += 1
        if at is None:
            self.low_ids.append(message_id)
            return
        gained: set[int] = set()  # the engine's rule, applied to the stored list
        top_at = changes.raise_mark(self.top_at, gained, at, message_id)
        if top_at != self.top_at:
            self.top_at, self.top_ids = top_at, [message_id]
        elif gained:
            self.top_ids.append(message_id)
        if self.low_at is None or at < self.low_at:
            self.low_at, self.low_ids = at, [message_id]
        elif at == self.low_at:
            self.low_ids.append(message_id)

    def to_json(self) -> str:
        """The walk as stored in the checkpoint."""
        return json.dumps(attrs.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Walk:
        """Read a stored walk (unknown keys, such as an older version's, are ignored)."""
        names = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in names})


@attrs.frozen
class ChatWork:
    """A chat whose messages this run must fetch, as the checkpoint describes it."""

    id: int
    seq: int
    updated_at: int | None
    hw_at: int | None  # newest message exported in earlier runs (microseconds)
    hw_ids: tuple[int, ...]
    walk: Walk | None  # a walk interrupted by a crash, to resume


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS chats (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,          -- order of the latest listing that changed it
    updated_at INTEGER,            -- updatedAt, microseconds
    payload TEXT NOT NULL,         -- the chat as the server sent it (JSON)
    pending INTEGER NOT NULL,      -- 1: its messages must be fetched in this run
    walked INTEGER NOT NULL DEFAULT 0,
    synced_at INTEGER,             -- updated_at when its messages were last complete
    hw_at INTEGER,                 -- newest exported message: createdAt, microseconds
    hw_ids TEXT,                   -- ids of the exported messages created at hw_at
    walk TEXT                      -- the walk in progress (JSON), if any
)""",
    "CREATE INDEX IF NOT EXISTS chats_pending ON chats (seq) WHERE pending = 1",
    "CREATE TABLE IF NOT EXISTS runs (run INTEGER PRIMARY KEY, info TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,          -- the run that listed it last
    payload TEXT NOT NULL          -- the contact line (JSON): payload, tags, funnels, variables
)""",
)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ExportStore:
    """An export directory opened for writing (see the module docstring).

    Open it in two steps: :meth:`acquire` (create the directory, take the lock, open the
    request ledger) before the first request, then :meth:`open` once ``GET /me`` has
    named the project.  Not thread-safe; all calls come from the exporter's one event
    loop thread, and none of them awaits, so each is atomic with respect to its tasks.
    """

    def __init__(
        self,
        directory: Path,
        identity: Identity | None = None,
        *,
        emulator: bool,
        io: StoreIO | None = None,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.directory = directory
        self.identity = identity
        self.emulator = emulator
        self.io = io if io is not None else StoreIO()
        self.busy_timeout = busy_timeout
        self._lock_fd: int | None = None
        self._ledger_fd: int | None = None
        self._ledger_created = False
        self._created: list[Path] = []
        self.ledger_size = 0
        self._db: sqlite3.Connection | None = None
        self._fd: int | None = None
        self._broken: ExportStorageError | None = None
        self._staged: dict[int, tuple[ChatWork, Walk, bool]] = {}
        self.offset = 0  # bytes of messages.jsonl written (committed + staged)
        self.lines = 0
        self.committed_offset = 0
        self.committed_lines = 0
        self.run: RunState | None = None
        self._seq = 0

    # ------------------------------------------------------------------ failures

    @property
    def broken(self) -> bool:
        """Whether a write failed: nothing more is written by this store."""
        return self._broken is not None

    @contextlib.contextmanager
    def _writing(self, name: str) -> Iterator[None]:
        """Run writes to ``name``; the first failure breaks the store for good."""
        if self._broken is not None:
            raise ExportStorageError(
                f"not writing {name}: an earlier write failed ({self._broken})",
                self._broken.path,
            )
        try:
            yield
        except (OSError, sqlite3.Error) as exc:
            path = self.directory / name
            error = ExportStorageError(f"cannot write {str(path)!r}: {_reason(exc)}", path)
            self._broken = error
            raise error from exc

    # ------------------------------------------------------------------ open / close

    def acquire(self) -> None:
        """Create the directory if needed, take its lock and open the request ledger.

        Raises:
            ExportDirError: the directory cannot be created or written.
            ExportBusyError: another export holds the lock.
        """
        directory = self.directory
        try:
            self._created = [] if directory.exists() else [directory]
            directory.mkdir(exist_ok=True)
            if not (directory / LOCK_FILE).exists():
                self._created.insert(0, directory / LOCK_FILE)
            self._lock_fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _open_error(directory, exc) from None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            pass
        else:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self._lock_fd)
                self._lock_fd = None
                raise ExportBusyError(
                    f"another export is running into {str(directory)!r}; wait for it to end"
                ) from None
        ledger = directory / REQUESTS_FILE
        try:
            self._ledger_created = not ledger.exists()
            self._ledger_fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self.ledger_size = os.fstat(self._ledger_fd).st_size
        except OSError as exc:
            raise _open_error(ledger, exc) from None

    def count_request(self) -> None:
        """Record, durably, that one more request is about to be sent."""
        assert self._ledger_fd is not None, "store is not acquired"
        with self._writing(REQUESTS_FILE):
            self.io.write(self._ledger_fd, b".")
            self.io.fsync(self._ledger_fd)
        self.ledger_size += 1

    def forget_requests(self, size: int) -> None:
        """Leave a directory we may not use as it was: cut the ledger back to ``size``
        (or remove it if this store created it)."""
        if self._ledger_fd is None:
            return
        with contextlib.suppress(OSError):
            if self._ledger_created:
                os.unlink(self.directory / REQUESTS_FILE)
            else:
                os.truncate(self.directory / REQUESTS_FILE, size)
        if self._db is None:  # nothing else was written: remove what acquire() created
            for path in self._created:
                with contextlib.suppress(OSError):
                    path.rmdir() if path.is_dir() else path.unlink()

    def open(self, identity: Identity) -> None:
        """Open the checkpoint for ``identity``'s export and cut ``messages.jsonl`` back to
        the last committed length.

        Raises:
            ExportDirError: the checkpoint belongs to another project, or cannot be opened.
            ExportStateError: the files disagree with the checkpoint.
            ExportStorageError: a write failed (e.g. the database is locked).
        """
        if self._lock_fd is None:
            self.acquire()
        self.identity = identity
        directory = self.directory
        path = directory / MESSAGES_FILE
        if not (directory / STATE_FILE).exists() and path.exists() and path.stat().st_size:
            raise ExportStateError(
                f"{str(path)!r} exists but its checkpoint ({STATE_FILE}) does not; "
                "refusing to overwrite it"
            )
        try:
            db = self._db = sqlite3.connect(
                directory / STATE_FILE, isolation_level=None, timeout=self.busy_timeout
            )
        except sqlite3.Error as exc:
            raise ExportDirError(
                f"cannot open the checkpoint {str(directory / STATE_FILE)!r}: {exc}"
            ) from None
        with self._writing(STATE_FILE):
            self.io.sql(db, "PRAGMA journal_mode=WAL")
            self.io.sql(db, "PRAGMA synchronous=FULL")
            with self._transaction():
                for statement in _SCHEMA:
                    self.io.sql(db, statement)
        stored = self._meta("identity")
        if stored is None:
            with self._transaction():
                self._set_meta("identity", identity.to_json())
        elif not Identity.from_json(stored).same_project(identity):
            raise ExportDirError(
                f"{str(directory)!r}'s checkpoint belongs to another project "
                f"({Identity.from_json(stored).describe()})"
            )
        files = self._meta("messages") or {"bytes": 0, "lines": 0}
        self.offset = self.committed_offset = int(files["bytes"])
        self.lines = self.committed_lines = int(files["lines"])
        run = self._meta("run")
        self.run = RunState.from_json(run) if run is not None else None
        self._seq = int(self._query("SELECT COALESCE(MAX(seq), 0) FROM chats")[0][0])
        size = path.stat().st_size if path.exists() else 0
        if size < self.committed_offset:
            raise ExportStateError(
                f"{str(path)!r} is shorter ({size} bytes) than the checkpoint records "
                f"({self.committed_offset}); the directory was modified outside smartsender"
            )
        with self._writing(MESSAGES_FILE):
            if size > self.committed_offset:
                self.io.truncate(path, self.committed_offset)  # drop the uncommitted tail
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self) -> None:
        """Close files and the database and release the lock (never raises)."""
        for attr in ("_fd", "_ledger_fd"):
            fd = getattr(self, attr)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, attr, None)
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def db(self) -> sqlite3.Connection:
        """The checkpoint's connection (reads go straight to it)."""
        assert self._db is not None, "store is not open"
        return self._db

    def _meta(self, key: str) -> Any:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def _query(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """Read rows; a failure (a database locked even for readers, a corrupt file)
        stops the run like a failed write, naming the checkpoint."""
        try:
            return self.db.execute(statement, params).fetchall()
        except sqlite3.Error as exc:
            path = self.directory / STATE_FILE
            error = ExportStorageError(f"cannot read {str(path)!r}: {_reason(exc)}", path)
            if self._broken is None:
                self._broken = error
            raise error from exc

    def _set_meta(self, key: str, value: Any) -> None:
        self.io.sql(
            self.db,
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, _dumps(value)),
        )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One sqlite transaction; any failure rolls back and breaks the store."""
        db = self.db
        with self._writing(STATE_FILE):
            self.io.sql(db, "BEGIN IMMEDIATE")
            try:
                yield db
                self.io.sql(db, "COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ runs

    def last_complete_run(self) -> RunState | None:
        """The newest run that completed, if any."""
        rows = self._query(
            "SELECT info FROM runs WHERE json_extract(info, '$.phase') = 'complete' "
            "ORDER BY run DESC LIMIT 1"
        )
        return RunState.from_json(json.loads(rows[0][0])) if rows else None

    def begin_run(self, *, full: bool, contacts: bool = True) -> RunState:
        """Start a new run after a complete one (or the first run); ``contacts``: whether
        it lists the contacts."""
        previous = self.last_complete_run()
        number = (self.run.run + 1) if self.run is not None else 1
        incremental = previous is not None and not full
        run = RunState(
            run=number,
            mode="incremental" if incremental else "full",
            started_at=_utc_now(),
            prev_mark=previous.head_at if incremental and previous is not None else None,
            requests_from=int(self._meta("requests_attributed") or 0),
            contacts=contacts,
        )
        run.head_at = run.prev_mark
        with self._transaction() as db:
            # A full run re-decides which chats need messages from the listing alone.
            self.io.sql(db, "UPDATE chats SET pending = 0 WHERE pending = 1")
            self.run = run
            self._save_run()
        return run

    def _save_run(self) -> None:
        run = self.run
        assert run is not None
        if run.requests_from is not None:
            run.requests = max(self.ledger_size - run.requests_from, 0)
        if run.phase == "complete":
            self._set_meta("requests_attributed", self.ledger_size)
        self._set_meta("run", run.to_json())
        self.io.sql(
            self.db,
            "INSERT INTO runs (run, info) VALUES (?, ?) "
            "ON CONFLICT(run) DO UPDATE SET info = excluded.info",
            (run.run, _dumps(run.to_json())),
        )

    def save_run(self) -> None:
        """Commit the run state alone (phase changes)."""
        with self._transaction():
            self._save_run()

    # ------------------------------------------------------------------ chats

    def record_chats(self, chats: Sequence[tuple[int, int | None, str]]) -> int:
        """Store listed chats ``(id, updated_at, payload JSON)`` and the run state, in one
        transaction.  Returns how many were new or had a new ``updatedAt``."""
        moved = 0
        run = self.run
        assert run is not None
        with self._transaction() as db:
            for chat_id, updated_at, payload in chats:
                row = db.execute(
                    "SELECT updated_at, payload, walked, synced_at FROM chats WHERE id = ?",
                    (chat_id,),
                ).fetchone()
                self._seq += 1
                if row is None:
                    self.io.sql(
                        db,
                        "INSERT INTO chats (id, seq, updated_at, payload, pending) "
                        "VALUES (?, ?, ?, ?, 1)",
                        (chat_id, self._seq, updated_at, payload),
                    )
                    moved += 1
                    run.chats_changed += 1
                    continue
                old_updated, old_payload, walked, synced_at = row
                if old_updated != updated_at:
                    moved += 1
                if old_updated != updated_at or old_payload != payload:
                    run.chats_changed += 1
                pending = 1 if not walked or synced_at != updated_at else 0
                self.io.sql(
                    db,
                    "UPDATE chats SET seq = ?, updated_at = ?, payload = ?, "
                    "pending = MAX(pending, ?) WHERE id = ?",
                    (self._seq, updated_at, payload, pending, chat_id),
                )
            self._save_run()
        return moved

    def is_current(self, chat_id: int, updated_at: int | None) -> bool:
        """Whether the stored chat has exactly this ``updatedAt``."""
        rows = self._query("SELECT updated_at FROM chats WHERE id = ?", (chat_id,))
        return bool(rows) and rows[0][0] == updated_at

    def count_pending(self) -> int:
        """Chats whose messages are due in this run."""
        return int(self._query("SELECT COUNT(*) FROM chats WHERE pending = 1")[0][0])

    def count_chats(self) -> int:
        """Chats in the checkpoint."""
        return int(self._query("SELECT COUNT(*) FROM chats")[0][0])

    def record_contacts(self, contacts: Sequence[tuple[int, str]]) -> int:
        """Store one contact page ``(id, line JSON)`` for this run together with the run
        state (the next contact page), in one transaction.  Returns how many of them this
        run had not stored yet (a contact pushed onto the next page is stored once)."""
        run = self.run
        assert run is not None
        new = 0
        with self._transaction() as db:
            for contact_id, payload in contacts:
                row = db.execute("SELECT run FROM contacts WHERE id = ?", (contact_id,)).fetchone()
                if row is None or row[0] != run.run:
                    new += 1
                self.io.sql(
                    db,
                    "INSERT INTO contacts (id, run, payload) VALUES (?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET run = excluded.run, payload = excluded.payload",
                    (contact_id, run.run, payload),
                )
            run.contacts_listed += new
            self._save_run()
        return new

    def pending_chats(self, after_seq: int, limit: int) -> list[ChatWork]:
        """The next ``limit`` chats whose messages are due, in listing order."""
        rows = self._query(
            "SELECT id, seq, updated_at, hw_at, hw_ids, walk FROM chats "
            "WHERE pending = 1 AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [
            ChatWork(
                id=row[0],
                seq=row[1],
                updated_at=row[2],
                hw_at=row[3],
                hw_ids=tuple(json.loads(row[4])) if row[4] else (),
                walk=Walk.from_json(row[5]) if row[5] else None,
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ messages

    def stage_page(self, chat: ChatWork, lines: list[bytes], walk: Walk, done: bool) -> None:
        """Append one page's lines and remember the chat's new state until :meth:`commit`."""
        assert self._fd is not None
        data = b"".join(lines)
        with self._writing(MESSAGES_FILE):
            if data:
                self.io.write(self._fd, data)
        self.offset += len(data)
        self.lines += len(lines)
        self._staged[chat.id] = (chat, walk, done)

    @property
    def staged(self) -> int:
        """Chats with staged, uncommitted progress."""
        return len(self._staged)

    def commit(self) -> None:
        """Make everything staged durable: fsync ``messages.jsonl``, then one transaction
        records its length, the chats' states and the run state."""
        assert self._fd is not None and self.run is not None
        with self._writing(MESSAGES_FILE):
            if self.offset != self.committed_offset:
                self.io.fsync(self._fd)
        with self._transaction() as db:
            for chat, walk, done in self._staged.values():
                if not done:
                    self.io.sql(
                        db, "UPDATE chats SET walk = ? WHERE id = ?", (walk.to_json(), chat.id)
                    )
                    continue
                # The chat's mark moves over what this walk wrote (the engine's rule).
                hw_at, hw_set = changes.merge_marks(
                    chat.hw_at, chat.hw_ids, walk.top_at, walk.top_ids
                )
                hw_ids = sorted(hw_set)
                self.io.sql(
                    db,
                    "UPDATE chats SET pending = 0, walked = 1, synced_at = ?, hw_at = ?, "
                    "hw_ids = ?, walk = NULL WHERE id = ?",
                    (
                        chat.updated_at if walk.settled(chat.updated_at) else None,
                        hw_at,
                        _dumps(hw_ids),
                        chat.id,
                    ),
                )
            self._set_meta("messages", {"bytes": self.offset, "lines": self.lines})
            self._save_run()
        self._staged.clear()
        self.committed_offset = self.offset
        self.committed_lines = self.lines

    # ------------------------------------------------------------------ finishing

    def _atomic_write(self, name: str, chunks: Callable[[], Iterator[bytes]]) -> None:
        """Write ``name`` through ``name.tmp``: write, fsync, rename, fsync the directory.
        A failure removes the temporary file (and breaks the store)."""
        path = self.directory / name
        tmp = path.with_name(name + ".tmp")
        with self._writing(name):
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    for chunk in chunks():
                        self.io.write(fd, chunk)
                    self.io.fsync(fd)
                finally:
                    os.close(fd)
                self.io.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._fsync_dir()

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:  # pragma: no cover - platforms without directory fds
            return
        try:
            self.io.fsync(fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
                raise
        finally:
            os.close(fd)

    def write_chats_file(self) -> int:
        """Rewrite ``chats.jsonl`` from the checkpoint (one line per chat, by id)."""
        count = 0

        def chunks() -> Iterator[bytes]:
            nonlocal count
            count = 0
            cursor = self.db.execute("SELECT payload FROM chats ORDER BY id")
            while True:
                rows = cursor.fetchmany(1000)
                if not rows:
                    break
                yield b"".join(row[0].encode() + b"\n" for row in rows)
                count += len(rows)

        self._atomic_write(CHATS_FILE, chunks)
        with self._transaction():
            self._set_meta("chats_lines", count)
        return count

    def write_contacts_file(self) -> int:
        """Rewrite ``contacts.jsonl`` from the contacts this run listed (by id), then drop
        the ones it did not list (gone from the project) from the checkpoint."""
        run = self.run
        assert run is not None
        count = 0

        def chunks() -> Iterator[bytes]:
            nonlocal count
            count = 0
            cursor = self.db.execute(
                "SELECT payload FROM contacts WHERE run = ? ORDER BY id", (run.run,)
            )
            while True:
                rows = cursor.fetchmany(1000)
                if not rows:
                    break
                yield b"".join(row[0].encode() + b"\n" for row in rows)
                count += len(rows)

        self._atomic_write(CONTACTS_FILE, chunks)
        with self._transaction() as db:
            self.io.sql(db, "DELETE FROM contacts WHERE run <> ?", (run.run,))
            self._set_meta("contacts_file", {"lines": count, "run": run.run})
        return count

    def contacts_file(self) -> dict[str, Any] | None:
        """``{"lines", "run"}`` of the last ``contacts.jsonl`` written (``None``: never)."""
        value = self._meta("contacts_file")
        return value if isinstance(value, dict) else None

    def write_project_file(self, project: dict[str, Any]) -> None:
        """Write ``project.json``: the ``GET /me`` answer as the server sent it."""
        run = self.run
        assert run is not None
        text = json.dumps(project, indent=2, ensure_ascii=False) + "\n"
        self._atomic_write(PROJECT_FILE, lambda: iter((text.encode(),)))
        with self._transaction():
            self._set_meta("project_file", {"run": run.run})

    def project_file(self) -> dict[str, Any] | None:
        """``{"run"}`` of the last ``project.json`` written (``None``: never)."""
        value = self._meta("project_file")
        return value if isinstance(value, dict) else None

    def chats_file_lines(self) -> int | None:
        """Lines of the last ``chats.jsonl`` written."""
        value = self._meta("chats_lines")
        return None if value is None else int(value)

    def write_manifest(self, tool: str) -> None:
        """Write ``manifest.json`` (atomically) from the committed state."""
        run = self.run
        runs = [json.loads(row[0]) for row in self._query("SELECT info FROM runs ORDER BY run")]
        complete = run is not None and run.phase == "complete"
        assert self.identity is not None
        manifest = {
            "format": FORMAT,
            "tool": tool,
            "project": self.identity.to_json(),
            "emulator": self.emulator,
            "status": "complete" if complete else "incomplete",
            "files": {
                CHATS_FILE: {"lines": self.chats_file_lines()},
                MESSAGES_FILE: {"lines": self.committed_lines, "bytes": self.committed_offset},
                CONTACTS_FILE: self.contacts_file(),
                PROJECT_FILE: self.project_file(),
            },
            "checkpoint": STATE_FILE,
            "runs": runs,
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        self._atomic_write(MANIFEST_FILE, lambda: iter((text.encode(),)))
