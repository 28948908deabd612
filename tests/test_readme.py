"""README's quickstart, FastAPI example, resource and error examples, run for real."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from smartsender_async.testing import Emulator
from tests._readme import python_blocks, run_fragments, section


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(seed=7, chats=30, messages_per_chat=25, rate_limit=None)
    with emulator.serve() as url:
        yield emulator, url


def test_quickstart_runs_as_a_new_user_would(served: tuple[Emulator, str]) -> None:
    emulator, url = served
    (script,) = python_blocks(section("Quickstart"))[:1]
    env = {**os.environ, "SMARTSENDER_TOKEN": emulator.token, "SMARTSENDER_BASE_URL": url}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("page 1 of ")
    first_chat = str(emulator.chat_ids()[0])
    assert any(line.startswith(first_chat + " ") for line in lines[1:])
    assert emulator.stats.by_endpoint["GET /chats"] == 1


def test_fastapi_lifespan_example(
    served: tuple[Emulator, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi", reason="the FastAPI example needs fastapi installed")
    from fastapi.testclient import TestClient

    emulator, url = served
    monkeypatch.setenv("SMARTSENDER_TOKEN", emulator.token)
    monkeypatch.setenv("SMARTSENDER_BASE_URL", url)
    (source,) = python_blocks(section("In a FastAPI app"))
    namespace: dict[str, Any] = {"__name__": "readme_fastapi"}
    exec(compile(source, "README:fastapi", "exec"), namespace)
    with TestClient(namespace["app"]) as http:
        response = http.get("/inbox")
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    assert emulator.stats.by_endpoint["GET /chats"] == 1


async def test_resource_and_error_examples() -> None:
    emulator = Emulator(seed=3, chats=25, messages_per_chat=30, rate_limit=None)
    async with emulator.client() as client:
        namespace: dict[str, Any] = {"client": client, "__name__": "readme"}
        await run_fragments(python_blocks(section("Resources")), namespace, "resources")
        await run_fragments(python_blocks(section("Errors")), namespace, "errors")
    chat = namespace["chat"]
    assert emulator.chat_status(chat.id).state == "closed"
    assert namespace["missing"] is None
    sent = namespace["sent"]
    assert sent.id not in emulator.message_ids(chat.id)  # deleted by the gates example
    by_endpoint = emulator.stats.by_endpoint
    assert by_endpoint["POST /contacts/{contactId}/send"] == 5
    assert by_endpoint["PUT /gates/{gateId}/messages"] == 1
    assert by_endpoint["DELETE /gates/{gateId}/messages"] == 1
