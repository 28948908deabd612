"""Every ``smartsender`` command through its real entry point, and the exit codes.

In-process runs go through the click group that ``main()`` runs (``CliRunner``), with an
emulator passed as ``obj`` so that state persists between invocations.  A few runs go
through the installed entry points in a subprocess: ``python -m smartsender_async.cli``
and the console-script target named in pyproject.toml.
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

from smartsender_async.cli import cli, main
from smartsender_async.testing import Emulator

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if not k.startswith("SMARTSENDER_")}
ENV["PYTHONPATH"] = str(ROOT)


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=21, chats=30, messages_per_chat=12, operators=3, rate_limit=None)


def run(emulator: Emulator, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--emulator", *args], obj=emulator)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- chats


def test_chats_table_and_json(emulator: Emulator) -> None:
    table = run(emulator, "chats", "--limit", "5")
    assert table.exit_code == 0, table.output
    first = emulator.chat(emulator.chat_ids()[0])
    assert str(first["id"]) in table.stdout and first["name"].split()[0] in table.stdout
    assert "using the built-in emulator" in table.stderr
    listed = run(emulator, "chats", "--limit", "7", "--json")
    assert [c["id"] for c in json_lines(listed.stdout)] == emulator.chat_ids()[:7]
    assert json_lines(listed.stdout)[0] == first  # every field the server sent
    everything = run(emulator, "chats", "--limit", "0", "--json")
    assert len(json_lines(everything.stdout)) == 30


def test_chats_filters(emulator: Emulator) -> None:
    ids = emulator.chat_ids()
    assert run(emulator, "close", str(ids[3])).exit_code == 0
    closed = json_lines(run(emulator, "chats", "--state", "closed", "--json").stdout)
    assert ids[3] in [c["id"] for c in closed]
    assert all(emulator.chat_status(c["id"]).state == "closed" for c in closed)
    unread = json_lines(run(emulator, "chats", "--unread", "--limit", "0", "--json").stdout)
    assert unread and all(c["unreadMessages"] > 0 for c in unread)
    operator = emulator.operator_ids()[1]
    assert run(emulator, "assign", str(ids[5]), str(operator)).exit_code == 0
    mine = json_lines(run(emulator, "chats", "--operator", str(operator), "--json").stdout)
    assert ids[5] in [c["id"] for c in mine]
    name = emulator.chat(ids[8])["name"].split()[0]
    found = json_lines(run(emulator, "chats", "--term", name, "--json").stdout)
    assert ids[8] in [c["id"] for c in found]
    nothing = run(emulator, "chats", "--term", "no such name zzz")
    assert nothing.exit_code == 0 and "no chats match" in nothing.stderr


def test_chats_usage_errors(emulator: Emulator) -> None:
    both = run(emulator, "chats", "--unread", "--operator", "101")
    assert both.exit_code == 2 and "cannot be combined" in both.stderr
    assert run(emulator, "chats", "--state", "sleeping").exit_code == 2
    assert run(emulator, "chats", "--term", " ").exit_code == 2
    assert emulator.stats.requests == 0


# --------------------------------------------------------------------------- one chat


def test_chat_shows_one_chat(emulator: Emulator) -> None:
    chat_id = emulator.chat_ids()[2]
    shown = run(emulator, "chat", str(chat_id))
    assert shown.exit_code == 0
    assert emulator.chat(chat_id)["name"] in shown.stdout
    as_json = run(emulator, "chat", str(chat_id), "--json")
    assert json.loads(as_json.stdout) == emulator.chat(chat_id)


def test_unknown_chat_is_an_api_error(emulator: Emulator) -> None:
    missing = run(emulator, "chat", "1")
    assert missing.exit_code == 1
    assert "not found" in missing.stderr and "Traceback" not in missing.output
    assert run(emulator, "chat", "0").exit_code == 2
    assert run(emulator, "chat", "abc").exit_code == 2


def test_messages_newest_first_with_limit_since_and_json(emulator: Emulator) -> None:
    chat_id = emulator.chat_ids()[0]
    newest = emulator.message_ids(chat_id, activities=False)
    listed = run(emulator, "messages", str(chat_id), "--limit", "4", "--json")
    assert listed.exit_code == 0, listed.output
    assert [m["id"] for m in json_lines(listed.stdout)] == newest[:4]
    assert all(m == emulator.message(m["id"]) for m in json_lines(listed.stdout))
    table = run(emulator, "messages", str(chat_id), "--limit", "3")
    assert str(newest[0]) in table.stdout
    with_activities = run(emulator, "messages", str(chat_id), "--limit", "0", "--activities")
    assert with_activities.exit_code == 0
    pivot = emulator.message(newest[5])["createdAt"]
    since = run(emulator, "messages", str(chat_id), "--since", pivot, "--limit", "0", "--json")
    got = [m["id"] for m in json_lines(since.stdout)]
    assert got == [m for m in newest if emulator.message(m)["createdAt"] >= pivot]
    recent = run(emulator, "messages", str(chat_id), "--since", "2h", "--json")
    assert recent.exit_code == 0  # the demo history is older than 2 hours of real time
    bad = run(emulator, "messages", str(chat_id), "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "expected a date" in bad.stderr


# --------------------------------------------------------------------------- writes


def test_read_close_assign(emulator: Emulator) -> None:
    chat_id = next(c for c in emulator.chat_ids() if emulator.chat_status(c).unread_messages)
    assert run(emulator, "read", str(chat_id)).stdout == f"chat {chat_id}: marked as read\n"
    assert emulator.chat_status(chat_id).unread_messages == 0
    assert run(emulator, "close", str(chat_id)).exit_code == 0
    assert emulator.chat_status(chat_id).state == "closed"
    operator = emulator.operator_ids()[0]
    done = run(emulator, "assign", str(chat_id), str(operator), "--text", "VIP")
    assert done.exit_code == 0, done.output
    assert emulator.chat_status(chat_id).operator_id == operator
    assert run(emulator, "assign", str(chat_id), "999").exit_code == 1  # no such operator
    assert run(emulator, "assign", str(chat_id), str(operator), "--text", "").exit_code == 2


@pytest.mark.parametrize(
    ("options", "content"),
    [
        (["--text", "Hello from the CLI"], {"content": "Hello from the CLI"}),
        (["--picture", "https://example.com/p.jpg"], {"url": "https://example.com/p.jpg"}),
        (["--file", "https://example.com/f.pdf"], {"url": "https://example.com/f.pdf"}),
        (["--video", "https://example.com/v.mp4"], {"url": "https://example.com/v.mp4"}),
        (["--audio", "https://example.com/a.mp3"], {"url": "https://example.com/a.mp3"}),
        (["--voice", "https://example.com/v.ogg"], {"url": "https://example.com/v.ogg"}),
        (["--animation", "https://example.com/a.gif"], {"url": "https://example.com/a.gif"}),
        (["--location", "50.45,30.52", "--title", "Shop"], {"latitude": 50.45}),
        (["--contact-card", "Support", "+380441234567"], {"phoneNumber": "+380441234567"}),
    ],
)
def test_send_every_type(
    emulator: Emulator, options: list[str], content: dict[str, object]
) -> None:
    chat_id = emulator.chat_ids()[4]
    contact_id = emulator.contact_id_of(chat_id)
    sent = run(emulator, "send", str(contact_id), *options, "--json")
    assert sent.exit_code == 0, sent.output
    message = json.loads(sent.stdout)
    stored = emulator.message(message["id"])
    assert message == stored
    assert content.items() <= stored["content"]["resource"]["parameters"].items()
    assert emulator.message_ids(chat_id)[0] == message["id"]
    plain = run(emulator, "send", str(contact_id), *options)
    assert re.fullmatch(rf"sent message \d+ to contact {contact_id}\n", plain.stdout)


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--text", "a", "--picture", "https://example.com/p.jpg"],
        ["--text", ""],
        ["--location", "north"],
        ["--location", "95,10"],
        ["--text", "a", "--title", "t"],
    ],
)
def test_send_usage_errors(emulator: Emulator, options: list[str]) -> None:
    result = run(emulator, "send", str(emulator.contact_id_of(emulator.chat_ids()[0])), *options)
    assert result.exit_code == 2, result.output
    assert emulator.stats.requests == 0


# --------------------------------------------------------------------------- global options


def test_rate_lock_prints_retry_after() -> None:
    locked = Emulator(seed=1, chats=5, rate_limit=(1, 60.0))
    assert run(locked, "chats", "--limit", "1").exit_code == 0
    result = run(locked, "chats", "--limit", "1")
    assert result.exit_code == 1
    assert "rate-limited" in result.stderr and "retry after 60 s" in result.stderr


def test_bad_token_is_exit_1_without_echoing_it(emulator: Emulator) -> None:
    with emulator.serve() as url:
        result = CliRunner().invoke(cli, ["--base-url", url, "--token", "s3cret", "chats"])
    assert result.exit_code == 1
    assert "refused the token" in result.stderr
    assert "s3cret" not in result.output


def test_connection_error_is_exit_1() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(
        cli, ["--base-url", f"http://127.0.0.1:{port}/v1", "--token", "t", "chat", "1"]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output and result.stderr.startswith("Error:")


def test_global_option_usage_errors() -> None:
    runner = CliRunner(env={"SMARTSENDER_TOKEN": ""})
    both = runner.invoke(cli, ["--emulator", "--base-url", "http://x/v1", "chats"])
    assert both.exit_code == 2 and "exclude each other" in both.stderr
    no_token = runner.invoke(cli, ["--base-url", "http://127.0.0.1:9/v1", "chats"])
    assert no_token.exit_code == 2 and "needs a token" in no_token.stderr
    bad_url = runner.invoke(cli, ["--base-url", "ftp://x", "--token", "t", "chat", "1"])
    assert bad_url.exit_code == 2 and "base_url" in bad_url.stderr
    assert runner.invoke(cli, ["no-such-command"]).exit_code == 2
    assert runner.invoke(cli, ["--rate", "fast", "chats"]).exit_code == 2


def test_token_and_base_url_from_the_environment(emulator: Emulator) -> None:
    with emulator.serve() as url:
        env = {"SMARTSENDER_TOKEN": emulator.token, "SMARTSENDER_BASE_URL": url}
        result = CliRunner(env=env).invoke(cli, ["--rate", "off", "chats", "--json"])
    assert result.exit_code == 0, result.output
    assert "emulator" not in result.stderr  # a real connection: no demo note
    assert len(json_lines(result.stdout)) == 20


# --------------------------------------------------------------------------- entry points


def _console_script_target() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^smartsender\s*=\s*"([\w.]+):(\w+)"', text, re.MULTILINE)
    assert match, "pyproject.toml declares no smartsender console script"
    return f"from {match[1]} import {match[2]} as entry"


def test_readme_first_command_exports_the_demo_project(tmp_path: Path) -> None:
    """`smartsender export demo-export`, through the console script's own target."""
    code = f"import sys; {_console_script_target()}; sys.exit(entry())"
    proc = subprocess.run(
        [sys.executable, "-c", code, "export", "demo-export"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no token" in proc.stderr and "demo project" in proc.stderr
    assert "export completed" in proc.stderr and proc.stdout == ""
    out = tmp_path / "demo-export"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["emulator"] is True
    assert manifest["files"]["chats.jsonl"]["lines"] == 300
    assert manifest["files"]["messages.jsonl"]["lines"] == 9000


def test_python_dash_m_and_exit_codes() -> None:
    def cli_run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "smartsender_async.cli", *args]
        return subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False)

    version = cli_run("--version")
    assert version.returncode == 0 and "smartsender, version" in version.stdout
    assert cli_run("chats", "--bogus").returncode == 2
    missing = cli_run("chat", "1")
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_main_returns_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert main(["chat", "nope"]) == 2
    capsys.readouterr()


