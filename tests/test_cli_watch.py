"""``smartsender watch``: lines, JSON Lines, --inbound, --state (resume, atomic), Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from smartsender_async.cli import cli
from smartsender_async.cli._watch import load_state, save_state
from smartsender_async.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSENDER_")}
ENV["PYTHONPATH"] = str(ROOT)


def run(emulator: Emulator, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--emulator", "watch", *args], obj=emulator)


def lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def small() -> Emulator:
    return Emulator(seed=4, chats=3, messages_per_chat=4, rate_limit=None)


def test_from_start_json_lines_then_resume_from_the_state_file(tmp_path: Path) -> None:
    emu = small()
    every = {m for c in emu.chat_ids() for m in emu.message_ids(c, activities=False)}
    state = tmp_path / "watch.json"
    first = run(emu, "--json", "--from-start", "--state", str(state), "--max-events", "5")
    assert first.exit_code == 0, first.output
    got = lines(first)
    assert [e["kind"] for e in got] == ["message"] * 5
    assert json.loads(state.read_text())["position"] == got[-1]["position"]
    rest = run(emu, "--json", "--state", str(state), "--max-events", str(len(every) - 5))
    assert rest.exit_code == 0, rest.output
    ids = [e["message"]["id"] for e in got + lines(rest)]
    assert sorted(ids) == sorted(every)  # each once, across the restart
    assert not list(tmp_path.glob("*.tmp"))  # no temporary files left behind


def test_readable_lines_and_inbound_only(tmp_path: Path) -> None:
    emu = small()
    result = run(emu, "--from-start", "--inbound", "--max-events", "3", "--interval", "0.05")
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()
    assert len(printed) == 3
    assert all(" <- " in line and "[chat " in line for line in printed)


def test_live_messages_arrive_on_a_churning_emulator() -> None:
    emu = Emulator(seed=1, chats=40, messages_per_chat=3, rate_limit=None, churn_per_s=20.0)
    result = run(emu, "--json", "--interval", "0.05", "--max-events", "4")
    assert result.exit_code == 0, result.output
    got = lines(result)
    assert len({e["message"]["id"] for e in got}) == 4
    assert all(e["message"]["id"] in emu.store._new for e in got)  # new ones, no backlog


def test_a_state_file_that_is_not_ours_is_a_usage_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"hello": 1}')
    emu = small()
    result = run(emu, "--state", str(state), "--max-events", "1")
    assert result.exit_code == 2
    assert "not a watch state file" in result.output
    assert emu.stats.requests == 0
    assert state.read_text() == '{"hello": 1}'  # left alone


def test_a_failed_state_write_stops_with_exit_1(tmp_path: Path) -> None:
    emu = small()
    state = tmp_path / "missing-dir" / "state.json"
    result = run(emu, "--from-start", "--state", str(state), "--max-events", "3")
    assert result.exit_code == 1
    assert "cannot write the state file" in result.output
    assert result.stdout.count("\n") <= 1  # it stopped instead of printing on unsaved


def test_save_state_is_atomic_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "s.json"
    save_state(state, "start")
    assert load_state(state) == "start"

    def broken(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    from smartsender_async.cli._app import CommandError

    with pytest.raises(CommandError, match="No space left"):
        save_state(state, {"v": 1})
    assert load_state(state) == "start"  # the old position is intact
    assert not list(tmp_path.glob("*.tmp"))


def test_ctrl_c_exits_130_with_the_position_saved(tmp_path: Path) -> None:
    state = tmp_path / "pos.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartsender_async.cli", "watch", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the demo's churn: a message arrives
        assert " <- " in line
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "position saved" in err
    assert "Traceback" not in err
    position = load_state(state)
    assert isinstance(position, dict) and position["v"] == 1
