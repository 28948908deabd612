"""Helpers for figures that talk to the emulator over loopback sockets, and for streams.

The emulator runs under uvicorn in a **separate process** (``python -m
smartsender_async.testing serve``), so its CPU time and memory never count against the
client process being measured.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

__all__ = [
    "CountingTransport",
    "chat_stream",
    "counting_transport",
    "emulator_process",
    "emulator_server",
]


@contextlib.contextmanager
def emulator_server(*args: str, timeout: float = 60.0) -> Iterator[str]:
    """Serve the emulator in a subprocess on a free loopback port; yields its base URL."""
    with emulator_process(*args, timeout=timeout) as (url, _proc):
        yield url


@contextlib.contextmanager
def emulator_process(
    *args: str, timeout: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Like :func:`emulator_server`, and yields the server process too (for its CPU time)."""
    command = [sys.executable, "-m", "smartsender_async.testing", "serve", "--port", "0", *args]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        url: list[str] = []
        reader = threading.Thread(
            target=lambda: url.append(proc.stdout.readline().strip() if proc.stdout else ""),
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        if not url or not url[0].startswith("http"):
            proc.kill()
            _, err = proc.communicate(timeout=5)
            raise RuntimeError(f"emulator did not start: {err[-500:]}")
        yield url[0], proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and counts responses by status (for the 423 count)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.statuses: dict[int, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def counting_transport(inner: Any) -> CountingTransport:
    """A :class:`CountingTransport` around ``inner``, of ``inner``'s library (httpx or
    httpx2), so that a client of that library accepts it."""
    from smartsender_async._backend import backend_of_transport, get_backend

    name = backend_of_transport(inner)
    if name in (None, "httpx"):
        return CountingTransport(inner)
    base = get_backend(name).http.AsyncBaseTransport
    cls = _COUNTING.get(name)
    if cls is None:
        cls = _COUNTING[name] = type("CountingTransport2", (CountingTransport, base), {})
    return cls(inner)  # type: ignore[no-any-return]


_COUNTING: dict[str, Any] = {}


class TimedTransport(CountingTransport):
    """Counts statuses and records when each 200 came back (``time.monotonic``)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        super().__init__(inner)
        self.times: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if response.status_code == 200:
            self.times.append(time.monotonic())
        return response


def chat_stream(client: Any, *, concurrency: int, limit: int | None = None) -> Any:
    """``client.chats.stream(...)``, or the SDK's own scheduler over ``chats.list`` when the
    resource method is not wired in yet."""
    if hasattr(client.chats, "stream"):
        return client.chats.stream(concurrency=concurrency, limit=limit)
    from smartsender_async.pagination import PageStream

    return PageStream(lambda n: client.chats.list(page=n), concurrency=concurrency, limit=limit)
