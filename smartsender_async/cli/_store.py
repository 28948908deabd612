"""The export directory on disk: two JSON Lines files, a manifest and a sqlite checkpoint.

Layout of ``OUT_DIR``::

    chats.jsonl           one line per chat, its latest payload (rewritten at the end of a run)
    messages.jsonl        one line per message with its "chat_id" (append-only)
    manifest.json         what this directory holds: format, project, counts, run history
    export-state.sqlite   the checkpoint: per-chat state and committed file offsets
    .export.lock          held (flock) while an export runs

Why sqlite for the checkpoint.  Per-chat state (where its message walk stands, the newest
message already exported) is needed for 100,000 chats and more.  A JSON checkpoint would be
rewritten whole on every commit; sqlite updates only the touched rows, keeps them on disk
(flat memory) and commits atomically, so one transaction can cover "these chats advanced"
and "messages.jsonl is now this many bytes long" together.

Exactly once in ``messages.jsonl`` across crashes.  Lines are appended, then the file is
flushed and fsynced, and only then does a sqlite transaction record the new length together
with the chat states those lines belong to.  On open the file is cut back to the recorded
length: a torn line or a tail that no checkpoint covers is dropped and fetched again.  A
kill at any instant therefore leaves either the old checkpoint (the tail is redone) or the
new one (nothing is redone).

``chats.jsonl`` and ``manifest.json`` are written whole to a temporary file in the same
directory, fsynced, and moved over the old one (``os.replace``), so a reader sees the old
version or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import attrs

__all__ = [
    "CHATS_FILE",
    "FORMAT",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "MESSAGES_FILE",
    "STATE_FILE",
    "ChatWork",
    "ExportBusyError",
    "ExportDirError",
    "ExportStateError",
    "ExportStore",
    "Identity",
    "RunState",
    "Walk",
    "check_directory",
    "micros",
]

FORMAT = "smartsender-export/1"
CHATS_FILE = "chats.jsonl"
MESSAGES_FILE = "messages.jsonl"
MANIFEST_FILE = "manifest.json"
STATE_FILE = "export-state.sqlite"
LOCK_FILE = ".export.lock"
#: Files an export directory may hold besides the above (sqlite's and ours' temporaries).
_OWN_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp")

#: See :meth:`Walk.settled`: one second of timestamp resolution plus two of clock skew.
SETTLE_SECONDS = 3

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)


def micros(value: datetime | None) -> int | None:
    """A timestamp as integer microseconds since 1970 (exact, unlike float seconds)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _MICRO


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ExportDirError(Exception):
    """The directory cannot be used for this export (a usage problem: exit code 2)."""


class ExportStateError(Exception):
    """The directory's files disagree with its checkpoint (it was modified by hand)."""


class ExportBusyError(Exception):
    """Another export is writing into the same directory right now."""


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
        if self.base_url != other.base_url:
            return False
        if self.project_id is not None and other.project_id is not None:
            return bool(self.project_id == other.project_id)
        return self.project_name == other.project_name

    def describe(self) -> str:
        name = self.project_name or "?"
        ident = f" (id {self.project_id})" if self.project_id is not None else ""
        return f"project {name!r}{ident} at {self.base_url}"

    def to_json(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "id": self.project_id, "name": self.project_name}

    @classmethod
    def from_json(cls, data: Any) -> Identity:
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


