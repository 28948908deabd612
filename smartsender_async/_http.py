"""The one module that builds the httpx client.

httpx 0.28 is frozen upstream and a same-API fork exists; keeping every httpx construction
here keeps that seam thin.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx

from smartsender_async._backend import Backend, convert_timeout, get_backend, pool_module
from smartsender_async._pool import install as install_pool

__all__ = ["make_client", "pooled_transport"]


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
    """An :class:`httpx.AsyncHTTPTransport` on the SDK's connection pool.

    The client a :class:`SmartSender` builds already uses it.  Use this when you build the
    ``httpx.AsyncClient`` yourself, for example one client shared by many tokens::

        limits = httpx.Limits(max_connections=250)
        http = httpx.AsyncClient(transport=pooled_transport(limits=limits))
        clients = [SmartSender(token, http_client=http) for token in tokens]

    ``options`` are :class:`httpx.AsyncHTTPTransport`'s (``limits``, ``verify``, ``proxy``,
    ``retries``, ...); ``verify`` defaults to the SSL context the SDK's clients share.
    httpcore's pool costs time in proportion to the connections it holds on every request;
    this one does constant work per request.  Through a proxy, or with HTTP/2 on, the
    transport keeps httpcore's pool.  ``http="httpx2"`` gives an
    ``httpx2.AsyncHTTPTransport`` on the same pool (over httpcore2), for an
    ``httpx2.AsyncClient``.
    """
    backend = get_backend(http)
    options.setdefault("verify", _ssl_context(None if backend.http is httpx else backend))
    transport: httpx.AsyncHTTPTransport = backend.http.AsyncHTTPTransport(**options)
    pool_module(backend).install(transport)
    return transport
