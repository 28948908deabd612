"""``client.operators``: list and stream."""

from __future__ import annotations

from smartsender_async.models.common import Page
from smartsender_async.models.operators import Operator
from smartsender_async.pagination import PageStream
from smartsender_async.resources._base import MAX_LIMITATION, Resource, page_params
from smartsender_async.resources._streams import by_id, check_stream_args

__all__ = ["OperatorsResource"]


class OperatorsResource(Resource):
    """Operators: ``GET /operators``."""

    __slots__ = ()

    async def list(self, page: int = 1, limitation: int = 20) -> Page[Operator]:
        """One page of the project's operators (``GET /operators``)."""
        params = page_params(page, limitation)
        return await self._client.request("GET", "/operators", params=params, model=Page[Operator])

    def stream(self, *, concurrency: int = 4, limit: int | None = None) -> PageStream[Operator]:
        """Every operator, each once, fetching ``concurrency`` pages at a time."""
        check_stream_args(concurrency, limit)

        async def fetch(page: int) -> Page[Operator]:
            return await self.list(page, MAX_LIMITATION)

        return PageStream(fetch, concurrency=concurrency, limit=limit, key=by_id)
