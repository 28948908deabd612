"""The socket adapter: a plain ASGI 3 app around the emulator, and uvicorn helpers.

uvicorn is imported only by the helpers that run a server, so the app itself (and the
rest of ``smartsender_async.testing``) works without the ``testing`` extra.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from smartsender_async.testing._emulator import Emulator

__all__ = ["ASGIApp", "bind_socket", "make_server", "serve_in_thread"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: What uvicorn logs when the app drops a connection on purpose; filtered out.
_DROP_LOG = "ASGI callable returned without completing response."
#: How long a stopping server waits for in-flight (e.g. slow-fault) requests.
GRACEFUL_SHUTDOWN_S = 1.0


class ASGIApp:
    """ASGI 3 application answering every HTTP request from an :class:`Emulator`.

    A dropped-connection fault sends response headers announcing a body, then returns
    without sending it; the server closes the connection and the client sees a protocol
    error (``httpx.RemoteProtocolError``).  Lifespan events are acknowledged; websockets
    are refused.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in (b"authorization", b"content-type"):
                headers[name.decode("latin-1")] = value.decode("latin-1")
        answer = await self.emulator.handle(
            scope["method"],
            scope["path"],
            scope["query_string"].decode("latin-1"),
            headers,
            b"".join(chunks),
            sockets=True,
        )
        if answer.drop:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            return
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        raw_headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": answer.body})


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_LOG


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0 picks a free port), ready for uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only when it
    # does, and without it uvicorn's separate header and body writes meet Nagle's
    # algorithm and the client's delayed ACK, costing 40 ms per keep-alive request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/v1"


def make_server(
    emulator: Emulator, on_ready: Callable[[], None] | None = None, **config: Any
) -> Any:
    """A ``uvicorn.Server`` for the emulator's ASGI app (quiet, no lifespan); ``on_ready``
    runs once it accepts connections.  ``config`` overrides ``uvicorn.Config`` options."""
    try:
        import uvicorn
    except ImportError:
        raise ImportError(
            "serving the emulator over sockets needs uvicorn: "
            "pip install 'smartsender-async[testing]'"
        ) from None

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if on_ready is not None:
                on_ready()

    options: dict[str, Any] = {
        "log_level": "warning",
        "lifespan": "off",
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
    options.update(config)
    server = _Server(uvicorn.Config(emulator.asgi_app(), **options))
    error_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in error_log.filters):
        error_log.addFilter(_QuietDrops())
    return server


@contextlib.contextmanager
def serve_in_thread(emulator: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run the emulator under uvicorn in a background thread (its own event loop).

    Yields the base URL (``http://127.0.0.1:<port>/v1``) once the server accepts
    connections; stops the server and joins the thread on exit.
    """
    sock = bind_socket(host, port)
    ready = threading.Event()
    server = make_server(emulator, on_ready=ready.set)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="smartsender-emulator", daemon=True)
    thread.start()
    try:
        ready.wait()
        if failure or not server.started:
            raise RuntimeError("the emulator server did not start") from (
                failure[0] if failure else None
            )
        yield base_url(sock)
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
