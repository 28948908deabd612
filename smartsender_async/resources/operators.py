"""`client.operators`: list, stream and the auto-assignment switch."""

from __future__ import annotations

from smartsender_async.models.operators import Operator
from smartsender_async.resources._base import check_bool, check_id
from smartsender_async.resources._shapes import Listing

__all__ = ["OperatorsResource"]


class OperatorsResource(Listing[Operator], area="operators"):
    """Operators (`client.operators`): `GET /operators`, `PUT /operators/{operatorId}/involve`.

    `list()` and `stream()` read the project's operators.

    Example:
        ```python
        async for operator in client.operators.stream():
            print(operator.id, operator.full_name)
        ```
    """

    __slots__ = ()

    async def involve(self, operator_id: int, enabled: bool) -> None:
        """Switch an operator's automatic chat assignment (`PUT /operators/{operatorId}/involve`).

        Sends `{"state": enabled}`. The answer is assumed to be `{"state": true}` (the documented
        block was lost), so an empty 2xx answer or an object without `state` counts as
        success too.

        Args:
            operator_id: the operator's id.
            enabled: `True` to include the operator in automatic assignment, `False` to leave them
                out.

        Raises:
            TypeError: `operator_id` is not an int or a string of ASCII digits, or `enabled` not a
                bool (no request is sent).
            ValueError: `operator_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no operator has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.operators.involve(7, False)
            ```
        """
        ids = (check_id("operator_id", operator_id),)
        body = {"state": check_bool("enabled", enabled)}
        await self._ack(
            "PUT", "operators.involve", "/operators/{operatorId}/involve", ids, body, inferred=True
        )