def test_emulator_serve_until_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartsender_async.cli", "emulator", "serve", "--chats", "7"],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()  # printed once it accepts connections
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url), url
        headers = {"Authorization": "Bearer emulator-token"}
        page = httpx.get(f"{url}/chats", headers=headers).json()
        assert page["cursor"] == {"page": 1, "pages": 1} and len(page["collection"]) == 7
        listed = CliRunner().invoke(
            cli, ["--base-url", url, "--token", "emulator-token", "chats", "--json"]
        )
        assert len(json_lines(listed.stdout)) == 7
        # The quota is on by default (180/60), like the real API.
        assert httpx.get(f"{url}/chats", headers={"Authorization": "Bearer x"}).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    assert "emulator ready" in stderr


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("chats", "chat", "messages", "read", "close", "assign", "send", "export"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
    assert "emulator" in result.stdout and "SMARTSENDER_TOKEN" in result.stdout


def test_the_docs_demo_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `smartsender ...` line of the docs' CLI pages that needs no token of yours runs
    (``watch`` runs until interrupted: its page is tested on its own)."""
    import shlex

    docs = Path(__file__).parent.parent / "docs"
    pages = ("getting-started.md", "guides/export.md", "guides/contacts-cli.md")
    text = "".join((docs / page).read_text(encoding="utf-8") for page in pages)
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            line = line.split("#")[0].split("&&")[-1].strip()
            if (
                line.startswith("smartsender ")
                and not re.search(r"[~&]|--token|--base-url", line)
                and not line.startswith("smartsender watch")
            ):
                commands.append(shlex.split(line)[1:])
    assert ["export", "demo-export"] in commands and len(commands) >= 4
    commands.remove(["export", "demo-export"])  # run through the console script above
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"SMARTSENDER_TOKEN": "", "SMARTSENDER_BASE_URL": ""})
    for args in commands:
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        assert "demo project" in result.stderr
