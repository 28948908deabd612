"""The in-process adapter: an httpx (or httpx2) transport that calls the emulator directly,
no sockets."""

from __future__ import annotations

from typing import Any

import httpx

from smartsender_async._backend import Backend, default_backend, get_backend, module_of
from smartsender_async.testing._emulator import Emulator, EmulatorTimeout

__all__ = ["EmulatorTransport", "emulator_transport"]


class _Answering:
    """The request handler both transports share: it answers with the classes of the
    library the request came from (httpx or httpx2)."""

    emulator: Emulator

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def handle_async_request(self, request: Any) -> Any:
        http = module_of(request)
        body = await request.aread()
        timeouts = request.extensions.get("timeout") or {}
        url = request.url
        try:
            answer = await self.emulator.handle(
                request.method,
                url.path,
                url.query.decode("ascii", "replace"),
                request.headers,
                body,
                read_timeout=timeouts.get("read"),
            )
        except EmulatorTimeout as exc:
            raise http.ReadTimeout(str(exc), request=request) from None
        return http.Response(answer.status, headers=answer.headers, content=answer.body)


class EmulatorTransport(_Answering, httpx.AsyncBaseTransport):
    """Answers every request from an :class:`~smartsender_async.testing.Emulator`.

    httpx enforces its timeouts in its network layer, which a custom transport replaces,
    so this transport applies the request's *read* timeout itself: a response delayed
    beyond it (latency, jitter or a slow-response fault) raises :class:`httpx.ReadTimeout`
    after exactly that long.  Dropped-connection faults need a socket and are never
    drawn here.  Works under asyncio and trio.

    This class is an ``httpx.AsyncBaseTransport``; :meth:`Emulator.transport` gives the
    httpx2 one when the backend is httpx2 (``http="httpx2"`` or ``SMARTSENDER_HTTP``).
    Either answers requests of either library with that library's classes.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await super().handle_async_request(request)  # type: ignore[no-any-return]


_BY_BACKEND: dict[str, type[Any]] = {"httpx": EmulatorTransport}


def emulator_transport(emulator: Emulator, http: str | Backend | None = None) -> Any:
    """An in-process transport on ``emulator`` for the backend ``http`` (``"httpx"`` or
    ``"httpx2"``; default: ``SMARTSENDER_HTTP``, else httpx)."""
    if isinstance(http, Backend):
        backend = http
    elif http is None:
        backend = default_backend()
    else:
        backend = get_backend(http)
    cls = _BY_BACKEND.get(backend.name)
    if cls is None:
        base = backend.http.AsyncBaseTransport
        cls = type("EmulatorTransport", (_Answering, base), {"__doc__": EmulatorTransport.__doc__})
        cls.__module__ = __name__
        cls.__qualname__ = f"EmulatorTransport[{backend.name}]"
        _BY_BACKEND[backend.name] = cls
    return cls(emulator)
