"""A faithful, stateful Smart Sender emulator for tests: no network, no real account.

>>> from smartsender_async.testing import Emulator
>>> emulator = Emulator(seed=1, chats=20)
>>> client = emulator.client()            # a SmartSender talking to it in-process

The same emulator can be served over loopback sockets (``emulator.serve()``, or
``python -m smartsender_async.testing serve``; both need the ``testing`` extra), and the
pytest plugin ``smartsender_async.testing.pytest_plugin`` provides a fresh one per test
as the ``smartsender_emulator`` fixture.

What it emulates, and every choice made where the API reference says [UNK], is listed in
``smartsender_async.testing._choices.CHOICES`` and in the docs: Explanation, "The emulator's
facts and choices" (`docs/explanation/emulator.md`); how to use it in tests is in the guide
"Testing with the emulator" (`docs/guides/testing.md`).
"""

from smartsender_async.testing._app import MAX_LIMITATION
from smartsender_async.testing._data import CHANNELS, CONTENT_TYPES
from smartsender_async.testing._emulator import (
    DEFAULT_EPOCH,
    DEFAULT_TOKEN,
    ChatStatus,
    Emulator,
    EmulatorResponse,
    EmulatorTimeout,
)
from smartsender_async.testing._policy import FakeClock, Faults, RateLimitPolicy, Stats
from smartsender_async.testing._transport import EmulatorTransport

__all__ = [
    "CHANNELS",
    "CONTENT_TYPES",
    "DEFAULT_EPOCH",
    "DEFAULT_TOKEN",
    "MAX_LIMITATION",
    "ChatStatus",
    "Emulator",
    "EmulatorResponse",
    "EmulatorTimeout",
    "EmulatorTransport",
    "FakeClock",
    "Faults",
    "RateLimitPolicy",
    "Stats",
]
