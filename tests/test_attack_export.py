"""A hostile review of ``smartsender export``, as a user would attack it (issue 15's words).

Each attack runs against ``Emulator.serve()`` (a real socket, the CLI in a subprocess where
a signal is involved) or the CLI in-process, and every run that says "complete" must hold
exactly the emulator's chats, messages and contacts:

* ``kill -9`` and Ctrl-C (SIGINT) at each contact page, and at a random request;
* another process holding ``BEGIN EXCLUSIVE`` on the checkpoint during the chat listing
  and during the contact listing;
* a full disk (a size-limited tmpfs; we are root) during the contact listing, then resume;
* the server's clock skewed by +-1 h and +-3 s, messages landing in the second just read;
* a user's own file in the target directory (``project.json``, a ``.tmp``, ``notes.txt``);
* bad flags, ``SMARTSENDER_BASE_URL`` without a token.

Kill points are chosen by request (the emulator's handler sends the signal); nothing
sleeps or times anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from smartsender_async.cli import cli
from smartsender_async.testing import Emulator, FakeClock
from tests.test_cli_export import assert_matches_emulator
from tests.test_cli_faults import locked_elsewhere, small_disk

pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
ENV.pop("SMARTSENDER_TOKEN", None)
ENV.pop("SMARTSENDER_BASE_URL", None)


class Trap:
    """Wraps ``emulator.handle``: the ``at``-th request matching ``path`` runs ``action``
    (before the emulator answers it)."""

    def __init__(self, emulator: Emulator) -> None:
        self.count = 0
        self.at: int | None = None
        self.path = ""
        self.action: Callable[[], None] | None = None
        self.fired = False
        original = emulator.handle

        async def handle(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            if self.at is not None and path.endswith(self.path):
                self.count += 1
                if self.count == self.at and self.action is not None and not self.fired:
                    self.fired = True
                    self.action()
            return await original(method, path, *args, **kwargs)

        emulator.handle = handle  # type: ignore[method-assign]

    def arm(self, path: str, at: int, action: Callable[[], None]) -> None:
        self.count, self.path, self.at, self.action, self.fired = 0, path, at, action, False

    def disarm(self) -> None:
        self.at = None


def _spawn(url: str, token: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    args = ["--base-url", url, "--token", token, "--rate", "off", "export", str(out), *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "smartsender_async.cli", *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    return lines[-1]


def assert_complete_and_exact(out: Path, emulator: Emulator) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert_matches_emulator(out, emulator)  # chats, messages, contacts, project.json
    return manifest


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Emulator, str, Trap]]:
    # 50 chats and contacts: 3 chat pages, 3 contact pages; 3 messages each (1 page).
    emulator = Emulator(seed=61, chats=50, messages_per_chat=3, rate_limit=None)
    trap = Trap(emulator)
    with emulator.serve() as url:
        yield emulator, url, trap


# --------------------------------------------------------------------------- signals


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT])
@pytest.mark.parametrize("page", [1, 2, 3])
def test_a_signal_at_each_contact_page_resumes_exactly(
    served: tuple[Emulator, str, Trap], tmp_path: Path, signum: int, page: int
) -> None:
    emulator, url, trap = served
    out = tmp_path / "out"
    proc: list[subprocess.Popen[str]] = []
    trap.arm("/contacts", page, lambda: os.kill(proc[0].pid, signum))
    before = emulator.stats.requests
    proc.append(_spawn(url, emulator.token, out, "--checkpoint-interval", "0"))
    _, stderr = proc[0].communicate(timeout=120)
    trap.disarm()
    assert trap.fired
    if signum == signal.SIGKILL:
        assert proc[0].returncode == -signal.SIGKILL
    elif proc[0].returncode == 0:
        # Ctrl-C raced the last page's answer and lost: nothing after that page awaits,
        # so the run completed before the interrupt could act, and says so truthfully.
        assert page == 3 and "export completed" in stderr
        assert_complete_and_exact(out, emulator)
        return
    else:
        assert proc[0].returncode == 130, stderr
        assert "re-run the same command" in _one_line(stderr)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "incomplete"
    resumed = _spawn(url, emulator.token, out)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    manifest = assert_complete_and_exact(out, emulator)
    (run,) = manifest["runs"]
    spent = emulator.stats.requests - before
    # Counted before sent: never fewer than the server saw; the killed request (counted,
    # and cut off with its process) is the only possible surplus.
    assert spent <= run["requests"] <= spent + 1
    assert run["attempts"] == 2


def test_kill9_at_random_requests_then_resume_is_exact(
    served: tuple[Emulator, str, Trap], tmp_path: Path
) -> None:
    emulator, url, trap = served
    rng = random.Random(6101)
    out = tmp_path / "out"
    for _ in range(4):
        proc: list[subprocess.Popen[str]] = []
        trap.arm("", rng.randint(1, 30), lambda p=proc: os.kill(p[0].pid, signal.SIGKILL))
        proc.append(_spawn(url, emulator.token, out, "--checkpoint-interval", "0.01"))
        proc[0].communicate(timeout=120)
        trap.disarm()
    final = _spawn(url, emulator.token, out)
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr
    assert_complete_and_exact(out, emulator)


# --------------------------------------------------------------------------- a held lock


@pytest.mark.parametrize("path", ["/chats", "/contacts"])
def test_a_checkpoint_held_locked_during_a_listing_stops_then_resumes_exactly(
    served: tuple[Emulator, str, Trap], tmp_path: Path, path: str
) -> None:
    emulator, url, trap = served
    out = tmp_path / "out"
    stack = contextlib.ExitStack()
    # The second page of the listing: the checkpoint exists, the first page is in it.
    trap.arm(path, 2, lambda: stack.enter_context(locked_elsewhere(out / "export-state.sqlite")))
    args = ["--base-url", url, "--token", emulator.token, "--rate", "off"]
    with stack:
        result = CliRunner().invoke(
            cli, [*args, "export", str(out), "--busy-timeout", "0.3", "--checkpoint-interval", "0"]
        )
        trap.disarm()
        assert trap.fired
        assert result.exit_code == 1, result.output
        line = _one_line(result.stderr)
        assert "export-state.sqlite" in line and "locked" in line
        assert json.loads((out / "manifest.json").read_text())["status"] == "incomplete"
    result = CliRunner().invoke(cli, [*args, "export", str(out)])
    assert result.exit_code == 0, result.output
    assert_complete_and_exact(out, emulator)


# --------------------------------------------------------------------------- a full disk


def test_a_full_disk_during_the_contacts_then_resume(
    served: tuple[Emulator, str, Trap], tmp_path: Path
) -> None:
    emulator, url, trap = served
    mount = tmp_path / "disk"
    with small_disk(mount, 2048) as why:
        if why is not None:
            pytest.skip(why)
        out = mount / "out"
        filler = mount / "filler"

        def fill() -> None:
            with open(filler, "wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()

        trap.arm("/contacts", 1, fill)
        args = ["--base-url", url, "--token", emulator.token, "--rate", "off"]
        result = CliRunner().invoke(cli, [*args, "export", str(out), "--checkpoint-interval", "0"])
        trap.disarm()
        assert trap.fired
        assert result.exit_code == 1, result.output
        line = _one_line(result.stderr)
        assert str(out) in line and ("space" in line.lower() or "full" in line.lower()), line
        assert not (out / "contacts.jsonl").exists()  # never written half
        manifest = out / "manifest.json"
        if manifest.exists():
            assert json.loads(manifest.read_text())["status"] == "incomplete"
        filler.unlink()
        result = CliRunner().invoke(cli, [*args, "export", str(out)])
        assert result.exit_code == 0, result.output
        assert_complete_and_exact(out, emulator)


# --------------------------------------------------------------------------- clock skew


@pytest.mark.parametrize("skew", [3600, -3600, 3, -3])
def test_a_skewed_server_clock_over_sockets_loses_nothing(tmp_path: Path, skew: int) -> None:
    clock = FakeClock()
    emulator = Emulator(
        seed=62, chats=25, messages_per_chat=2, rate_limit=None, clock=clock,
        epoch=time.time() + skew,
    )  # fmt: skip
    out = tmp_path / "out"
    with emulator.serve() as url:
        args = ["--base-url", url, "--token", emulator.token, "--rate", "off", "export", str(out)]
        chat = emulator.chat_ids()[3]
        for text in (None, "same second as the last read", "again", "tick"):
            if text == "tick":
                clock.advance(1)
            if text is not None:
                emulator.add_inbound_message(chat, text)
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            assert_complete_and_exact(out, emulator)


# --------------------------------------------------------------------------- directories


@pytest.mark.parametrize(
    "name", ["project.json", "contacts.jsonl", "chats.jsonl.tmp", "project.json.tmp"]
)
def test_a_users_file_with_one_of_our_names_is_never_overwritten(tmp_path: Path, name: str) -> None:
    """A directory without an export's checkpoint holding a file named like ours (a
    user's own ``project.json``): refused with exit 2, nothing sent, nothing touched."""
    emulator = Emulator(seed=63, chats=3, messages_per_chat=1, rate_limit=None)
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text("my own notes\n")
    result = CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator)
    assert result.exit_code == 2, result.output
    assert name in _one_line(result.stderr)
    assert emulator.stats.requests == 0
    assert sorted(p.name for p in out.iterdir()) == [name]
    assert (out / name).read_text() == "my own notes\n"


