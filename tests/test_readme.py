"""README.md is short, says the two commands, runs, and points at pages that exist; CI runs
exactly the test command it shows; the getting-started page's first calls work as a new
user would run them."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartsender_async.testing import Emulator
from tests._docs import DOCS, README, ROOT, blocks_in, emulator_env
from tests._readme import python_blocks, section

README_TEXT = README.read_text(encoding="utf-8")
CI_RUN = ROOT / ".ci" / "run"
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def shell_commands(text: str) -> list[str]:
    return [
        line.strip()
        for block in blocks_in(README)
        if block.language in ("bash", "sh", "console")
        for line in block.source.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_readme_is_short() -> None:
    lines = README_TEXT.count("\n")
    assert lines <= 200, f"README.md has {lines} lines; the bar is 200 (250 at most)"


def test_readme_shows_the_two_commands() -> None:
    commands = shell_commands(README_TEXT)
    assert "pip install -e '.[cli]' && smartsender export demo-export" in commands
    assert any(c.startswith("python -m pytest") for c in commands)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    (readme_command,) = [c for c in shell_commands(README_TEXT) if c.startswith("python -m pytest")]
    ci_lines = [line.strip() for line in CI_RUN.read_text(encoding="utf-8").splitlines()]
    assert readme_command in ci_lines
    assert "mkdocs build --strict" in readme_command
    for part in ("python -m pytest", "ruff check .", "ruff format --check .", "mypy"):
        assert part in readme_command


def test_ci_installs_everything_the_command_needs_from_scratch() -> None:
    script = CI_RUN.read_text(encoding="utf-8")
    assert "rm -rf .venv" in script and "python3 -m venv .venv" in script
    install = next(line for line in script.splitlines() if "pip install -q -e" in line)
    extras = re.search(r"\.\[([\w,]+)\]", install)
    assert extras is not None
    assert {"test", "lint", "docs"} <= set(extras.group(1).split(","))


def test_readme_has_one_short_example() -> None:
    (example,) = python_blocks(README_TEXT)
    assert len(example.strip().splitlines()) <= 20
    assert "SmartSender()" in example


def test_readme_lists_the_features_being_built() -> None:
    features = section("Features")
    for feature in ("client.watch()", "OpenTelemetry", "httpx2", "The whole API"):
        assert feature in features, feature


def test_readme_links_resolve() -> None:
    targets = [m.group(1) for m in LINK.finditer(README_TEXT)]
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert len(local) >= 10
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing
    assert "docs/index.md" in local and "CONTRIBUTING.md" in local and "CHANGELOG.md" in local


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(seed=7, chats=30, messages_per_chat=25)
    with emulator.serve() as url:
        yield emulator, url


def run_script(source: str, url: str, token: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", source],
        env=emulator_env(url, token),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_readme_example_answers_unread_chats(served: tuple[Emulator, str]) -> None:
    emulator, url = served
    unread_before = [c for c in emulator.chat_ids() if emulator.chat_status(c).unread_messages]
    (example,) = python_blocks(README_TEXT)
    lines = run_script(example, url, emulator.token)
    answered = unread_before[:3]
    assert all(emulator.chat_status(c).unread_messages == 0 for c in answered)
    stats = emulator.stats.by_endpoint
    assert stats["POST /contacts/{contactId}/send"] == len(answered) == 3
    assert stats["PUT /chats/{chatId}/read"] == 3
    assert 0 < len(lines) <= 30  # limit=30
    assert emulator.stats.locked == 0


def test_getting_started_first_call_on_a_token(served: tuple[Emulator, str]) -> None:
    emulator, url = served
    page = DOCS / "getting-started.md"
    (script,) = python_blocks(section("The same call, on your project", page))
    lines = run_script(script, url, emulator.token)
    assert lines[0].startswith("page 1 of ")
    first_chat = str(emulator.chat_ids()[0])
    assert any(line.startswith(first_chat + " ") for line in lines[1:])
    assert emulator.stats.by_endpoint["GET /chats"] == 1


def test_getting_started_first_call_needs_no_token_and_no_network(
    served: tuple[Emulator, str],
) -> None:
    emulator, _url = served
    page = DOCS / "getting-started.md"
    (script,) = python_blocks(section("A first call, with no token", page))
    assert "Emulator(" in script and "SmartSender(" not in script
    # No SMARTSENDER_TOKEN at all, and a base URL nobody listens on: it still works.
    env = {
        k: v
        for k, v in emulator_env("http://127.0.0.1:9/v1", "unused").items()
        if k != "SMARTSENDER_TOKEN"
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("page 1 of ")
    assert emulator.stats.requests == 0  # the served one was never asked


def test_the_demo_commands_of_readme_and_getting_started_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every `smartsender ...` line of README and the getting-started page runs on the
    built-in demo project, with no token of yours."""
    pytest.importorskip("click")
    from click.testing import CliRunner

    from smartsender_async.cli import cli

    commands = []
    for path in (README, DOCS / "getting-started.md"):
        for block in blocks_in(path):
            if block.language != "bash":
                continue
            for line in block.source.splitlines():
                line = line.split("#")[0].split("&&")[-1].strip()
                if line.startswith("smartsender "):
                    commands.append(shlex.split(line)[1:])
    assert ["export", "demo-export"] in commands and ["chats", "--unread"] in commands
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"SMARTSENDER_TOKEN": "", "SMARTSENDER_BASE_URL": ""})
    for args in commands:
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        assert "demo project" in result.stderr
    manifest = json.loads((tmp_path / "demo-export" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
