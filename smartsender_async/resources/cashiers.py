"""`client.cashiers`: the project's payment systems (list, stream, get).

A cashier's payments (`page InvoiceLog[]`) have an unknown path: reach them with
`client.request` once you know it.
"""

from __future__ import annotations

from smartsender_async.models.products import Cashier
from smartsender_async.resources._base import check_id
from smartsender_async.resources._shapes import Listing

__all__ = ["CashiersResource"]


class CashiersResource(Listing[Cashier], area="cashiers"):
    """Payment systems: `/cashiers` and `/cashiers/{cashierId}`, reached as `client.cashiers`.

    `list()` and `stream()` read every payment system; a cashier's id is the `payment_system_id`
    of `client.contacts.create_invoice`.

    Example:
        ```python
        async for cashier in client.cashiers.stream():
            print(cashier.id, cashier.name)
        ```
    """

    __slots__ = ()

    async def get(self, cashier_id: int) -> Cashier:
        """One payment system (`GET /cashiers/{cashierId}`).

        Args:
            cashier_id: the payment system's id.

        Returns:
            The payment system.

        Raises:
            TypeError: `cashier_id` is not an int or a string of ASCII digits (no request is sent).
            ValueError: `cashier_id` is not positive (no request is sent).
            NotFoundError: no payment system has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            cashier = await client.cashiers.get(2)
            print(cashier.name)
            ```
        """
        ids = (check_id("cashier_id", cashier_id),)
        return await self._get(Cashier, "cashiers.get", "/cashiers/{cashierId}", ids)