def test_a_users_file_in_an_export_is_refused_and_the_export_kept(tmp_path: Path) -> None:
    emulator = Emulator(seed=64, chats=3, messages_per_chat=1, rate_limit=None)
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for name in ("notes.txt", "mine.tmp"):
        (out / name).write_text("mine")
        emulator.stats.reset()
        result = CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator)
        assert result.exit_code == 2, result.output
        assert name in _one_line(result.stderr)
        assert emulator.stats.requests == 0
        (out / name).unlink()
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "flags",
    [
        ["--concurrency", "0"],
        ["--concurrency", "many"],
        ["--concurrency", "33"],
        ["--checkpoint-interval", "-1"],
        ["--checkpoint-interval", "nan"],  # never >= anything: it would never checkpoint
        ["--busy-timeout", "nan"],
        ["--busy-timeout", "inf"],
        ["--bogus"],
        ["--full", "extra-argument"],
    ],
)
def test_bad_flags_are_exit_2_before_any_request(tmp_path: Path, flags: list[str]) -> None:
    emulator = Emulator(seed=65, chats=3, messages_per_chat=1, rate_limit=None)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["--emulator", "export", str(out), *flags], obj=emulator)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert emulator.stats.requests == 0
    assert not out.exists()


@pytest.mark.parametrize("quota", ["0/0", "abc", "10/-1", "-5/60", "nan/60", "10/inf", "inf/1"])
def test_a_bad_quota_is_exit_2_before_any_request(tmp_path: Path, quota: str) -> None:
    emulator = Emulator(seed=65, chats=3, messages_per_chat=1, rate_limit=None)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["--emulator", "--quota", quota, "export", str(out)], obj=emulator
    )
    assert result.exit_code == 2, result.output
    assert emulator.stats.requests == 0
    assert not out.exists()


