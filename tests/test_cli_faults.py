"""The export against failing storage and skewed server clocks.

* **Every write fails in turn.**  An uninterrupted export of a small project makes W writes
  (sqlite statements, file writes, fsyncs, renames, truncations), all through
  :class:`StoreIO`.  For every N from 1 to W, an export whose N-th write raises must stop
  at once with :class:`ExportStorageError`, write nothing after the failure, and leave a
  directory from which a plain re-run ends with exactly the content of the uninterrupted
  export: the same chats, every message exactly once, the same contacts (once each, with
  their tags, funnels and variables) and project.json.  The closing note prints the number
  of injection points and each one's result.
* **A sqlite database held locked by another process** during the listing, for longer
  than the busy timeout: exit code 1, one line naming the checkpoint; a re-run completes.
* **A real full disk**: a size-limited tmpfs when the test runs as root (else the injected
  ENOSPC, saying why); exit code 1, one line naming the file; after space is freed a
  re-run completes.
* **Server clocks skewed** by +-1 h and +-3 s from ours, with messages arriving in the same
  server second as the previous run's read: none is lost, by the in-process transport
  and over sockets (where uvicorn's ``Date`` header carries *this* machine's time, which
  the export must not take for the server's).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from smartsender_async.cli import cli
from smartsender_async.cli._export import Exporter, ExportOptions, ExportProgress
from smartsender_async.cli._store import (
    STATE_FILE,
    ExportStorageError,
    StoreIO,
    check_directory,
)
from smartsender_async.testing import Emulator, FakeClock

# 22 chats (two listing pages and a rescan) of 5 messages: 26 requests, ~200 writes.
SEED, CHATS, MESSAGES = 31, 22, 5


class CountingIO(StoreIO):
    """Counts writes; with ``fail_at`` the ``fail_at``-th one raises instead of writing,
    and any write after it is recorded as a violation of the stop-at-once rule."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.count = 0
        self.fail_at = fail_at
        self.failed: str | None = None
        self.after_failure: list[str] = []

    def _step(self, what: str, exc: BaseException) -> None:
        self.count += 1
        if self.failed is not None:
            self.after_failure.append(what)
        if self.count == self.fail_at:
            self.failed = what
            raise exc

    def sql(self, db: sqlite3.Connection, statement: str, params: Sequence[Any] = ()) -> None:
        self._step(f"sql {statement.split()[0]}", sqlite3.OperationalError("disk I/O error"))
        super().sql(db, statement, params)

    def write(self, fd: int, data: bytes) -> None:
        self._step("write", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self._step("fsync", OSError(errno.EIO, os.strerror(errno.EIO)))
        super().fsync(fd)

    def replace(self, source: Path, target: Path) -> None:
        self._step("rename", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        super().replace(source, target)

    def truncate(self, path: Path, size: int) -> None:
        self._step("truncate", OSError(errno.EIO, os.strerror(errno.EIO)))
        super().truncate(path, size)


async def _export(emulator: Emulator, out: Path, io: StoreIO | None = None) -> Any:
    progress = ExportProgress()
    async with emulator.client(observer=progress.observe) as client:
        exporter = Exporter(
            client,
            check_directory(out),
            ExportOptions(concurrency=1, checkpoint_interval=0),
            progress=progress,
            io=io,
        )
        return await exporter.run()


def export_once(emulator: Emulator, out: Path, io: StoreIO | None = None) -> Any:
    return anyio.run(_export, emulator, out, io)


def content(out: Path) -> tuple[bytes, Counter[bytes], bytes, bytes]:
    return (
        (out / "chats.jsonl").read_bytes(),
        Counter((out / "messages.jsonl").read_bytes().splitlines()),
        (out / "contacts.jsonl").read_bytes(),
        (out / "project.json").read_bytes(),
    )


def assert_same(out: Path, reference: Path) -> None:
    chats, messages, contacts, project = content(out)
    ref_chats, ref_messages, ref_contacts, ref_project = content(reference)
    assert chats == ref_chats
    assert messages == ref_messages
    assert max(messages.values()) == 1  # every message exactly once
    assert contacts == ref_contacts  # every contact exactly once, with its tags and variables
    ids = [json.loads(line)["id"] for line in contacts.splitlines()]
    assert len(ids) == len(set(ids)) > 0
    assert project == ref_project
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["files"]["messages.jsonl"]["lines"] == sum(messages.values())
    assert manifest["files"]["contacts.jsonl"]["lines"] == len(ids)
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on tmpfs when there is one (/dev/shm): hundreds of runs fsync cheaply
    there; the behaviour under test does not depend on the filesystem."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="smartsender-faults-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def project() -> Emulator:
    return Emulator(seed=SEED, chats=CHATS, messages_per_chat=MESSAGES, rate_limit=None)


@pytest.fixture(scope="module")
def reference(project: Emulator, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    out = tmp_path_factory.mktemp("reference") / "export"
    io = CountingIO()
    result = export_once(project, out, io)
    assert result.chats == CHATS
    return out, io.count


def test_every_write_failing_in_turn_stops_the_run_and_a_rerun_completes_exactly(
    project: Emulator,
    reference: tuple[Path, int],
    fast_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tmp_path = fast_dir
    ref, writes = reference
    assert writes >= 50, f"only {writes} injection points; make the project bigger"
    results: list[str] = []
    for n in range(1, writes + 1):
        out = tmp_path / f"n{n}"
        io = CountingIO(fail_at=n)
        with pytest.raises(ExportStorageError) as caught:
            export_once(project, out, io)
        assert io.failed is not None
        # Stop at once: not one write after the failed one (no skipping ahead, no
        # "checkpoint on exit" of state that was never made durable).
        assert io.after_failure == [], (n, io.failed, io.after_failure)
        assert str(out) in str(caught.value)  # names the file
        if out.exists():
            assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")], n
            manifest = out / "manifest.json"
            if manifest.exists():
                status = json.loads(manifest.read_text())["status"]
                assert status == "incomplete" or io.failed == "fsync", (n, status)
        export_once(project, out)  # the plain re-run
        assert_same(out, ref)
        results.append(f"{n:>4} {io.failed:<12} stopped, re-run identical")
    with capsys.disabled():
        print(f"\nfault injection: {writes} injection points, {len(results)} ok")
        for line in results:
            print("  " + line)


def test_a_failure_in_the_incremental_run_loses_nothing(fast_dir: Path) -> None:
    """The same, for a run after changes: each of its writes fails in turn."""
    tmp_path = fast_dir
    emulator = Emulator(seed=SEED, chats=CHATS, messages_per_chat=MESSAGES, rate_limit=None)
    base = tmp_path / "base"
    export_once(emulator, base)
    for chat_id in emulator.chat_ids()[5:9]:
        emulator.add_inbound_message(chat_id, "later")
    snapshot = {p.name: p.read_bytes() for p in base.iterdir()}
    counting = CountingIO()
    clean = tmp_path / "clean"
    _restore(clean, snapshot)
    export_once(emulator, clean, counting)
    for n in range(1, counting.count + 1):
        out = tmp_path / f"inc{n}"
        _restore(out, snapshot)
        io = CountingIO(fail_at=n)
        with pytest.raises(ExportStorageError):
            export_once(emulator, out, io)
        assert io.after_failure == []
        export_once(emulator, out)
        assert_same(out, clean)


def test_a_failing_resume_of_a_failed_run_still_ends_exact(
    project: Emulator, reference: tuple[Path, int], fast_dir: Path
) -> None:
    """Failures on top of failures: the run fails at write N, its resume at write M, and
    the third run still ends with exactly the uninterrupted export."""
    ref, writes = reference
    for n in range(3, writes + 1, 11):
        out = fast_dir / f"twice{n}"
        with pytest.raises(ExportStorageError):
            export_once(project, out, CountingIO(fail_at=n))
        second = CountingIO(fail_at=max(1, n // 3))
        with contextlib.suppress(ExportStorageError):
            export_once(project, out, second)
        assert second.after_failure == []
        export_once(project, out)
        assert_same(out, ref)


def _restore(out: Path, files: dict[str, bytes]) -> None:
    out.mkdir()
    for name, data in files.items():
        (out / name).write_bytes(data)


# --------------------------------------------------------------------------- a held lock


@contextlib.contextmanager
def locked_elsewhere(db_path: Path, *, readers: bool = False) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the sqlite database's write lock (with ``readers``, every
    lock: not even a read gets through) until the block ends."""
    take = (
        "db.execute('PRAGMA locking_mode=EXCLUSIVE')\n"
        "db.execute('BEGIN EXCLUSIVE')\n"
        "db.execute('CREATE TABLE IF NOT EXISTS held (x)')\n"
        "db.execute('COMMIT')\n"
        if readers
        else "db.execute('BEGIN EXCLUSIVE')\n"
    )
    code = (
        "import sqlite3, sys\n"
        f"db = sqlite3.connect({str(db_path)!r}, isolation_level=None)\n"
        f"{take}"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()


@pytest.mark.parametrize(
    ("phase", "readers", "timeout"),
    [
        ("listing", False, None),  # the default busy timeout (5 s), as a user meets it
        ("messages", False, "0.3"),
        # Readers locked out too: in WAL mode another process cannot take that lock while
        # the export has the database open, so it happens before the run (at open).
        ("open", True, "0.3"),
    ],
)
def test_a_database_locked_by_another_process(
    reference: tuple[Path, int], tmp_path: Path, phase: str, readers: bool, timeout: str | None
) -> None:
    ref, _ = reference
    emulator = Emulator(seed=SEED, chats=CHATS, messages_per_chat=MESSAGES, rate_limit=None)
    out = tmp_path / "out"
    original = emulator.handle
    held: list[contextlib.ExitStack] = []

    if phase == "open":
        first = CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator)
        assert first.exit_code == 0, first.output
        emulator.add_inbound_message(emulator.chat_ids()[3], "later")

    def due(path: str, query: str) -> bool:
        if phase == "open":
            return path.endswith("/me")
        if phase == "listing":
            return path.endswith("/chats") and "page=2" in query
        return path.endswith("/messages")

    async def handle(method: str, path: str, query: str, *args: Any, **kwargs: Any) -> Any:
        if due(path, query) and not held:
            # What came before is committed; now a backup tool opens the checkpoint and
            # holds it, for longer than any timeout (until the run has failed).
            stack = contextlib.ExitStack()
            stack.enter_context(locked_elsewhere(out / STATE_FILE, readers=readers))
            held.append(stack)
        return await original(method, path, query, *args, **kwargs)

    emulator.handle = handle  # type: ignore[method-assign]
    extra = [] if timeout is None else ["--busy-timeout", timeout]
    try:
        result = CliRunner().invoke(cli, ["--emulator", "export", str(out), *extra], obj=emulator)
    finally:
        for stack in held:
            stack.close()
    assert held
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if "locked" in line]
    assert len(lines) == 1 and STATE_FILE in lines[0], result.stderr
    assert "re-run the same command" in lines[0]
    manifest = json.loads((out / "manifest.json").read_text())
    # Before the new run began, the manifest still describes the previous complete one.
    assert manifest["status"] == ("complete" if phase == "open" else "incomplete")
    emulator.handle = original  # type: ignore[method-assign]
    again = CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator)
    assert again.exit_code == 0, again.output
    if phase == "open":
        assert_has_everything(out, emulator)
    else:
        assert_same(out, ref)


# --------------------------------------------------------------------------- a full disk


@contextlib.contextmanager
def small_disk(path: Path, size_kb: int) -> Iterator[str | None]:
    """A tmpfs of ``size_kb`` mounted at ``path``; yields None, or why it could not be."""
    path.mkdir()
    if os.geteuid() != 0:
        yield "not root: no tmpfs can be mounted"
        return
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        yield f"mount failed: {proc.stderr.strip() or proc.returncode}"
        return
    try:
        yield None
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_stops_the_export_and_a_rerun_after_freeing_space_completes(
    reference: tuple[Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, _ = reference
    emulator = Emulator(seed=SEED, chats=CHATS, messages_per_chat=MESSAGES, rate_limit=None)
    disk = tmp_path / "disk"
    with small_disk(disk, 1024) as why_not:
        out = disk / "export"
        if why_not is None:
            # Leave less room than the export needs (its files take ~150 KB).
            filler = disk / "filler"
            with open(filler, "wb") as f, contextlib.suppress(OSError):
                f.write(b"\0" * (1024 - 48) * 1024)
            result = CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator)
            assert result.exit_code == 1, result.output
            assert "Traceback" not in result.output
            (line,) = [ln for ln in result.stderr.splitlines() if "cannot write" in ln]
            assert str(out) in line and ("space" in line or "full" in line), line
            filler.unlink()
        else:
            with capsys.disabled():
                print(f"\nfull disk: {why_not}; injecting ENOSPC instead")
            io = CountingIO(fail_at=60)
            with pytest.raises(ExportStorageError, match=r"No space left|disk I/O"):
                export_once(emulator, out, io)
        again = CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator)
        assert again.exit_code == 0, again.output
        assert_same(out, ref)


# --------------------------------------------------------------------------- clock skew


@pytest.mark.parametrize("skew", [3600, -3600, 3, -3])
@pytest.mark.parametrize("full", [False, True])
def test_skewed_server_clock_same_second_messages_are_not_lost(
    tmp_path: Path, skew: int, full: bool
) -> None:
    # The server's clock stands `skew` seconds from ours and does not move: every new
    # message lands in the same server second as the previous run's read of its chat.
    clock = FakeClock()
    emulator = Emulator(
        seed=7, chats=12, messages_per_chat=4, rate_limit=None, clock=clock,
        epoch=time.time() + skew,
    )  # fmt: skip
    out = tmp_path / "out"
    extra = ["--full"] if full else []

    def run() -> None:
        result = CliRunner().invoke(cli, ["--emulator", "export", str(out), *extra], obj=emulator)
        assert result.exit_code == 0, result.output
        assert_has_everything(out, emulator)

    run()
    chat = emulator.chat_ids()[6]
    emulator.add_inbound_message(chat, "first")
    run()
    emulator.add_inbound_message(chat, "second, same second")
    run()
    emulator.add_inbound_message(emulator.chat_ids()[-1], "elsewhere, same second")
    emulator.add_inbound_message(chat, "third, same second")
    run()
    clock.advance(1)
    emulator.add_inbound_message(chat, "a second later")
    run()


def test_skewed_server_behind_a_date_header_of_this_machines_time(tmp_path: Path) -> None:
    """Over sockets uvicorn stamps ``Date`` with this machine's clock, an hour ahead of the
    emulator's: trusting it would call the chat settled and lose the second message."""
    clock = FakeClock()
    emulator = Emulator(
        seed=8, chats=6, messages_per_chat=3, rate_limit=None, clock=clock,
        epoch=time.time() - 3600,
    )  # fmt: skip
    out = tmp_path / "out"
    with emulator.serve() as url:
        args = ["--base-url", url, "--token", emulator.token, "--rate", "off", "export", str(out)]
        chat = emulator.chat_ids()[2]
        for text in (None, "first", "second, same second"):
            if text is not None:
                emulator.add_inbound_message(chat, text)
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            assert_has_everything(out, emulator)


def assert_has_everything(out: Path, emulator: Emulator) -> None:
    lines = (out / "messages.jsonl").read_text().splitlines()
    ids = Counter(json.loads(line)["id"] for line in lines)
    assert max(ids.values()) == 1
    expected = {m for c in emulator.chat_ids() for m in emulator.message_ids(c, activities=True)}
    assert set(ids) == expected
