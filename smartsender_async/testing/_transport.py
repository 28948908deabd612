"""The in-process adapter: an httpx transport that calls the emulator directly, no sockets."""

from __future__ import annotations

import httpx

from smartsender_async.testing._emulator import Emulator, EmulatorTimeout

__all__ = ["EmulatorTransport"]


class EmulatorTransport(httpx.AsyncBaseTransport):
    """Answers every request from an :class:`~smartsender_async.testing.Emulator`.

    httpx enforces its timeouts in its network layer, which a custom transport replaces,
    so this transport applies the request's *read* timeout itself: a response delayed
    beyond it (latency, jitter or a slow-response fault) raises :class:`httpx.ReadTimeout`
    after exactly that long.  Dropped-connection faults need a socket and are never
    drawn here.  Works under asyncio and trio.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
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
            raise httpx.ReadTimeout(str(exc), request=request) from None
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)