@pytest.mark.parametrize(
    "flags",
    [
        ["--error-rate", "nan"],
        ["--slow-rate", "nan"],
        ["--latency-ms", "nan"],
        ["--slow-seconds", "inf"],
        ["--churn-per-s", "nan"],
    ],
)
def test_emulator_serve_refuses_non_finite_numbers(flags: list[str]) -> None:
    result = CliRunner().invoke(cli, ["emulator", "serve", *flags])
    assert result.exit_code == 2, result.output
    assert "finite" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("token", [None, "", "   "])
def test_a_base_url_without_a_token_is_refused_not_a_demo_run(
    served: tuple[Emulator, str, Trap], tmp_path: Path, token: str | None
) -> None:
    emulator, url, _ = served
    env = {**ENV, "SMARTSENDER_BASE_URL": url}
    if token is not None:
        env["SMARTSENDER_TOKEN"] = token
    before = emulator.stats.requests
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "smartsender_async.cli", "export", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    line = _one_line(proc.stderr)
    assert "token" in line.lower() and "SMARTSENDER_BASE_URL" in line
    assert "demo" not in proc.stderr.lower() or "not" in line.lower()
    assert emulator.stats.requests == before
    assert not out.exists()


# --------------------------------------------------------------------------- a moving project


def test_contacts_created_and_changed_during_the_contact_listing(tmp_path: Path) -> None:
    """A contact created while the contacts are listed (it is appended to the list) is
    written once; a contact changed after its page was read is written as read, and the
    next run, which lists every contact again, has the change."""
    emulator = Emulator(seed=66, chats=45, messages_per_chat=1, rate_limit=None)
    trap = Trap(emulator)
    first = emulator.contact_ids()[0]
    tag = emulator.tags()[-1]

    def meddle() -> None:
        project = emulator.project
        project.create_gate(emulator.channels()[0], "hostile-1", {"firstName": "New"}, 0)
        have = [t for t in project.contact_tag_ids(first) if t != tag["id"]]
        project.overlay(first).tags = [*have, tag["id"]]

    trap.arm("/contacts", 2, meddle)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator)
    assert result.exit_code == 0, result.output
    assert trap.fired
    lines = [json.loads(x) for x in (out / "contacts.jsonl").read_text().splitlines()]
    ids = [c["id"] for c in lines]
    assert ids == sorted(set(ids)) == sorted(emulator.contact_ids())  # the new one, once
    assert len(ids) == 46
    read_before = next(c for c in lines if c["id"] == first)
    assert tag["id"] not in [t["id"] for t in read_before["tags"]]
    trap.disarm()
    result = CliRunner().invoke(cli, ["--emulator", "export", str(out)], obj=emulator)
    assert result.exit_code == 0, result.output
    assert_complete_and_exact(out, emulator)


