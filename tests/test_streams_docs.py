"""Runs the python examples of the "Streaming" section, and checks its method table.

The examples are fragments that use an open ``client``, as the section says. They are
run in order, in one namespace (a later example may use a name an earlier one set), with
top-level ``await`` allowed, against an emulator, under asyncio and trio.
"""

from __future__ import annotations

import ast
import inspect
import re
from datetime import datetime, timezone
from typing import Any

import anyio
import pytest

from smartsender_async import SmartSender
from smartsender_async.testing import Emulator
from tests._readme import README, python_blocks, section

pytestmark = pytest.mark.filterwarnings("error")

DOC = README
TABLE_ROW = re.compile(r"^\| `client\.(\w+)\.(\w+)(\([^`]*\))` \|", re.MULTILINE)


def streaming_section() -> str:
    return section("Streaming")


def examples() -> list[str]:
    return python_blocks(streaming_section())


def plain_signature(method: Any) -> str:
    """``(chat_id, *, since=None, ...)``: a signature as the docs spell it, no annotations."""
    parts: list[str] = []
    star = False
    for parameter in inspect.signature(method).parameters.values():
        if parameter.kind is parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if parameter.default is parameter.empty:
            parts.append(parameter.name)
        else:
            parts.append(f"{parameter.name}={parameter.default!r}")
    return f"({', '.join(parts)})"


def test_the_section_has_examples() -> None:
    assert len(examples()) >= 5


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_examples_run_against_the_emulator(backend: str) -> None:
    # The examples compute dates from the real "now"; the emulator's data ends there too.
    now = datetime.now(timezone.utc)
    emulator = Emulator(seed=3, chats=45, messages_per_chat=45, rate_limit=None, epoch=now)

    async def session() -> None:
        async with emulator.client() as client:
            namespace: dict[str, Any] = {"client": client, "__name__": "streaming_md"}
            for number, source in enumerate(examples(), 1):
                code = compile(
                    source,
                    f"{DOC.name}:example {number}",
                    "exec",
                    flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                )
                pending = eval(code, namespace)  # a coroutine when the block awaits
                if pending is not None:
                    await pending

    anyio.run(session, backend=backend)
    assert emulator.stats.requests > 0
    assert set(emulator.stats.by_status) == {200}


def test_the_method_table_matches_the_client() -> None:
    rows = TABLE_ROW.findall(streaming_section())
    client = SmartSender("token")
    try:
        documented = {f"{area}.{name}": signature for area, name, signature in rows}
        public = {
            f"{area}.{name}": plain_signature(getattr(getattr(client, area), name))
            for area in ("chats", "contacts", "operators", "gates")
            for name in dir(getattr(client, area))
            if name.startswith("stream")
        }
        assert documented == public
    finally:
        anyio.run(client.aclose)
