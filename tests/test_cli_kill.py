"""Kill the export at random points with real signals and resume it: the result must be
exactly the content of an uninterrupted export, and resuming must not start over.

The CLI runs in a subprocess (``python -m smartsender_async.cli``) against an emulator
served on loopback by the test process.  Kill points are chosen by request count: the
emulator's handler is wrapped so that the N-th request it receives sends the signal to the
subprocess.  N is drawn from a seeded RNG (printed on failure), so a failing case replays.
At that instant the subprocess has request N in flight and may be anywhere else too:
parsing another worker's page, appending lines, fsyncing, inside a sqlite commit, or
rewriting chats.jsonl after the last request.  Nothing here sleeps or times anything.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from smartsender_async.cli import cli
from smartsender_async.testing import Emulator

pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
ENV.pop("SMARTSENDER_TOKEN", None)
ENV.pop("SMARTSENDER_BASE_URL", None)
# Frequent checkpoints, so that kills land between, inside and after commits.
EXPORT_OPTS = ["export", "--checkpoint-interval", "0.02"]
WORKERS = 4  # the export's default --concurrency


class Killer:
    """Wraps ``emulator.handle``: the ``at``-th request from now sends ``signum`` to ``pid``."""

    def __init__(self, emulator: Emulator) -> None:
        self.count = 0
        self.at: int | None = None
        self.pid: int | None = None
        self.signum: int = signal.SIGKILL
        self.fired = False
        original = emulator.handle

        async def handle(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            if self.at is not None and self.count == self.at and self.pid is not None:
                self.fired = True
                os.kill(self.pid, self.signum)
            return await original(*args, **kwargs)

        emulator.handle = handle  # type: ignore[method-assign]

    def arm(self, at: int, signum: int) -> None:
        self.count, self.at, self.signum, self.fired = 0, at, signum, False


class Arrivals:
    """Counts the HTTP requests that reach the server (uvicorn hands them to the app),
    including those whose client died before the emulator read them: what a client that
    sent them must account for."""

    def __init__(self, emulator: Emulator) -> None:
        self.count = 0
        make_app = emulator.asgi_app

        def asgi_app() -> Any:
            inner = make_app()

            async def app(scope: Any, receive: Any, send: Any) -> None:
                if scope["type"] == "http":
                    self.count += 1
                await inner(scope, receive, send)

            return app

        emulator.asgi_app = asgi_app  # type: ignore[method-assign]


ARRIVALS: dict[int, Arrivals] = {}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Emulator, str, Killer]]:
    # 30 chats of 45 messages (with activities: 3 pages each): about 95 requests.
    emulator = Emulator(seed=11, chats=30, messages_per_chat=45, rate_limit=None)
    killer = Killer(emulator)
    ARRIVALS[id(emulator)] = Arrivals(emulator)
    with emulator.serve() as url:
        yield emulator, url, killer


@pytest.fixture(scope="module")
def reference(
    served: tuple[Emulator, str, Killer], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int]:
    """An uninterrupted export (in-process) and the requests it took."""
    emulator, url, _ = served
    out = tmp_path_factory.mktemp("reference") / "export"
    before = emulator.stats.requests
    result = CliRunner().invoke(
        cli, ["--base-url", url, "--token", emulator.token, "--rate", "off", "export", str(out)]
    )
    assert result.exit_code == 0, result.output
    spent = emulator.stats.requests - before
    (run,) = json.loads((out / "manifest.json").read_text())["runs"]
    assert run["requests"] == spent  # uninterrupted: exact
    return out, spent


def _cli(url: str, token: str, out: Path) -> subprocess.Popen[str]:
    args = ["--base-url", url, "--token", token, "--rate", "off", *EXPORT_OPTS, str(out)]
    return subprocess.Popen(
        [sys.executable, "-m", "smartsender_async.cli", *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines(path: Path) -> Counter[bytes]:
    return Counter(path.read_bytes().splitlines(keepends=True))


def assert_same_export(out: Path, reference: Path) -> None:
    messages = _lines(out / "messages.jsonl")
    assert messages == _lines(reference / "messages.jsonl")
    assert max(messages.values()) == 1  # every message exactly once
    assert (out / "chats.jsonl").read_bytes() == (reference / "chats.jsonl").read_bytes()
    for line in (out / "messages.jsonl").read_bytes().splitlines():
        json.loads(line)  # no torn line survived
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["files"]["messages.jsonl"]["lines"] == sum(messages.values())


def _kill_and_resume(
    served: tuple[Emulator, str, Killer],
    reference: tuple[Path, int],
    out: Path,
    kills: Sequence[tuple[int, int]],
) -> int:
    """Run the export once per ``(request number, signal)``, then to the end; return the
    requests all attempts took."""
    emulator, url, killer = served
    total = 0
    arrivals = ARRIVALS[id(emulator)]
    received_before = emulator.stats.requests
    arrived_before = arrivals.count
    for at, signum in kills:
        killer.arm(at, signum)
        proc = _cli(url, emulator.token, out)
        killer.pid = proc.pid
        _, stderr = proc.communicate()
        total += killer.count
        killer.pid = None
        if not killer.fired:  # the resumed run needed fewer requests than `at`
            assert proc.returncode == 0, stderr
            continue
        if signum == signal.SIGKILL:
            assert proc.returncode == -signal.SIGKILL
        else:
            assert proc.returncode in (130, 0), stderr  # 0: it had just finished
            if proc.returncode == 130:
                assert "re-run the same command to resume" in stderr
                assert "Traceback" not in stderr
    # The last resume runs in-process: the same command, one process start fewer.
    killer.arm(0, signal.SIGKILL)  # disarmed: count only
    args = ["--base-url", url, "--token", emulator.token, "--rate", "off", *EXPORT_OPTS, str(out)]
    result = CliRunner().invoke(cli, args)
    total += killer.count
    assert result.exit_code == 0, result.output
    assert_same_export(out, reference[0])
    # Bookkeeping: every request the emulator received for this directory, from every
    # attempt (killed ones included, GET /me included), is in the manifest's runs: each
    # is counted durably before it is sent.  The only surplus allowed is a request that
    # was counted and then lost with its process: at most one per worker per kill, and it
    # never reached the server (arrivals at uvicorn, before the emulator reads the
    # request, are counted too, and they equal the emulator's counter).
    received = emulator.stats.requests - received_before
    arrived = arrivals.count - arrived_before
    manifest = json.loads((out / "manifest.json").read_text())
    recorded = sum(run["requests"] for run in manifest["runs"])
    interrupted = sum(1 for at, _ in kills if at <= received)
    assert arrived == received
    assert received <= recorded <= received + WORKERS * interrupted, (kills, recorded, received)
    (run,) = manifest["runs"]
    assert run["phase"] == "complete" and run["attempts"] >= 1
    return total


def test_sigkill_at_random_points_then_resume(
    served: tuple[Emulator, str, Killer], reference: tuple[Path, int], tmp_path: Path
) -> None:
    rng = random.Random(int(os.environ.get("SMARTSENDER_KILL_SEED", "1")))
    full = reference[1]
    # Four kills in a row, each somewhere in what is left of the work.
    kills = []
    left = full
    for _ in range(4):
        at = rng.randint(1, max(1, left))
        kills.append((at, signal.SIGKILL))
        left = max(1, left - at)
    spent = _kill_and_resume(served, reference, tmp_path / "out", kills)
    # Resuming continues, it does not start over: each kill costs the pages in flight
    # (4 workers) and those answered but not yet checkpointed, plus /me and a rescan page.
    # How many were in flight depends on scheduling (41 extra for 4 kills was seen on a
    # loaded machine), so the bound is generous; starting over would cost the sum of the
    # kill points (94 with the default seed).
    assert spent - full <= 20 * len(kills), (kills, spent, full)


def test_sigkill_on_the_first_and_the_last_request(
    served: tuple[Emulator, str, Killer], reference: tuple[Path, int], tmp_path: Path
) -> None:
    # The first request is GET /me (nothing written yet); after the last one the export
    # commits, rewrites chats.jsonl and the manifest.
    full = reference[1]
    kills = [(1, signal.SIGKILL), (full, signal.SIGKILL)]
    _kill_and_resume(served, reference, tmp_path / "out", kills)


def test_ctrl_c_saves_and_the_same_command_resumes(
    served: tuple[Emulator, str, Killer], reference: tuple[Path, int], tmp_path: Path
) -> None:
    rng = random.Random(7)
    full = reference[1]
    kills = [
        (rng.randint(2, full // 2), signal.SIGINT),
        (rng.randint(2, full // 3), signal.SIGTERM),
    ]
    spent = _kill_and_resume(served, reference, tmp_path / "out", kills)
    assert spent - full <= 10 * len(kills), (kills, spent, full)
