"""Suite-wide options: ``--http-backend=httpx|httpx2`` runs the whole suite on one library.

The option sets ``SMARTSENDER_HTTP`` for this process (and so for the subprocesses the
CLI tests start), which makes it the default of everything that does not name a library:
``SmartSender()`` without ``http_client=``/``transport=``, ``Emulator.transport()``,
``Emulator.client()``, ``Emulator.http_client()`` and the pytest plugin's fixtures.  Tests
that build their own ``httpx.AsyncClient`` or transport keep httpx: the SDK follows the
client it is given.  ``SMARTSENDER_HTTP=httpx2 pytest`` does the same.

respx patches httpx only: on httpx2, a test that mocks the API with a respx router
(the ``mock``/``api`` fixtures of the respx-based modules) and lets the SDK build its own
client is skipped, and says so.  The same behaviours are covered on httpx2 by
``tests/test_httpx2.py`` (``Emulator.serve()`` and real sockets) and by the emulator-based
tests, which run on both.
"""

from __future__ import annotations

import inspect
import os

import pytest

from smartsender_async._backend import BACKENDS, HTTP_ENV

#: Fixtures that are respx routers in the modules that use respx.
RESPX_FIXTURES = frozenset({"mock", "api", "respx_mock"})
#: Tests that check the SDK's own pool (_pool.py) under the client SmartSender builds;
#: on httpx2 that client keeps httpcore2's pool (docs/explanation/pool.md).
SDK_POOL_TESTS = frozenset(
    {
        "test_a_stream_of_the_sdk_over_loopback_reuses_connections",
        "test_the_readme_example_for_many_projects",
    }
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--http-backend",
        choices=BACKENDS,
        default=None,
        help=f"run the suite on this HTTP library (sets ${HTTP_ENV}; default: httpx)",
    )


def pytest_configure(config: pytest.Config) -> None:
    backend = config.getoption("--http-backend")
    if backend is not None:
        os.environ[HTTP_ENV] = backend


def http_backend() -> str:
    """The backend the suite runs on."""
    return os.environ.get(HTTP_ENV, "").strip() or "httpx"


def pytest_report_header(config: pytest.Config) -> str:
    return f"smartsender http backend: {http_backend()} (--http-backend / ${HTTP_ENV})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if http_backend() == "httpx":
        return
    skip = pytest.mark.skip(
        reason=f"respx mocks httpx only, and the SDK's client here is {http_backend()}: "
        "covered on httpx2 by tests/test_httpx2.py and the emulator-based tests"
    )
    pool_skip = pytest.mark.skip(
        reason=f"checks for httpx's _pool.ConnectionPool class; on {http_backend()} the same "
        "pool runs over httpcore2 (_pool_httpcore2), covered by tests/test_httpx2.py"
    )
    for item in items:
        if getattr(item, "originalname", item.name) in SDK_POOL_TESTS:
            item.add_marker(pool_skip)
            continue
        module = getattr(item, "module", None)
        if module is None or not hasattr(module, "respx"):
            continue
        if RESPX_FIXTURES & set(getattr(item, "fixturenames", ())) or _uses_respx(item):
            item.add_marker(skip)


def _uses_respx(item: pytest.Item) -> bool:
    """The test itself opens a respx router (``with respx.mock(...)``, ``@respx.mock``)."""
    function = getattr(item, "function", None)
    if function is None:
        return False
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return "respx." in source