def check_directory(path: Path) -> DirectoryCheck:
    """Decide, without changing anything, whether ``path`` can receive an export.

    Accepted: a directory that does not exist yet (its parent must), an empty directory,
    or a directory holding an export (``manifest.json``).  Anything else raises
    :class:`ExportDirError` with the reason.
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
    try:
        foreign = [
            entry.name
            for entry in path.iterdir()
            if entry.name not in (STATE_FILE, LOCK_FILE, MESSAGES_FILE, CHATS_FILE)
            and not entry.name.endswith(_OWN_SUFFIXES)
        ]
    except OSError as exc:
        raise ExportDirError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    data_files = (path / MESSAGES_FILE).exists() or (path / CHATS_FILE).exists()
    if foreign or (data_files and not (path / STATE_FILE).exists()):
        raise ExportDirError(
            f"{str(path)!r} is not empty and holds no smartsender export (no {MANIFEST_FILE}); "
            "choose an empty or new directory"
        )
    return DirectoryCheck(path, True, None)


def _probe(directory: Path, problem: str) -> None:
    """Create and delete a file in ``directory``: the only sure test of writability
    (``os.access`` answers yes to root on a read-only mount)."""
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".smartsender-probe-"):
            pass
    except OSError as exc:
        raise ExportDirError(f"{problem}: {exc.strerror or exc}") from None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through a temporary file in the same directory, fsync, rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@attrs.define
class RunState:
    """Where the current run stands; committed with every checkpoint.

    ``phase`` goes ``listing`` → ``rescan`` (only if the listing read more than one page)
    → ``messages`` → ``finishing`` → ``complete``.  ``head_at`` is the newest chat
    ``updatedAt`` this run has seen (microseconds); the next incremental run lists chats
    only down to it (``prev_mark``).
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
    requests: int = 0
    attempts: int = 1
    finished_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        names = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@attrs.define
class Walk:
    """A chat's message walk in progress (newest first), resumable after a crash.

    ``page`` is the next page to fetch.  ``top_*`` is the newest message written in this
    walk (it becomes the chat's high-water mark when the walk ends), ``low_*`` the oldest:
    a message at or above ``low_at`` that was already written is a repeat caused by new
    messages pushing the list down, and is skipped.  Times are microseconds; the id lists
    hold the messages written at exactly that time.
    """

    page: int = 1
    top_at: int | None = None
    top_ids: list[int] = attrs.Factory(list)
    low_at: int | None = None
    low_ids: list[int] = attrs.Factory(list)
    written: int = 0
    started: int | None = None  # wall clock (microseconds) when page 1 was requested

    def settled(self, updated_at: int | None) -> bool:
        """Whether page 1 was read after the second of ``updated_at`` had surely ended.

        Timestamps have one-second resolution: a message arriving in the same second as
        the chat's ``updatedAt`` but after page 1 was read would leave ``updatedAt`` as it
        was, and the next run would think the chat unchanged.  A walk that started less
        than ``SETTLE_SECONDS`` after ``updatedAt`` (by this machine's clock) is therefore
        not trusted: the next run looks at the chat again (one request).
        """
        if updated_at is None or self.started is None:
            return True
        return self.started >= updated_at + SETTLE_SECONDS * 1_000_000

    def seen(self, message_id: int, at: int | None) -> bool:
        if at is None or self.low_at is None:
            return message_id in self.low_ids or message_id in self.top_ids
        return at > self.low_at or (at == self.low_at and message_id in self.low_ids)

    def record(self, message_id: int, at: int | None) -> None:
        self.written += 1
        if at is None:
            self.low_ids.append(message_id)
            return
        if self.top_at is None or at > self.top_at:
            self.top_at, self.top_ids = at, [message_id]
        elif at == self.top_at:
            self.top_ids.append(message_id)
        if self.low_at is None or at < self.low_at:
            self.low_at, self.low_ids = at, [message_id]
        elif at == self.low_at:
            self.low_ids.append(message_id)

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Walk:
        return cls(**json.loads(text))


