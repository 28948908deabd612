"""Runs the python examples of the "Testing your app" section, as a reader would.

A block whose first line is ``# <file>.py`` is a file of a user's test suite: it is
written to a scratch project and run with pytest (``conftest.py`` included).  Any other
python block is a script and is executed as is.
"""

from __future__ import annotations

import re

import pytest

from tests._readme import README, python_blocks, section

pytest_plugins = ["pytester"]

DOC = README
FILE_HEADER = re.compile(r"^# (\w+\.py)\n")


def section_blocks() -> list[str]:
    return python_blocks(section("Testing your app"))


def scripts() -> list[str]:
    return [b for b in section_blocks() if not FILE_HEADER.match(b)]


def files() -> dict[str, str]:
    return {m.group(1): b for b in section_blocks() if (m := FILE_HEADER.match(b))}


def test_the_section_has_examples() -> None:
    assert len(scripts()) >= 2
    assert {"conftest.py", "test_inbox.py"} <= set(files())


@pytest.mark.parametrize("source", scripts(), ids=lambda s: s.splitlines()[-1][:40])
def test_script_examples_run(source: str) -> None:
    exec(compile(source, f"{DOC.name}:example", "exec"), {"__name__": "__main__"})


def test_pytest_examples_pass(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    for name, source in files().items():
        pytester.path.joinpath(name).write_text(source, encoding="utf-8")
    result = pytester.runpytest("-p", "anyio", "-p", "no:cacheprovider", "--strict-markers")
    outcomes = result.parseoutcomes()
    expected = sum(s.count("\ndef test_") + s.count("\nasync def test_") for s in files().values())
    # anyio may run each async test once per backend (asyncio, trio).
    assert outcomes.get("passed", 0) >= expected, result.stdout.str()
    assert set(outcomes) == {"passed"}, result.stdout.str()
