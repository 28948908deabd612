"""`client.funnels`: the project's funnels (list, stream).

A funnel's `service_key` is what `client.contacts.subscribe` takes.
"""

from __future__ import annotations

from smartsender_async.models.contacts import Funnel
from smartsender_async.resources._shapes import SearchableListing

__all__ = ["FunnelsResource"]


class FunnelsResource(SearchableListing[Funnel], area="funnels"):
    """Funnels: `GET /funnels?term=`, reached as `client.funnels`.

    Known from client code only (no wiki page). `list(term)` and `stream(term)` match names
    partially; a funnel's `service_key` is what `client.contacts.subscribe` takes.

    Example:
        ```python
        async for funnel in client.funnels.stream("welcome"):
            if funnel.service_key is not None:
                await client.contacts.subscribe(5, funnel.service_key)
        ```
    """

    __slots__ = ()