@attrs.frozen
class ChatWork:
    """A chat whose messages this run must fetch, as the checkpoint describes it."""

    id: int
    seq: int
    updated_at: int | None
    hw_at: int | None  # newest message exported in earlier runs (microseconds)
    hw_ids: tuple[int, ...]
    walk: Walk | None  # a walk interrupted by a crash, to resume


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chats (
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
);
CREATE INDEX IF NOT EXISTS chats_pending ON chats (seq) WHERE pending = 1;
CREATE TABLE IF NOT EXISTS runs (run INTEGER PRIMARY KEY, info TEXT NOT NULL);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ExportStore:
    """An export directory opened for writing (see the module docstring).

    Not thread-safe; all calls come from the exporter's one event loop thread, and none
    of them awaits, so each is atomic with respect to the exporter's tasks.
    """

    def __init__(self, directory: Path, identity: Identity, *, emulator: bool) -> None:
        self.directory = directory
        self.identity = identity
        self.emulator = emulator
        self._lock_fd: int | None = None
        self._db: sqlite3.Connection | None = None
        self._file: IO[bytes] | None = None
        self._broken = False
        self._staged: dict[int, tuple[ChatWork, Walk, bool]] = {}
        self.offset = 0  # bytes of messages.jsonl written (committed + staged)
        self.lines = 0
        self.committed_offset = 0
        self.committed_lines = 0
        self.run: RunState | None = None
        self._seq = 0

    # ------------------------------------------------------------------ open / close

    def open(self) -> None:
        """Create the directory if needed, take the lock, open the checkpoint, and cut
        ``messages.jsonl`` back to the last committed length."""
        directory = self.directory
        try:
            directory.mkdir(exist_ok=True)
            self._lock_fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ExportDirError(
                f"cannot write to {str(directory)!r}: {exc.strerror or exc}"
            ) from None
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
        path = directory / MESSAGES_FILE
        if not (directory / STATE_FILE).exists() and path.exists() and path.stat().st_size:
            raise ExportStateError(
                f"{str(path)!r} exists but its checkpoint ({STATE_FILE}) does not; "
                "refusing to overwrite it"
            )
        try:
            db = self._db = sqlite3.connect(directory / STATE_FILE, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            stored = self._meta("identity")
        except sqlite3.Error as exc:
            raise ExportStateError(f"cannot open the checkpoint {STATE_FILE}: {exc}") from None
        if stored is None:
            self._set_meta("identity", self.identity.to_json())
        elif not Identity.from_json(stored).same_project(self.identity):
            raise ExportDirError(
                f"{str(directory)!r}'s checkpoint belongs to another project "
                f"({Identity.from_json(stored).describe()})"
            )
        files = self._meta("messages") or {"bytes": 0, "lines": 0}
        self.offset = self.committed_offset = int(files["bytes"])
        self.lines = self.committed_lines = int(files["lines"])
        run = self._meta("run")
        self.run = RunState.from_json(run) if run is not None else None
        row = db.execute("SELECT COALESCE(MAX(seq), 0) FROM chats").fetchone()
        self._seq = int(row[0])
        size = path.stat().st_size if path.exists() else 0
        if size < self.committed_offset:
            raise ExportStateError(
                f"{str(path)!r} is shorter ({size} bytes) than the checkpoint records "
                f"({self.committed_offset}); the directory was modified outside smartsender"
            )
        if size > self.committed_offset:
            os.truncate(path, self.committed_offset)  # drop the uncommitted tail
        self._file = open(path, "ab")  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "store is not open"
        return self._db

    def _meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, _dumps(value)),
        )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # ------------------------------------------------------------------ runs

    def last_complete_run(self) -> RunState | None:
        row = self.db.execute(
            "SELECT info FROM runs WHERE json_extract(info, '$.phase') = 'complete' "
            "ORDER BY run DESC LIMIT 1"
        ).fetchone()
        return None if row is None else RunState.from_json(json.loads(row[0]))

    def begin_run(self, *, full: bool) -> RunState:
        """Start a new run after a complete one (or the first run)."""
        previous = self.last_complete_run()
        number = (self.run.run + 1) if self.run is not None else 1
        incremental = previous is not None and not full
        self.run = RunState(
            run=number,
            mode="incremental" if incremental else "full",
            started_at=_utc_now(),
            prev_mark=previous.head_at if incremental and previous is not None else None,
        )
        self.run.head_at = self.run.prev_mark
        with self._transaction() as db:
            # A full run re-decides which chats need messages from the listing alone.
            db.execute("UPDATE chats SET pending = 0 WHERE pending = 1")
            self._save_run()
        return self.run

    def _save_run(self) -> None:
        run = self.run
        assert run is not None
        self._set_meta("run", run.to_json())
        self.db.execute(
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
                    db.execute(
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
                db.execute(
                    "UPDATE chats SET seq = ?, updated_at = ?, payload = ?, "
                    "pending = MAX(pending, ?) WHERE id = ?",
                    (self._seq, updated_at, payload, pending, chat_id),
                )
            self._save_run()
        return moved

    def is_current(self, chat_id: int, updated_at: int | None) -> bool:
        """Whether the stored chat has exactly this ``updatedAt``."""
        row = self.db.execute("SELECT updated_at FROM chats WHERE id = ?", (chat_id,)).fetchone()
        return row is not None and row[0] == updated_at

    def count_pending(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chats WHERE pending = 1").fetchone()[0])

    def count_chats(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chats").fetchone()[0])

    def pending_chats(self, after_seq: int, limit: int) -> list[ChatWork]:
        """The next ``limit`` chats whose messages are due, in listing order."""
        rows = self.db.execute(
            "SELECT id, seq, updated_at, hw_at, hw_ids, walk FROM chats "
            "WHERE pending = 1 AND seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
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
        if self._broken:
            raise ExportStateError("an earlier write failed; the export must be restarted")
        assert self._file is not None
        data = b"".join(lines)
        try:
            self._file.write(data)
        except BaseException:
            self._broken = True
            raise
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
        if self._broken:
            raise ExportStateError("an earlier write failed; the export must be restarted")
        assert self._file is not None and self.run is not None
        try:
            if self.offset != self.committed_offset:
                self._file.flush()
                os.fsync(self._file.fileno())
            with self._transaction() as db:
                for chat, walk, done in self._staged.values():
                    if not done:
                        db.execute(
                            "UPDATE chats SET walk = ? WHERE id = ?", (walk.to_json(), chat.id)
                        )
                        continue
                    hw_at, hw_ids = chat.hw_at, list(chat.hw_ids)
                    if walk.top_at is not None:
                        if walk.top_at == hw_at:
                            hw_ids = sorted(set(hw_ids) | set(walk.top_ids))
                        else:
                            hw_at, hw_ids = walk.top_at, walk.top_ids
                    db.execute(
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
        except BaseException:
            self._broken = True
            raise
        self._staged.clear()
        self.committed_offset = self.offset
        self.committed_lines = self.lines

    # ------------------------------------------------------------------ finishing

    def write_chats_file(self) -> int:
        """Rewrite ``chats.jsonl`` from the checkpoint (one line per chat, by id)."""
        count = 0

        def write(f: IO[bytes]) -> None:
            nonlocal count
            cursor = self.db.execute("SELECT payload FROM chats ORDER BY id")
            while True:
                rows = cursor.fetchmany(1000)
                if not rows:
                    break
                f.write(b"".join(row[0].encode() + b"\n" for row in rows))
                count += len(rows)

        atomic_write(self.directory / CHATS_FILE, write)
        self._set_meta_now("chats_lines", count)
        return count

    def _set_meta_now(self, key: str, value: Any) -> None:
        with self._transaction():
            self._set_meta(key, value)

    def chats_file_lines(self) -> int | None:
        value = self._meta("chats_lines")
        return None if value is None else int(value)

    def write_manifest(self, tool: str) -> None:
        """Write ``manifest.json`` (atomically) from the committed state."""
        run = self.run
        runs = [json.loads(row[0]) for row in self.db.execute("SELECT info FROM runs ORDER BY run")]
        complete = run is not None and run.phase == "complete"
        manifest = {
            "format": FORMAT,
            "tool": tool,
            "project": self.identity.to_json(),
            "emulator": self.emulator,
            "status": "complete" if complete else "incomplete",
            "files": {
                CHATS_FILE: {"lines": self.chats_file_lines()},
                MESSAGES_FILE: {"lines": self.committed_lines, "bytes": self.committed_offset},
            },
            "checkpoint": STATE_FILE,
            "runs": runs,
        }
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"

        def write(f: IO[bytes]) -> None:
            f.write(text.encode())

        atomic_write(self.directory / MANIFEST_FILE, write)
