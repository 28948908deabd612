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
  arguments go to ``Emulator``.
* ``smartsender_emulator_url``: the same emulator served on a loopback port (uvicorn in a
  background thread; needs the ``testing`` extra); the value is the base URL ending in
  ``/v1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from smartsender_async.testing._emulator import Emulator

__all__ = ["DEFAULTS", "smartsender_emulator", "smartsender_emulator_url"]

#: Keyword arguments of the ``smartsender_emulator`` fixture's ``Emulator``.
DEFAULTS: dict[str, Any] = {"seed": 0, "chats": 50, "messages_per_chat": 40, "rate_limit": None}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "smartsender_emulator(**kwargs): Emulator arguments for the smartsender_emulator fixture",
    )


@pytest.fixture
def smartsender_emulator(request: pytest.FixtureRequest) -> Emulator:
    """A fresh in-memory Smart Sender; ``.client()`` gives a SmartSender talking to it."""
    options = dict(DEFAULTS)
    for marker in reversed(list(request.node.iter_markers("smartsender_emulator"))):
        options.update(marker.kwargs)
    return Emulator(**options)


@pytest.fixture
def smartsender_emulator_url(smartsender_emulator: Emulator) -> Iterator[str]:
    """``smartsender_emulator`` served on 127.0.0.1; the base URL, e.g. ``http://127.0.0.1:5123/v1``."""
    with smartsender_emulator.serve() as url:
        yield url
