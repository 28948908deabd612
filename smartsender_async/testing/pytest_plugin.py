"""pytest plugin: a fresh Smart Sender emulator per test.

pytest loads it by itself wherever smartsender-async is installed (a ``pytest11`` entry
point).  With ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, enable it in a ``conftest.py`` with
``pytest_plugins = ["smartsender_async.testing.pytest_plugin"]`` or on the command line
with ``-p smartsender_async.testing.pytest_plugin``.  It imports no server at load time.

Fixtures:

* ``smartsender_emulator``: an :class:`~smartsender_async.testing.Emulator` with
  :data:`DEFAULTS` (50 chats of 40 messages, seed 0, **no quota**, so that a test's own
  request count never locks it).  Change them per test with the marker
  ``@pytest.mark.smartsender_emulator(chats=5, rate_limit=(180, 60))``; its keyword
  arguments go to ``Emulator``.  Positional arguments are refused (``TypeError``): the
  marker has no meaning for them.
* ``smartsender_emulator_url``: the same emulator served on a loopback port (uvicorn in a
  background thread; needs the ``testing`` extra); the value is the base URL ending in
  ``/v1``.
* ``smartsender_client``: ``smartsender_emulator.client()``, a
  :class:`~smartsender_async.SmartSender` talking to it in-process; closed after the test.

Pacing: clients made by ``smartsender_client`` and by ``emulator.client()`` (in-process,
or over sockets with ``emulator.client(base_url=smartsender_emulator_url)``) pace at the
emulator's own quota, and not at all when it has none (the default).  A client you build
yourself with ``SmartSender(base_url=smartsender_emulator_url, ...)`` keeps the SDK's
default limiter (180 per minute, about 3 requests/s after a burst of 5): pass
``rate_limit=None`` or a ``RateLimit`` to change that.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from smartsender_async.testing._emulator import Emulator

if TYPE_CHECKING:
    from smartsender_async.client import SmartSender

__all__ = ["DEFAULTS", "smartsender_client", "smartsender_emulator", "smartsender_emulator_url"]

#: Keyword arguments of the ``smartsender_emulator`` fixture's ``Emulator``.
DEFAULTS: dict[str, Any] = {"seed": 0, "chats": 50, "messages_per_chat": 40, "rate_limit": None}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "smartsender_emulator(**kwargs): Emulator keyword arguments for the "
        "smartsender_emulator fixture (positional arguments are refused)",
    )


@pytest.fixture
def smartsender_emulator(request: pytest.FixtureRequest) -> Emulator:
    """A fresh in-memory Smart Sender; ``.client()`` gives a SmartSender talking to it."""
    options = dict(DEFAULTS)
    for marker in reversed(list(request.node.iter_markers("smartsender_emulator"))):
        if marker.args:
            raise TypeError(
                "@pytest.mark.smartsender_emulator takes keyword arguments only (Emulator's, "
                f"for example chats=3 or rate_limit=(30, 2.0)); got positional {marker.args!r}"
            )
        options.update(marker.kwargs)
    return Emulator(**options)


@pytest.fixture
def smartsender_emulator_url(smartsender_emulator: Emulator) -> Iterator[str]:
    """``smartsender_emulator`` served on 127.0.0.1; the base URL, e.g. ``http://127.0.0.1:5123/v1``."""
    with smartsender_emulator.serve() as url:
        yield url


@pytest.fixture
def smartsender_client(smartsender_emulator: Emulator) -> Iterator[SmartSender]:
    """``smartsender_emulator.client()``: paced at the emulator's quota (none by default),
    closed after the test, whichever event loop the test used."""
    client = smartsender_emulator.client()
    try:
        yield client
    finally:
        if not client.is_closed:
            _close_in_new_loop(client)


def _close_in_new_loop(client: SmartSender) -> None:
    # The test's loop is gone (or still running, under some plugins): close from a fresh
    # loop in a thread of its own; SmartSender.aclose() is safe from any loop.
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(client.aclose())
        except BaseException as exc:  # pragma: no cover - reported below
            failure.append(exc)

    thread = threading.Thread(target=run, name="smartsender-client-close")
    thread.start()
    thread.join()
    if failure:  # pragma: no cover
        raise failure[0]
