"""The pytest plugin's marker refuses positional arguments (issue 13 item 11); clients made
by its fixtures and by ``emulator.client()`` pace at the emulator's own quota, or not at
all when it has none (item 12)."""

from __future__ import annotations

import pytest

from smartsender_async import InMemoryRateLimiter, RateLimit
from smartsender_async.testing import Emulator

pytest_plugins = ["pytester"]

QUIET = ("-p", "no:cacheprovider", "-p", "smartsender_async.testing.pytest_plugin")


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


USER_TESTS = """
import anyio
import pytest
from smartsender_async import RateLimit


@pytest.mark.smartsender_emulator(3)
def test_positional(smartsender_emulator):
    pass


@pytest.mark.smartsender_emulator(chats=3)
def test_keywords(smartsender_emulator):
    assert len(smartsender_emulator.chat_ids()) == 3


def test_client_fixture_has_no_limiter_by_default(smartsender_client, smartsender_emulator):
    assert smartsender_client.rate_limiter is None

    async def use():
        page = await smartsender_client.chats.list()
        assert len(page.items) == 20

    anyio.run(use)
    assert smartsender_emulator.stats.requests == 1


@pytest.mark.smartsender_emulator(rate_limit=(30, 2.0))
def test_client_fixture_paces_at_the_marker_quota(smartsender_client):
    assert smartsender_client.rate_limiter.rate == RateLimit(30, 2.0)


@pytest.mark.smartsender_emulator(rate_limit=(30, 2.0))
def test_client_over_sockets_paces_at_the_quota(smartsender_emulator, smartsender_emulator_url):
    client = smartsender_emulator.client(base_url=smartsender_emulator_url)
    assert client.base_url == smartsender_emulator_url
    assert client.rate_limiter.rate == RateLimit(30, 2.0)

    async def use():
        async with client:
            await client.operators.list()

    anyio.run(use)
    assert smartsender_emulator.stats.requests == 1
"""


def test_marker_positional_arguments_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest(*QUIET, "--strict-markers", "-W", "error::ResourceWarning")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ERROR*test_positional*", "*keyword arguments only*"])


def test_emulator_client_paces_at_the_emulators_quota() -> None:
    limiter = Emulator(rate_limit=(30, 2.0)).client().rate_limiter
    assert isinstance(limiter, InMemoryRateLimiter) and limiter.rate == RateLimit(30, 2.0)
    assert Emulator(rate_limit=None).client().rate_limiter is None
    default = Emulator().client().rate_limiter
    assert isinstance(default, InMemoryRateLimiter) and default.rate == RateLimit(180, 60.0)


def test_an_explicit_rate_limit_wins() -> None:
    assert Emulator(rate_limit=(30, 2.0)).client(rate_limit=None).rate_limiter is None
    mine = RateLimit(10, 1.0)
    limiter = Emulator(rate_limit=None).client(rate_limit=mine).rate_limiter
    assert isinstance(limiter, InMemoryRateLimiter) and limiter.rate == mine


async def test_emulator_client_with_its_own_base_url_stays_in_process() -> None:
    emulator = Emulator(seed=1, chats=2, rate_limit=None)
    async with emulator.client(base_url=emulator.base_url) as client:
        await client.chats.list()
    assert emulator.stats.requests == 1
