"""docs/guides/streams.md: its method table matches the client, and its examples say what
they promise (tests/test_docs_examples.py runs each as a script; here they also run in
this process, on an emulator with no quota, and what they print is checked).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import anyio
import pytest

from smartsender_async import SmartSender
from smartsender_async.testing import Emulator
from tests._docs import DOCS
from tests._readme import python_blocks, section

pytestmark = pytest.mark.filterwarnings("error")

DOC = DOCS / "guides" / "streams.md"
TABLE_ROW = re.compile(r"^\| `client\.(\w+)\.(\w+)(\([^`]*\))` \|", re.MULTILINE)


def streaming_section() -> str:
    return DOC.read_text(encoding="utf-8")


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


def test_stopping_early_costs_one_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (source,) = python_blocks(section("Stopping early", DOC))
    emulator = Emulator(seed=3, chats=45, rate_limit=None)
    with emulator.serve() as url:
        monkeypatch.setenv("SMARTSENDER_TOKEN", emulator.token)
        monkeypatch.setenv("SMARTSENDER_BASE_URL", url)
        exec(compile(source, f"{DOC.name}:stopping", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert out.strip().endswith("1 request")
    assert emulator.stats.requests == 1  # nothing more was sent after the break


def test_limit_25_reads_two_pages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = next(b for b in examples() if "limit=25" in b)
    emulator = Emulator(seed=3, chats=100, rate_limit=None)
    with emulator.serve() as url:
        monkeypatch.setenv("SMARTSENDER_TOKEN", emulator.token)
        monkeypatch.setenv("SMARTSENDER_BASE_URL", url)
        exec(compile(source, f"{DOC.name}:limit", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip() == "25"
    assert emulator.stats.by_endpoint["GET /chats"] == 2


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
