"""Every ```python block of README.md and docs/**/*.md runs, as a reader would run it.

Each block is a complete script, run in a fresh subprocess in an empty temp dir against a
fresh ``Emulator.serve()`` on loopback (``SMARTSENDER_BASE_URL``/``SMARTSENDER_TOKEN``
set), so ``SmartSender()`` with no arguments works.  A block that cannot run standalone
starts with ``# not run: <reason>``; the reason is required.

The blocks selected for a session run a few at a time in threads (each in its own
process, with its own emulator), so the whole file takes roughly the slowest blocks'
time rather than their sum; each block is still its own test, named by file and line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests._docs import (
    DOCS,
    README,
    ROOT,
    Block,
    Outcome,
    blocks_in,
    doc_files,
    problems,
    python_blocks,
    run_block,
)
from tests._redis_server import redis_server

pytest.importorskip("uvicorn", reason="the docs blocks run against a served emulator")

BLOCKS = python_blocks()
RUNNABLE = [b for b in BLOCKS if b.skip_reason is None]
SKIPPED = [b for b in BLOCKS if b.skip_reason is not None]
PARALLEL = max(2, min(4, (os.cpu_count() or 2) * 2))


@pytest.fixture(scope="session")
def outcomes(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[Outcome]]]:
    """Start every selected block at once (a bounded pool); a test waits for its own."""
    wanted = {
        item.callspec.params["block"].where
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_block_runs" and hasattr(item, "callspec")
    }
    selected = [b for b in RUNNABLE if b.where in wanted]
    with contextlib.ExitStack() as stack:
        redis_url = None
        if any("REDIS_URL" in b.source for b in selected):
            with contextlib.suppress(pytest.skip.Exception):  # no redis-server: they fail
                redis_url = stack.enter_context(redis_server())
        pool = stack.enter_context(
            ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="docs-block")
        )
        futures = {}
        for number, block in enumerate(selected):
            extra = {}
            if redis_url is not None and "REDIS_URL" in block.source:
                extra["REDIS_URL"] = f"{redis_url.rstrip('/').rsplit('/', 1)[0]}/{number % 16}"
            futures[block.where] = pool.submit(run_block, block, extra_env=extra)
        try:
            yield futures
        finally:
            for future in futures.values():
                future.cancel()


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.where)
def test_block_runs(block: Block, outcomes: dict[str, Future[Outcome]]) -> None:
    outcome = outcomes[block.where].result()
    found = list(problems(outcome))
    assert not found, (
        f"{block.where}: {'; '.join(found)}\n--- stdout\n{outcome.stdout}"
        f"\n--- stderr\n{outcome.stderr}\n--- source\n{block.source}"
    )


@pytest.mark.parametrize("block", SKIPPED or [None], ids=lambda b: b.where if b else "none")
def test_a_skipped_block_says_why(block: Block | None) -> None:
    if block is None:
        pytest.skip("no block is marked '# not run'")
    assert block.skip_reason, (
        f"{block.where}: '# not run' needs a reason after a colon: "
        f"'# not run: <reason>', got {block.first_line!r}"
    )


def test_the_docs_have_blocks_to_run() -> None:
    # The collector must see blocks where we know there are some: a parser that found
    # nothing would pass every test above.
    assert any(b.path == README for b in RUNNABLE)
    assert sum(1 for b in RUNNABLE if b.path.is_relative_to(DOCS)) >= 20
    assert all(b.source.strip() for b in BLOCKS)


def test_every_page_is_read() -> None:
    files = doc_files()
    assert files[0] == README
    assert (DOCS / "index.md") in files and (DOCS / "guides" / "streams.md") in files
    assert ROOT / "CONTRIBUTING.md" in files  # rendered in the site through a snippet
    assert any(b.path == ROOT / "CONTRIBUTING.md" for b in SKIPPED)


def test_collector_handles_indentation_markers_and_other_languages(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "```python\nprint(1)\n```\n\n"
        '```bash\npython -c "print(2)"\n```\n\n'
        "- a list item with a block:\n\n"
        "    ```python\n    if True:\n        print(3)\n    ```\n\n"
        '!!! note\n    ```py title="x.py"\n    print(4)\n    ```\n\n'
        "````markdown\n```python\nprint('inside a 4-backtick fence: not a block')\n```\n````\n\n"
        "```python\n# not run: needs a real Smart Sender account\nprint(5)\n```\n\n"
        "```python\n# not run\nprint(6)\n```\n\n"
        "```python\n#   NOT RUN:   \nprint(7)\n```\n\n"
        "```python\n# app.py\nprint(8)\n```\n",
        encoding="utf-8",
    )
    blocks = blocks_in(page)
    assert [b.language for b in blocks] == [
        "python",
        "bash",
        "python",
        "py",
        "markdown",
        "python",
        "python",
        "python",
        "python",
    ]
    python = [b for b in blocks if b.language in ("python", "py")]
    assert python[1].source == "if True:\n    print(3)\n"  # dedented out of the list
    assert python[2].source == "print(4)\n"
    assert [b.skip_reason for b in python] == [
        None,
        None,
        None,
        "needs a real Smart Sender account",
        "",  # no colon, no reason: test_a_skipped_block_says_why fails on it
        "",  # a colon and only blanks
        None,
    ]
    assert [b.file_name for b in python] == ["example.py"] * 6 + ["app.py"]
    assert python[0].line == 3


def test_an_unclosed_fence_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n```python\nprint(1)\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="unclosed code fence"):
        blocks_in(page)


def test_the_runner_sees_the_emulator_and_reports_failures(tmp_path: Path) -> None:
    def block(source: str) -> Block:
        return Block(path=ROOT / "docs" / "scratch.md", line=1, language="python", source=source)

    ok = run_block(
        block(
            "import asyncio, os, pathlib\n"
            "from smartsender_async import SmartSender\n"
            "assert [p.name for p in pathlib.Path().iterdir()] == ['example.py']\n"
            "async def main():\n"
            "    async with SmartSender() as client:\n"
            "        page = await client.chats.list()\n"
            "    print(len(page), os.environ['SMARTSENDER_BASE_URL'])\n"
            "asyncio.run(main())\n"
        )
    )
    assert not list(problems(ok)), ok.stderr
    count, url = ok.stdout.split()
    assert count == "20" and url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert ok.requests == 1  # the block's own emulator saw exactly its one request

    failing = run_block(block("raise SystemExit(3)\n"))
    assert list(problems(failing)) == ["exit status 3"]

    leaking = run_block(
        block(
            "import warnings\nwarnings.warn('left open', ResourceWarning)\n"  # exits 0, but leaks
        )
    )
    assert list(problems(leaking)) == ["stderr shows 'ResourceWarning'"]

    hanging = run_block(block("import time\ntime.sleep(30)\n"), timeout=1.0)
    assert "exit status -1" in list(problems(hanging))
    assert "timed out" in hanging.stderr


def test_no_token_reaches_a_block_from_the_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSENDER_TOKEN", "a-real-token-that-must-not-leak")
    outcome = run_block(
        Block(
            path=ROOT / "docs" / "scratch.md",
            line=1,
            language="python",
            source="import os\nprint(os.environ['SMARTSENDER_TOKEN'])\n",
        )
    )
    assert outcome.stdout.strip() == "emulator-token"


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_blocks_are_formatted() -> None:
    # ruff formats the python blocks of Markdown files too; CI's `ruff format --check .`
    # covers them, and this names the file when one drifts.
    files = [str(p.relative_to(ROOT)) for p in doc_files()]
    done = subprocess.run(
        [shutil.which("ruff") or "ruff", "format", "--check", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_block_that_reads_redis_url_gets_a_redis_of_its_own() -> None:
    pytest.importorskip("redis")
    source = (
        "import os, redis\n"
        "client = redis.Redis.from_url(os.environ['REDIS_URL'])\n"
        "assert client.dbsize() == 0\n"
        "client.set('x', 1)\n"
        "print(os.environ['REDIS_URL'])\n"
        "client.close()\n"
    )
    block = Block(path=ROOT / "docs" / "scratch.md", line=1, language="python", source=source)
    with redis_server() as url:
        base = url.rstrip("/").rsplit("/", 1)[0]
        first = run_block(block, extra_env={"REDIS_URL": f"{base}/3"})
        other = run_block(block, extra_env={"REDIS_URL": f"{base}/4"})
    assert not list(problems(first)), first.stderr
    assert not list(problems(other)), other.stderr  # db 4 did not see db 3's key
