"""``client.cashiers``: the project's payment systems (list, stream, get).

A cashier's payments (``page InvoiceLog[]``) have an unknown path: reach them with
``client.request`` once you know it.
"""

from __future__ import annotations

from smartsender_async.models.products import Cashier
from smartsender_async.resources._base import check_id
from smartsender_async.resources._shapes import Listing

__all__ = ["CashiersResource"]


class CashiersResource(Listing[Cashier], area="cashiers"):
    """Payment systems: ``/cashiers`` and ``/cashiers/{cashierId}``."""

    __slots__ = ()

    async def get(self, cashier_id: int) -> Cashier:
        """One payment system (``GET /cashiers/{cashierId}``)."""
        ids = (check_id("cashier_id", cashier_id),)
        return await self._get(Cashier, "cashiers.get", "/cashiers/{cashierId}", ids)
