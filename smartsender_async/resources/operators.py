"""``client.operators``: list, stream and the auto-assignment switch."""

from __future__ import annotations

from smartsender_async.models.operators import Operator
from smartsender_async.resources._base import check_bool, check_id
from smartsender_async.resources._shapes import Listing

__all__ = ["OperatorsResource"]


class OperatorsResource(Listing[Operator], area="operators"):
    """Operators: ``GET /operators`` and ``PUT /operators/{operatorId}/involve``."""

    __slots__ = ()

    async def involve(self, operator_id: int, enabled: bool) -> None:
        """Turn an operator's automatic chat assignment on or off
        (``PUT /operators/{operatorId}/involve`` with ``{"state": enabled}``).

        The answer is assumed to be ``{"state": true}`` (the documented block was lost),
        so an empty 2xx answer or an object without ``state`` counts as success too;
        ``{"state": false}`` raises :class:`~smartsender_async.WriteRejectedError`.
        """
        ids = (check_id("operator_id", operator_id),)
        body = {"state": check_bool("enabled", enabled)}
        await self._ack(
            "PUT", "operators.involve", "/operators/{operatorId}/involve", ids, body, inferred=True
        )
