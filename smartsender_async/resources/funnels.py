"""``client.funnels``: the project's funnels (list, stream).

A funnel's ``service_key`` is what ``client.contacts.subscribe`` takes.
"""

from __future__ import annotations

from smartsender_async.models.contacts import Funnel
from smartsender_async.resources._shapes import SearchableListing

__all__ = ["FunnelsResource"]


class FunnelsResource(SearchableListing[Funnel], area="funnels"):
    """Funnels: ``GET /funnels?term=`` (known from client code only; no wiki page)."""

    __slots__ = ()
