"""The one module that builds the httpx client.

httpx 0.28 is frozen upstream and a same-API fork exists; keeping every httpx construction
here keeps that seam thin.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import zlib
from collections.abc import Callable
from typing import Any

import httpx

from smartsender_async._backend import Backend, convert_timeout, get_backend, pool_module
from smartsender_async._pool import install as install_pool
from smartsender_async.errors import ResponseDecodeError, ResponseTooLargeError, truncate_body

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "aclose_elsewhere",
    "make_client",
    "pooled_transport",
    "read_body",
]

#: The largest body a client reads by default, before and after decompression: 32 MiB.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


def _find_brotli() -> Any:
    """brotli is optional, as in httpx: offered only when it can be decoded."""
    import importlib

    for name in ("brotli", "brotlicffi"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


_brotli: Any = _find_brotli()

#: The encodings this module decodes, and so the only ones the SDK asks for.
ACCEPT_ENCODING = "gzip, deflate" + (", br" if _brotli is not None else "")


@functools.lru_cache(maxsize=2)
def _ssl_context(backend: Backend | None = None) -> ssl.SSLContext:
    """One verifying SSL context for every client this package builds.

    httpx builds a context per client (certifi's bundle loaded each time: ~17 ms and ~0.9 MB),
    which one ``SmartSender`` per token, the way to serve many tokens, would pay per token.
    Built on first use, so ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are read once.
    """
    return (backend.http if backend is not None else httpx).create_ssl_context()  # type: ignore[no-any-return]


def make_client(
    *,
    headers: dict[str, str],
    timeout: float | httpx.Timeout | None,
    transport: httpx.AsyncBaseTransport | None,
    backend: Backend | None = None,
) -> httpx.AsyncClient:
    """The :class:`httpx.AsyncClient` a :class:`SmartSender` owns.

    Redirects are not followed (the API does not redirect; a redirect means a wrong
    ``base_url``, and following it could carry the token elsewhere).  Environment proxies
    are honoured as usual; pass your own ``http_client`` for anything else.  Clients share
    one SSL context, and pool connections with :class:`~smartsender_async._pool.ConnectionPool`.
    """
    http = backend.http if backend is not None else httpx  # httpx or httpx2 (see _backend)
    if backend is not None:
        timeout = convert_timeout(backend, timeout)  # DEFAULT_TIMEOUT is httpx's
    client: httpx.AsyncClient = http.AsyncClient(
        headers=headers,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
        verify=_ssl_context(backend if http is not httpx else None),
    )
    if transport is None:
        # httpx's own transport, minus httpcore's pool bookkeeping (see _pool). A proxy
        # from the environment is a separate mounted transport and keeps its pool.
        (install_pool if backend is None else pool_module(backend).install)(client._transport)
    return client


def pooled_transport(*, http: str = "httpx", **options: Any) -> httpx.AsyncHTTPTransport:
    """An `httpx.AsyncHTTPTransport` on the SDK's connection pool.

    The client a [SmartSender][smartsender_async.SmartSender] builds already uses it.  Use
    this when you build the `httpx.AsyncClient` yourself, for example one client shared by
    many tokens.  httpcore's pool costs time in proportion to the connections it holds on
    every request; this one does constant work per request.  Through a proxy, or with
    HTTP/2 on, the transport keeps httpcore's pool.

    Args:
        http: `"httpx"` (default), or `"httpx2"` for an `httpx2.AsyncHTTPTransport` on the
            same pool (over httpcore2), for an `httpx2.AsyncClient`.
        **options: `httpx.AsyncHTTPTransport`'s options (`limits`, `verify`, `proxy`,
            `retries`, ...); `verify` defaults to the SSL context the SDK's clients share.

    Returns:
        The transport, to give to `httpx.AsyncClient(transport=...)`.

    Raises:
        TypeError: an option `httpx.AsyncHTTPTransport` does not take.

    Example:
        ```python
        # not run: needs a list of real tokens
        limits = httpx.Limits(max_connections=250)
        http = httpx.AsyncClient(transport=pooled_transport(limits=limits))
        clients = [SmartSender(token, http_client=http) for token in tokens]
        ```
    """
    backend = get_backend(http)
    options.setdefault("verify", _ssl_context(None if backend.http is httpx else backend))
    transport: httpx.AsyncHTTPTransport = backend.http.AsyncHTTPTransport(**options)
    pool_module(backend).install(transport)
    return transport


# --------------------------------------------------------------------------- bodies


class _BodyError(Exception):
    """A body that cannot be decoded; ``too_large`` when it is over the limit."""

    def __init__(self, problem: str, *, too_large: bool = False) -> None:
        super().__init__(problem)
        self.too_large = too_large


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """zlib/gzip/raw deflate ``data`` (gzip members may be concatenated), at most ``limit``
    bytes out; a decompression bomb stops at the limit instead of filling memory."""
    out: list[bytes] = []
    total = 0
    while True:
        inflater = zlib.decompressobj(wbits)
        chunk = data
        while chunk:
            try:
                piece = inflater.decompress(chunk, limit + 1 - total)
            except zlib.error as exc:
                raise _BodyError(f"corrupt compressed body ({exc})") from None
            total += len(piece)
            out.append(piece)
            if total > limit:
                raise _BodyError("body too large once decompressed", too_large=True)
            chunk = inflater.unconsumed_tail
            if inflater.eof:
                break
        if not inflater.eof:
            raise _BodyError("truncated compressed body")
        data = inflater.unused_data
        if not data.strip(b"\x00"):
            return b"".join(out)
        if wbits != 16 + zlib.MAX_WBITS:  # gzip members may follow each other; nothing else
            raise _BodyError("trailing bytes after the compressed body")


def _deflate(data: bytes, limit: int) -> bytes:
    # "deflate" is zlib-wrapped by the RFC, but some servers send it raw.
    try:
        return _inflate(data, zlib.MAX_WBITS, limit)
    except _BodyError as exc:
        if exc.too_large:
            raise
        return _inflate(data, -zlib.MAX_WBITS, limit)


def _unbrotli(data: bytes, limit: int) -> bytes:
    if _brotli is None:  # not offered in Accept-Encoding: take the body as it is
        return data
    try:
        out: bytes = _brotli.decompress(data)
    except Exception as exc:  # brotli.error, brotlicffi.Error
        raise _BodyError(f"corrupt brotli body ({exc})") from None
    if len(out) > limit:
        raise _BodyError("body too large once decompressed", too_large=True)
    return out


_DECODERS: dict[str, Callable[[bytes, int], bytes]] = {
    "gzip": lambda data, limit: _inflate(data, 16 + zlib.MAX_WBITS, limit),
    "x-gzip": lambda data, limit: _inflate(data, 16 + zlib.MAX_WBITS, limit),
    "deflate": _deflate,
    "br": _unbrotli,
}


def _decode(data: bytes, encoding: str, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (last applied first); unknown codings are left as is,
    like httpx does."""
    for coding in reversed([c.strip().lower() for c in encoding.split(",")]):
        decoder = _DECODERS.get(coding)
        if decoder is not None and data:
            data = decoder(data, limit)
    return data


