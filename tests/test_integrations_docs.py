"""Drives the apps of docs/guides/integrations.md (FastAPI, aiohttp) and the observer of
docs/guides/logging.md as a reader would, against the emulator on loopback (and a throwaway
redis-server where an example needs Redis), and checks what they answer.

tests/test_docs_examples.py runs every block as a script; this file goes further: a block
whose first line is ``# app.py`` is imported as the reader's module and served.  The
workers' examples (arq) are on docs/guides/workers.md, which their owner tests.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import logging
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
from tests._docs import DOCS, emulator_env
from tests._readme import python_blocks, section
from tests._redis_server import redis_server

DOC = DOCS / "guides" / "integrations.md"
LOGGING_DOC = DOCS / "guides" / "logging.md"
FILE_HEADER = re.compile(r"^# (\w+\.py)\n")
SECTIONS = ("FastAPI", "aiohttp")


def blocks(title: str, doc: Path = DOC) -> list[str]:
    return python_blocks(section(title, doc))


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
    assert len(python_blocks(DOC.read_text(encoding="utf-8"))) == sum(
        len(blocks(s)) for s in SECTIONS
    )
    assert [len(blocks(s)) for s in SECTIONS] == [3, 1]
    assert len(blocks("Hooks: the observer", LOGGING_DOC)) == 1


async def test_fastapi_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from tests.test_contrib_fastapi import serve_app

    module = load(module_named("FastAPI", "app.py", 0), tmp_path, "fastapi_app")
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

    source = module_named("FastAPI", "app.py", 1)
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

    module = load(module_named("aiohttp", "app.py"), tmp_path, "aiohttp_app")
    with no_resource_warnings(), served_emulator(monkeypatch, chats=8) as emulator:
        expected = unread_chats(emulator)
        async with TestClient(TestServer(module.create_app(), host="127.0.0.1")) as http:
            response = await http.get("/inbox")
            assert response.status == 200, await response.text()
            answer = await response.json()
    assert expected and [chat["id"] for chat in answer] == expected


def test_logging_and_metrics_script(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (source,) = blocks("Hooks: the observer", LOGGING_DOC)
    sdk_logger = logging.getLogger("smartsender_async")
    root = logging.getLogger()
    level, handlers = sdk_logger.level, list(root.handlers)
    try:
        with no_resource_warnings(), served_emulator(monkeypatch, chats=8) as emulator:
            exec(compile(source, f"{LOGGING_DOC.name}:observer", "exec"), {"__name__": "__main__"})
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


def test_logging_example_writes_one_line_per_attempt_and_never_the_token() -> None:
    (source,) = blocks("Logging", LOGGING_DOC)
    emulator = Emulator(seed=11, chats=8, token="tok-" + "s3cret" * 6)
    with emulator.serve() as url:
        done = subprocess.run(
            [sys.executable, "-c", source],
            env=emulator_env(url, emulator.token),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    attempts = [line for line in done.stderr.splitlines() if "GET /chats -> 200 in" in line]
    assert len(attempts) == 1, done.stderr
    assert attempts[0].startswith("smartsender_async DEBUG ")
    assert "s3cret" not in done.stderr + done.stdout
    assert "state=open" not in done.stderr  # the path, never the query
