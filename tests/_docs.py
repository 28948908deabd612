"""Find the code blocks of README.md and docs/**/*.md, and run one as a reader would.

The contract every page is written to (CONTRIBUTING.md, "Docs"):

* every fenced ```python block is a complete, standalone script;
* it runs in a fresh subprocess, in an empty temporary directory, with
  ``SMARTSENDER_BASE_URL`` set to a loopback ``Emulator.serve()`` URL (a fresh default
  emulator per block: seed 0, Smart Sender's quota) and ``SMARTSENDER_TOKEN`` to its token,
  so ``SmartSender()`` with no arguments talks to that emulator;
* a block that cannot run standalone starts with the line ``# not run: <reason>``, and the
  reason is required;
* a block that mentions ``REDIS_URL`` finds it set to a throwaway ``redis-server`` on
  loopback (a database of its own), when one is installed.

A block whose first line is ``# <name>.py`` is written under that name (a module of the
reader's project, such as ``app.py``); any other block is written as ``example.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

#: A fence opens with three or more backticks (or tildes), possibly indented (inside a list
#: or an admonition), and closes with the same fence at the same indentation.
_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
NOT_RUN = re.compile(r"^#\s*not\s+run\b(?P<rest>.*)$", re.IGNORECASE)
FILE_HEADER = re.compile(r"^# (?P<name>[A-Za-z_]\w*\.py)\s*$")
#: A script that leaks shows it on stderr even when it exits 0.
LEAK_MARKERS = (
    "Traceback (most recent call last)",
    "ResourceWarning",
    "UnclosedClientWarning",
    "Task was destroyed but it is pending",
    "Unclosed client session",
    "coroutine was never awaited",
)
BLOCK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language and its source (dedented)."""

    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    source: str

    @property
    def where(self) -> str:
        """``docs/guides/streams.md:42``: the id a failure names."""
        return f"{shown(self.path)}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.source.split("\n", 1)[0].strip()

    @property
    def skip_reason(self) -> str | None:
        """The reason after ``# not run:``, ``""`` when the marker has none, else None."""
        match = NOT_RUN.match(self.first_line)
        if match is None:
            return None
        rest = match.group("rest").strip()
        if not rest.startswith(":"):
            return ""
        return rest[1:].strip()

    @property
    def file_name(self) -> str:
        match = FILE_HEADER.match(self.first_line)
        return match.group("name") if match else "example.py"


def shown(path: Path) -> str:
    """``path`` relative to the checkout when it is inside it."""
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def doc_files() -> list[Path]:
    """README.md, every Markdown page under docs/, and the two top-level files the site
    includes (CONTRIBUTING.md, CHANGELOG.md), in a stable order."""
    included = [ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
    return [README, *sorted(DOCS.rglob("*.md")), *(p for p in included if p.exists())]


def blocks_in(path: Path) -> list[Block]:
    """Every fenced block of ``path``, any language, in order."""
    lines = path.read_text(encoding="utf-8").split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        info = opening.group("info").strip()
        language = re.split(r"[\s{]", info, maxsplit=1)[0].lower() if info else ""
        body: list[str] = []
        j = i + 1
        closing = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        while j < len(lines) and not closing.match(lines[j]):
            body.append(lines[j])
            j += 1
        if j == len(lines):
            raise AssertionError(f"{shown(path)}:{i + 1}: unclosed code fence")
        source = textwrap.dedent("\n".join(body)) + "\n"
        found.append(Block(path=path, line=i + 1, language=language, source=source))
        i = j + 1
    return found


def python_blocks(paths: list[Path] | None = None) -> list[Block]:
    """Every ```python block of README.md and docs/ (or of ``paths``)."""
    return [
        block
        for path in (doc_files() if paths is None else paths)
        for block in blocks_in(path)
        if block.language in PYTHON_LANGUAGES
    ]


@dataclass(frozen=True)
class Outcome:
    block: Block
    returncode: int
    stdout: str
    stderr: str
    requests: int  # requests the block's emulator received


def emulator_env(url: str, token: str) -> dict[str, str]:
    """The reader's environment: the SDK pointed at the emulator, this checkout importable."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SMARTSENDER_", "PYTEST_", "COV_"))
    }
    env.update(
        {
            "SMARTSENDER_BASE_URL": url,
            "SMARTSENDER_TOKEN": token,
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONWARNINGS": "always::ResourceWarning",
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        }
    )
    return env


def run_block(
    block: Block, timeout: float = BLOCK_TIMEOUT_S, extra_env: dict[str, str] | None = None
) -> Outcome:
    """Run ``block`` as ``python <file>`` in a fresh temp dir against a fresh served emulator
    (``extra_env``, such as a ``REDIS_URL``, is added to its environment)."""
    from smartsender_async.testing import Emulator

    emulator = Emulator()  # the default project and Smart Sender's quota
    with tempfile.TemporaryDirectory(prefix="docs-block-") as scratch, emulator.serve() as url:
        script = Path(scratch) / block.file_name
        script.write_text(block.source, encoding="utf-8")
        try:
            done = subprocess.run(
                [sys.executable, script.name],
                cwd=scratch,
                env={**emulator_env(url, emulator.token), **(extra_env or {})},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
            return Outcome(block, -1, out, err + f"\n[timed out after {timeout:g} s]", 0)
    return Outcome(block, done.returncode, done.stdout, done.stderr, emulator.stats.requests)


def problems(outcome: Outcome) -> Iterator[str]:
    """What is wrong with a run: a failure, or a leak reported on stderr."""
    if outcome.returncode != 0:
        yield f"exit status {outcome.returncode}"
    for marker in LEAK_MARKERS:
        if marker in outcome.stderr:
            yield f"stderr shows {marker!r}"