async def read_body(response: httpx.Response, limit: int) -> bytes:
    """Read a streamed ``response``'s whole body, decoded, and close it.

    Neither the bytes on the wire nor the decoded body may exceed ``limit``.  For a
    success status, a larger body or corrupt compression raises a typed error carrying
    the start of the raw body, never httpx's ``DecodingError`` (whose request would carry
    the credentials).  For an error status (>= 400) the body is only diagnostics: what was
    read is kept, cut at the limit (raw when it cannot be decompressed), so the status
    still decides the exception and whether to retry.  After this, ``response.content``
    and ``response.text`` work as usual.

    Raises:
        ResponseTooLargeError: a success body is longer than ``limit`` bytes.
        ResponseDecodeError: a success body's compression is corrupt or truncated.
        httpx.TransportError: the connection failed while reading (retried as usual).
    """
    lenient = response.status_code >= 400
    if response.is_stream_consumed:  # a mock transport's response, read when it was built
        try:
            content = response.content
        except httpx.ResponseNotRead:  # pragma: no cover - consumed without being read
            content = b""
        await response.aclose()
        if len(content) > limit:
            if not lenient:
                raise _too_large(response, content, "body", limit)
            response._content = content[:limit]
        return response.content
    chunks: list[bytes] = []
    size = 0
    cut = False
    try:
        declared = response.headers.get("content-length")
        if not lenient and declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(response, b"", f"declared Content-Length {declared}", limit)
        async for chunk in response.aiter_raw():
            size += len(chunk)
            chunks.append(chunk)
            if size > limit:
                if not lenient:
                    raise _too_large(response, b"".join(chunks), "body", limit)
                cut = True
                break
    finally:
        await response.aclose()
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if cut:
        raw = raw[:limit]
    encoding = response.headers.get("content-encoding")
    content = raw
    if encoding and not cut:
        try:
            content = _decode(raw, encoding, limit)
        except _BodyError as exc:
            if lenient:
                content = raw
            elif exc.too_large:
                raise _too_large(response, raw, "decompressed body", limit) from None
            else:
                raise ResponseDecodeError(
                    f"{exc} (Content-Encoding: {encoding})",
                    status_code=response.status_code,
                    raw_body=truncate_body(raw),
                    response=response,
                ) from None
    response._content = content
    return content


