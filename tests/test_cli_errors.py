"""Errors a person can act on: exit codes 0/1/2/130, one line naming the file or the
setting, no traceback unless ``--debug``; and ``smartsender emulator serve``'s flags.

Exit code 130 (Ctrl-C, SIGTERM) is exercised with real signals in ``test_cli_kill.py``;
a full disk and a locked database (exit 1) in ``test_cli_faults.py``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from smartsender_async.cli import cli
from smartsender_async.cli._app import EpochType, _api_message
from smartsender_async.errors import UnprocessableEntityError
from smartsender_async.testing import Emulator
from smartsender_async.testing._choices import CHOICES

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSENDER_")}
ENV["PYTHONPATH"] = str(ROOT)


def export(emulator: Emulator, out: Path, *extra: str, env: Any = None) -> Result:
    return CliRunner(env=env).invoke(cli, ["--emulator", *extra, "export", str(out)], obj=emulator)


def one_line(result: Result) -> str:
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("Error:", "smartsender:"))]
    assert errors, result.stderr
    return errors[-1]


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=41, chats=6, messages_per_chat=3, rate_limit=None)


# --------------------------------------------------------------------------- 0


def test_complete_is_exit_0(emulator: Emulator, tmp_path: Path) -> None:
    result = export(emulator, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["status"] == "complete"


# --------------------------------------------------------------------------- 2: usage


@pytest.mark.parametrize("name", ["notes.txt", "mine.tmp", "manifest.json.bak", "x-wal"])
def test_a_users_file_in_a_new_directory_is_exit_2_untouched(
    emulator: Emulator, tmp_path: Path, name: str
) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / name).write_text("mine\n")
    result = export(emulator, target)
    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert repr(name) in line and "not the export's own" in line
    assert emulator.stats.requests == 0  # refused before any request
    assert [p.name for p in target.iterdir()] == [name]
    assert (target / name).read_text() == "mine\n"


def test_a_users_file_in_an_existing_export_is_exit_2_untouched(
    emulator: Emulator, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    (out / "todo.tmp").write_text("mine\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    emulator.stats.reset()
    result = export(emulator, out)
    assert result.exit_code == 2
    assert "'todo.tmp'" in one_line(result)
    assert emulator.stats.requests == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_exports_own_leftovers_are_accepted(emulator: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    (out / "manifest.json.tmp").write_bytes(b"")  # what a crash mid-rename leaves
    (out / "chats.jsonl.tmp").write_bytes(b"{")
    assert export(emulator, out).exit_code == 0


def test_a_base_url_without_a_token_is_exit_2_from_the_environment_too(tmp_path: Path) -> None:
    env = {"SMARTSENDER_TOKEN": "", "SMARTSENDER_BASE_URL": "http://127.0.0.1:9/v1"}
    result = CliRunner(env=env).invoke(cli, ["export", str(tmp_path / "out")])
    assert result.exit_code == 2
    line = one_line(result)
    assert "SMARTSENDER_BASE_URL" in line and "needs a token" in line
    assert not (tmp_path / "out").exists()


def test_bad_flags_are_exit_2(emulator: Emulator, tmp_path: Path) -> None:
    for args in (["--concurrency", "0"], ["--concurrency", "x"], ["--no-such-flag"]):
        result = CliRunner().invoke(
            cli, ["--emulator", "export", str(tmp_path / "o"), *args], obj=emulator
        )
        assert result.exit_code == 2, args
    assert CliRunner().invoke(cli, ["--quota", "many", "chats"]).exit_code == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write files whatever their mode")
def test_a_read_only_file_of_the_export_is_exit_2(emulator: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    os.chmod(out / "messages.jsonl", 0o444)
    result = export(emulator, out)
    assert result.exit_code == 2
    assert "messages.jsonl" in one_line(result)


# --------------------------------------------------------------------------- 1: runtime


def test_an_unexpected_failure_is_one_line_and_debug_shows_the_traceback(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smartsender_async.cli import _export

    async def boom(self: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(_export.Exporter, "run", boom)
    quiet = export(emulator, tmp_path / "a")
    assert quiet.exit_code == 1
    line = one_line(quiet)
    assert "RuntimeError: boom" in line and "--debug" in line
    loud = CliRunner().invoke(
        cli, ["--emulator", "--debug", "export", str(tmp_path / "b")], obj=emulator
    )
    assert loud.exit_code == 1
    assert "Traceback" in loud.stderr and "RuntimeError: boom" in loud.stderr


def test_a_sqlite_error_is_one_line(emulator: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export(emulator, out).exit_code == 0
    (out / "export-state.sqlite").write_bytes(b"this is not a database" * 100)
    for name in ("export-state.sqlite-wal", "export-state.sqlite-shm"):
        (out / name).unlink(missing_ok=True)
    result = export(emulator, out)
    assert result.exit_code in (1, 2), result.output
    line = one_line(result)
    assert "export-state.sqlite" in line
    assert not (out / "manifest.json.tmp").exists()


def test_the_servers_422_message_is_shown() -> None:
    error = UnprocessableEntityError(
        "The given data was invalid.",
        status_code=422,
        description={"text": ["The text field is required."]},
    )
    text = _api_message(error)
    assert "HTTP 422" in text and "The given data was invalid." in text
    assert "text: The text field is required." in text


def test_a_refused_connection_is_exit_1(tmp_path: Path) -> None:
    args = ["--base-url", "http://127.0.0.1:9/v1", "--token", "t", "--rate", "off"]
    result = CliRunner().invoke(cli, [*args, "export", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "connection" in one_line(result).lower()


# --------------------------------------------------------------------------- emulator serve


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--error-rate", "2"], "--error-rate"),
        (["--drop-rate", "-0.1"], "--drop-rate"),
        (["--slow-rate", "1.5"], "--slow-rate"),
        (["--chats", "0"], "--chats"),
        (["--operators", "0"], "--operators"),
        (["--messages-per-chat", "-1"], "--messages-per-chat"),
        (["--slow-seconds", "0"], "--slow-seconds"),
        (["--latency-ms", "-5"], "--latency-ms"),
        (["--quota", "0/60"], "--quota"),
        (["--epoch", "yesterday-ish"], "--epoch"),
        (["--epoch", "0001-01-01"], "--epoch"),
        (["--port", "70000"], "--port"),
        (["--token", " "], "--token"),
    ],
)
def test_emulator_serve_rejects_bad_flags_with_clicks_own_errors(
    args: list[str], name: str
) -> None:
    result = CliRunner().invoke(cli, ["emulator", "serve", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"Invalid value for '{name}'" in result.stderr or name in result.stderr


def test_emulator_serve_help_lists_facts_and_choices() -> None:
    result = CliRunner().invoke(cli, ["emulator", "serve", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Documented or seen facts" in text and "The emulator's own choices" in text
    for behaviour in CHOICES:
        assert f"{behaviour.name} ({behaviour.evidence})" in text, behaviour.name
    assert any(b.evidence == "choice" for b in CHOICES)


def test_epoch_accepts_iso_and_now() -> None:
    epoch = EpochType()
    assert epoch.convert("2020-01-02T03:04:05Z", None, None).isoformat() == (
        "2020-01-02T03:04:05+00:00"
    )
    assert epoch.convert("2020-01-02", None, None).tzinfo is not None
    assert epoch.convert("now", None, None).tzinfo is not None


def test_emulator_serve_epoch_and_quota_compose() -> None:
    cmd = [sys.executable, "-m", "smartsender_async.cli", "emulator", "serve", "--chats", "3"]
    cmd += ["--epoch", "2020-01-01T00:00:00Z", "--quota", "2/60"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url), url
        headers = {"Authorization": "Bearer emulator-token"}
        page = httpx.get(f"{url}/chats", headers=headers).json()
        assert all(chat["updatedAt"] < "2020-01-01T00:00:01" for chat in page["collection"])
        assert max(chat["updatedAt"] for chat in page["collection"]) > "2019"
        assert httpx.get(f"{url}/chats", headers=headers).status_code == 200
        assert httpx.get(f"{url}/chats", headers=headers).status_code == 423  # 2 per 60 s
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate()
    assert proc.returncode == 0, stderr


def test_quota_alone_sets_the_clients_limiter_and_the_demo_emulators(tmp_path: Path) -> None:
    from smartsender_async.cli._app import Settings
    from smartsender_async.ratelimit import RateLimit

    seen: list[Any] = []

    @cli.command("probe-settings", hidden=True)
    def probe() -> None:
        import click

        settings = click.get_current_context().find_object(Settings)
        seen.append(settings)

    try:
        result = CliRunner(env={"SMARTSENDER_TOKEN": ""}).invoke(
            cli, ["--quota", "30/2", "probe-settings"]
        )
        assert result.exit_code == 0, result.output
        (settings,) = seen
        assert isinstance(settings.rate, RateLimit)
        assert (settings.rate.requests, settings.rate.period) == (30, 2.0)
        assert settings.request_rate() == pytest.approx(settings.rate.sustained_rate)
        quota = settings.get_emulator().quota
        assert quota is not None and (quota.limit, quota.period) == (30, 2.0)
    finally:
        cli.commands.pop("probe-settings")


def test_quota_alone_keeps_an_export_under_the_emulators_quota(tmp_path: Path) -> None:
    # The built-in emulator enforces the same --quota; the client paces itself to it.
    emulator = Emulator(seed=43, chats=30, messages_per_chat=3, rate_limit=(20, 1.0))
    result = CliRunner().invoke(
        cli, ["--emulator", "--quota", "20/1", "export", str(tmp_path / "out")], obj=emulator
    )
    assert result.exit_code == 0, result.output
    assert emulator.stats.requests == 1 + 2 + 1 + 30
    assert emulator.stats.locked == 0 and emulator.stats.lock_events == 0
