"""``client.operators``: list."""

from __future__ import annotations

from smartsender_async.models.common import Page
from smartsender_async.models.operators import Operator
from smartsender_async.resources._base import Resource, page_params

__all__ = ["OperatorsResource"]


class OperatorsResource(Resource):
    """Operators: ``GET /operators``."""

    __slots__ = ()

    async def list(self, page: int = 1, limitation: int = 20) -> Page[Operator]:
        """One page of the project's operators (``GET /operators``)."""
        params = page_params(page, limitation)
        return await self._client.request("GET", "/operators", params=params, model=Page[Operator])
