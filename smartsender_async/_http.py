"""The one module that builds the httpx client.

httpx 0.28 is frozen upstream and a same-API fork exists; keeping every httpx construction
here keeps that seam thin.
"""

from __future__ import annotations

import httpx

__all__ = ["make_client"]


def make_client(
    *,
    headers: dict[str, str],
    timeout: float | httpx.Timeout | None,
    transport: httpx.AsyncBaseTransport | None,
) -> httpx.AsyncClient:
    """The :class:`httpx.AsyncClient` a :class:`SmartSender` owns.

    Redirects are not followed (the API does not redirect; a redirect means a wrong
    ``base_url``, and following it could carry the token elsewhere).  Environment proxies
    are honoured as usual; pass your own ``http_client`` for anything else.
    """
    return httpx.AsyncClient(
        headers=headers,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
    )
