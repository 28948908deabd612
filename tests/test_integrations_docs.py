"""Runs every python example of README.md's integration sections as a reader would, against the
emulator on loopback (and a throwaway redis-server where an example needs Redis).

A block whose first line is ``# <name>.py`` is a module of the reader's project: it is
written to a scratch directory and imported (apps) or run as a process (workers,
scripts).  Any other block is a script and is executed as is.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import logging
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from smartsender_async.testing import Emulator
from tests._readme import README, python_blocks, section
from tests._redis_server import redis_server

DOC = README
FILE_HEADER = re.compile(r"^# (\w+\.py)\n")
SECTIONS = ("Using with FastAPI", "Using with aiohttp", "In workers", "Logging and metrics")
PROCESS_TIMEOUT_S = 60
REMINDER = "We have not forgotten you: an operator will answer shortly."


def blocks(title: str) -> list[str]:
    return python_blocks(section(title))


def module_named(section: str, name: str, index: int = 0) -> str:
    found = [b for b in blocks(section) if (m := FILE_HEADER.match(b)) and m.group(1) == name]
    return found[index]


def load(source: str, tmp_path: Path, name: str) -> ModuleType:
    """Import ``source`` as a fresh module (a reader's ``app.py``)."""
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def served_emulator(monkeypatch: pytest.MonkeyPatch, chats: int) -> Iterator[Emulator]:
    """The emulator on loopback, with SMARTSENDER_TOKEN/BASE_URL pointing at it."""
    emulator = Emulator(seed=11, chats=chats)
    with emulator.serve() as url:
        monkeypatch.setenv("SMARTSENDER_TOKEN", emulator.token)
        monkeypatch.setenv("SMARTSENDER_BASE_URL", url)
        yield emulator


@contextlib.contextmanager
def no_resource_warnings() -> Iterator[None]:
    gc.collect()  # earlier tests' garbage must not count here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks


def unread_chats(emulator: Emulator) -> list[int]:
    return [c for c in emulator.chat_ids() if emulator.chat_status(c).unread_messages]


def texts_in(emulator: Emulator, chat_id: int) -> list[str]:
    texts = []
    for message_id in emulator.message_ids(chat_id):
        params = emulator.message(message_id)["content"]["resource"]["parameters"]
        texts.append(params.get("content", ""))
    return texts


def test_every_example_is_covered() -> None:
    assert len(blocks("Integrations")) == sum(len(blocks(s)) for s in SECTIONS)
    assert [len(blocks(s)) for s in SECTIONS] == [2, 1, 2, 1]


async def test_fastapi_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from tests.test_contrib_fastapi import serve_app

    module = load(module_named("Using with FastAPI", "app.py", 0), tmp_path, "fastapi_app")
    with no_resource_warnings(), served_emulator(monkeypatch, chats=8) as emulator:
        expected = unread_chats(emulator)
        with serve_app(module.app) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                response = await http.get("/inbox")
    assert response.status_code == 200, response.text
    assert expected and [chat["id"] for chat in response.json()] == expected


async def test_fastapi_app_with_a_shared_redis_limiter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("redis")
    from tests.test_contrib_fastapi import serve_app

    source = module_named("Using with FastAPI", "app.py", 1)
    module = load(source, tmp_path, "fastapi_redis_app")
    with (
        no_resource_warnings(),
        redis_server() as redis_url,
        served_emulator(monkeypatch, chats=4) as emulator,
    ):
        monkeypatch.setenv("REDIS_URL", redis_url)
        chat_id = emulator.chat_ids()[0]
        contact_id = emulator.contact_id_of(chat_id)
        with serve_app(module.app) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                response = await http.post(f"/contacts/{contact_id}/shipped")
    assert response.status_code == 200, response.text
    assert response.json()["message_id"] == emulator.message_ids(chat_id)[0]
    assert texts_in(emulator, chat_id)[0] == "Your order has shipped"


async def test_aiohttp_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    from aiohttp.test_utils import TestClient, TestServer

    module = load(module_named("Using with aiohttp", "app.py"), tmp_path, "aiohttp_app")
    with no_resource_warnings(), served_emulator(monkeypatch, chats=8) as emulator:
        expected = unread_chats(emulator)
        async with TestClient(TestServer(module.create_app(), host="127.0.0.1")) as http:
            response = await http.get("/inbox")
            assert response.status == 200, await response.text()
            answer = await response.json()
    assert expected and [chat["id"] for chat in answer] == expected


def run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    for bad in ("Traceback", "ResourceWarning", "Unclosed"):
        assert bad not in done.stdout, done.stdout
    return done.stdout


def test_arq_worker_and_enqueue_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("arq")
    for name in ("worker.py", "enqueue.py"):
        (tmp_path / name).write_text(module_named("In workers", name), encoding="utf-8")
    with redis_server() as redis_url, served_emulator(monkeypatch, chats=6) as emulator:
        to_remind = unread_chats(emulator)
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "PYTHONWARNINGS": "always::ResourceWarning",
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        # Enqueued twice: the job ids make the second run a no-op.
        run([sys.executable, "enqueue.py"], tmp_path, env)
        run([sys.executable, "enqueue.py"], tmp_path, env)
        # A burst worker runs every queued job, then shuts down (closing its client).
        output = run(
            [sys.executable, "-m", "arq", "worker.WorkerSettings", "--burst"], tmp_path, env
        )
    assert to_remind
    assert output.count("← reminder-") == len(to_remind)  # arq's "job finished" lines
    for chat_id in emulator.chat_ids():
        expected = 1 if chat_id in to_remind else 0
        assert texts_in(emulator, chat_id).count(REMINDER) == expected
    assert emulator.stats.by_endpoint["POST /contacts/{contactId}/send"] == len(to_remind)
    assert emulator.stats.locked == 0


def test_logging_and_metrics_script(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (source,) = blocks("Logging and metrics")
    sdk_logger = logging.getLogger("smartsender_async")
    root = logging.getLogger()
    level, handlers = sdk_logger.level, list(root.handlers)
    try:
        with no_resource_warnings(), served_emulator(monkeypatch, chats=8) as emulator:
            exec(compile(source, f"{DOC.name}:logging", "exec"), {"__name__": "__main__"})
            assert sdk_logger.isEnabledFor(logging.DEBUG)
    finally:
        sdk_logger.setLevel(level)
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
    out = capsys.readouterr().out
    assert re.search(r"^\d+ chats; 0 retries, \d+\.\d{3} s waiting", out, re.MULTILINE), out
    assert "'smartsender_attempt_total': 1" in out
    assert "'smartsender_status_200_total': 1" in out
    assert emulator.stats.requests == 1