def _too_large(
    response: httpx.Response, raw: bytes, what: str, limit: int
) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{what} larger than max_response_bytes ({limit}); not read further",
        status_code=response.status_code,
        raw_body=truncate_body(raw),
        response=response,
    )


# --------------------------------------------------------------------------- closing


def _connections(client: httpx.AsyncClient) -> list[Any]:
    """The pooled connections of ``client``'s transports (httpcore's pool or ours)."""
    transports = [client._transport, *client._mounts.values()]
    found: list[Any] = []
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        connections = getattr(pool, "connections", None)
        if isinstance(connections, list):
            found.extend(connections)
    return found


def _close_stream_now(stream: Any) -> None:
    """Close one connection's socket without its event loop (which is gone or busy)."""
    inner = stream
    # httpcore's stream -> anyio/trio stream (TLS wraps a transport stream) -> socket.
    for _ in range(4):
        transport = getattr(inner, "_transport", None)
        if isinstance(transport, asyncio.Transport):
            # The loop is closed, so close() cannot schedule its last step: run it here.
            with contextlib.suppress(Exception):
                transport.abort()
            lost = getattr(transport, "_call_connection_lost", None)
            if callable(lost):
                with contextlib.suppress(Exception):
                    lost(None)
            return
        nxt = getattr(inner, "_stream", None) or getattr(inner, "transport_stream", None)
        if nxt is None:
            break
        inner = nxt
    raw = None
    with contextlib.suppress(Exception):
        raw = stream.get_extra_info("socket")
    raw = getattr(raw, "_sock", raw)  # asyncio's TransportSocket, trio's socket wrapper
    if isinstance(raw, socket.socket):
        with contextlib.suppress(OSError):
            raw.close()


async def aclose_elsewhere(client: httpx.AsyncClient, loop: object) -> None:
    """Close ``client``, which ran on the event loop ``loop``, from another loop.

    Connections belong to the loop that opened them.  If that asyncio loop still runs (in
    another thread), the close runs there and this waits for it.  Otherwise (the loop is
    closed or stopped, or was trio's) the sockets are closed directly, then the client.
    """
    if isinstance(loop, asyncio.AbstractEventLoop) and loop.is_running() and not loop.is_closed():
        import anyio.to_thread

        future = asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        await anyio.to_thread.run_sync(future.result)
        return
    for connection in _connections(client):
        inner = getattr(connection, "_connection", None)
        stream = getattr(inner, "_network_stream", None)
        if stream is not None:
            _close_stream_now(stream)
    with contextlib.suppress(Exception):  # the sockets are closed; finish the bookkeeping
        await client.aclose()
