"""The examples of docs/guides/retries.md, run in-process as a reader would, with what they
must show: the defaults spelled out are the defaults, a 5xx is retried for a read and never
for a send, and a lock longer than ``max_wait`` is raised at once.

(The rate-limit and Redis examples moved to docs/guides/rate-limits.md, which its owner
tests; tests/test_docs_examples.py runs every block of every page as a script.)
"""

from __future__ import annotations

import pytest

from smartsender_async import RetryPolicy
from tests._docs import DOCS
from tests._readme import python_blocks, section

DOC = DOCS / "guides" / "retries.md"


def examples() -> list[str]:
    return python_blocks(DOC.read_text(encoding="utf-8"))


def run(source: str) -> None:
    exec(compile(source, f"{DOC.name}:example", "exec"), {"__name__": "__main__"})


def test_the_page_has_its_examples() -> None:
    assert len(examples()) == 3


def test_the_defaults_example_spells_out_the_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARTSENDER_TOKEN", "a-token-for-a-client-that-sends-nothing")
    (source,) = python_blocks(section("The defaults", DOC))
    run(source)
    assert capsys.readouterr().out.strip() == repr(RetryPolicy())


def test_a_read_is_retried_and_a_send_never(capsys: pytest.CaptureFixture[str]) -> None:
    (source,) = python_blocks(section("What is retried", DOC))
    run(source)  # asserts the emulator's counters itself
    out = capsys.readouterr().out.splitlines()
    assert out == ["GET: HTTP 500 after 3 retries", "send: HTTP 500 after 0 retries"]


def test_a_long_lock_is_raised_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    (source,) = python_blocks(section("When the token is locked", DOC))
    run(source)
    assert "locked, try again in 60 s; retries: 0" in capsys.readouterr().out


def test_the_table_names_what_is_never_retried() -> None:
    table = section("What is retried", DOC)
    for failure in ("ReadTimeout", "RemoteProtocolError", "HTTP 500, 502, 503, 504"):
        row = next(line for line in table.splitlines() if failure in line)
        assert row.rstrip(" |").endswith("**not retried**"), row
