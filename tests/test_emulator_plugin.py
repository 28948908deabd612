"""The pytest plugin: fixtures, marker, the entry point that loads it, and the explicit
ways to enable it when plugin autoloading is off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

# The inner runs need no installed plugins (pytest-asyncio would warn about its config).
QUIET = ("-p", "no:cacheprovider")


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


USER_TESTS = """
import anyio
import httpx
import pytest


def test_default_emulator(smartsender_emulator):
    assert smartsender_emulator.quota is None
    assert len(smartsender_emulator.chat_ids()) == 50


def test_fresh_per_test(smartsender_emulator):
    assert smartsender_emulator.stats.requests == 0
    chat_id = smartsender_emulator.chat_ids()[0]

    async def close():
        async with smartsender_emulator.http_client() as http:
            await http.put(f"/chats/{chat_id}/close")

    anyio.run(close)
    assert smartsender_emulator.stats.requests == 1


@pytest.mark.smartsender_emulator(chats=3, rate_limit=(180, 60))
def test_marker_options(smartsender_emulator):
    assert len(smartsender_emulator.chat_ids()) == 3
    assert smartsender_emulator.quota.limit == 180


def test_served_on_loopback(smartsender_emulator, smartsender_emulator_url):
    assert smartsender_emulator_url.startswith("http://127.0.0.1:")
    response = httpx.get(
        smartsender_emulator_url + "/operators",
        headers={"Authorization": "Bearer " + smartsender_emulator.token},
    )
    assert response.status_code == 200
    assert smartsender_emulator.stats.by_endpoint == {"GET /operators": 1}
"""


def test_enabled_with_dash_p(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(
        *QUIET, "-p", "smartsender_async.testing.pytest_plugin", "--strict-markers"
    )
    result.assert_outcomes(passed=4)


def test_enabled_from_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["smartsender_async.testing.pytest_plugin"]')
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.runpytest(*QUIET, "--strict-markers").assert_outcomes(passed=4)


def test_not_loaded_when_autoload_is_off_and_not_asked_for(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(smartsender_emulator):\n    pass\n")
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'smartsender_emulator' not found*"])


def test_declared_as_a_pytest11_entry_point_named_like_its_module() -> None:
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    name = "smartsender_async.testing.pytest_plugin"
    assert found.get(name) == name


def test_autoloaded_and_also_listed_in_conftest_loads_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    pytester.makeconftest('pytest_plugins = ["smartsender_async.testing.pytest_plugin"]')
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.runpytest_subprocess(*QUIET, "--strict-markers").assert_outcomes(passed=4)


def test_importing_the_emulator_and_plugin_does_not_need_uvicorn() -> None:
    code = (
        "import sys, smartsender_async.testing, smartsender_async.testing.pytest_plugin\n"
        "assert 'uvicorn' not in sys.modules, 'uvicorn imported eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