class _Hostile(httpx.AsyncBaseTransport):
    """The emulator, except that ``GET /contacts`` answers ``body``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, body: Any) -> None:
        self.inner = inner
        self.body = body

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/contacts"):
            return httpx.Response(200, json=self.body)
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize(
    "body",
    [
        {"cursor": {"page": 1, "pages": 1}, "collection": [1, 2]},
        {"cursor": {"page": 1, "pages": 1}, "collection": [{"id": "not a number"}]},
        {"cursor": {"page": 1, "pages": 1}, "collection": [{"fullName": "no id"}]},
        {"cursor": {"page": 1, "pages": 1}},
        [],
    ],
)
def test_a_hostile_contact_page_is_a_typed_error_and_a_rerun_completes(
    tmp_path: Path, body: Any
) -> None:
    import anyio

    from smartsender_async.cli._export import Exporter, ExportOptions
    from smartsender_async.cli._store import check_directory
    from smartsender_async.errors import ResponseDecodeError

    emulator = Emulator(seed=67, chats=5, messages_per_chat=1, rate_limit=None)
    out = tmp_path / "out"

    async def run(transport: httpx.AsyncBaseTransport | None) -> Any:
        kwargs = {"transport": transport} if transport is not None else {}
        async with emulator.client(**kwargs) as client:
            options = ExportOptions(checkpoint_interval=0)
            return await Exporter(client, check_directory(out), options).run()

    with pytest.raises(ResponseDecodeError) as caught:
        anyio.run(run, _Hostile(emulator.transport(), body))
    assert caught.value.raw_body  # the body, for diagnosis
    assert json.loads((out / "manifest.json").read_text())["status"] == "incomplete"
    assert not (out / "contacts.jsonl").exists()
    anyio.run(run, None)
    assert_complete_and_exact(out, emulator)


def test_a_run_interrupted_in_the_contacts_keeps_its_choice_when_resumed(tmp_path: Path) -> None:
    """The docs: an interrupted run keeps the --contacts choice it began with; a resume
    with --no-contacts still completes the contacts it started (and costs nothing more
    than the pages left)."""
    import sqlite3
    from collections.abc import Sequence

    import anyio

    from smartsender_async.cli._export import Exporter, ExportOptions
    from smartsender_async.cli._store import ExportStorageError, StoreIO, check_directory

    class FailContactPage(StoreIO):
        def __init__(self) -> None:
            self.pages = 0

        def sql(self, db: sqlite3.Connection, statement: str, params: Sequence[Any] = ()) -> None:
            if statement.startswith("INSERT INTO contacts"):
                self.pages += 1
                if self.pages == 21:  # the second page's first contact
                    raise sqlite3.OperationalError("database or disk is full")
            super().sql(db, statement, params)

    emulator = Emulator(seed=68, chats=45, messages_per_chat=1, rate_limit=None)
    out = tmp_path / "out"

    async def run(io: StoreIO | None, contacts: bool) -> Any:
        async with emulator.client() as client:
            options = ExportOptions(checkpoint_interval=0, contacts=contacts)
            return await Exporter(client, check_directory(out), options, io=io).run()

    with pytest.raises(ExportStorageError):
        anyio.run(run, FailContactPage(), True)
    emulator.stats.reset()
    result = anyio.run(run, None, False)
    assert result.resumed and result.contacts == 45
    assert emulator.stats.by_endpoint["GET /contacts"] == 2  # pages 2 and 3 only
    assert_complete_and_exact(out, emulator)
