"""`client.gates`: edit and delete messages sent through a gate."""

from __future__ import annotations

from collections.abc import Iterable

from smartsender_async.resources._base import check_id, check_text
from smartsender_async.resources._shapes import ApiResource

__all__ = ["GatesResource"]


class GatesResource(ApiResource):
    """Gates: `/gates/{gateId}/messages`, reached as `client.gates`.

    A message's gate is `message.gate.id`.

    Example:
        ```python
        page = await client.contacts.messages(5, limitation=1)
        gate = page[0].gate
        if gate is not None and gate.id is not None:
            await client.gates.edit_message(gate.id, page[0].id, "Corrected text")
        ```
    """

    __slots__ = ()

    async def edit_message(self, gate_id: int, message_id: int, text: str) -> None:
        """Replace a sent message's text (`PUT /gates/{gateId}/messages`).

        Args:
            gate_id: the gate the message went through (`message.gate.id`).
            message_id: the message's id.
            text: the new text.

        Raises:
            TypeError: `gate_id` or `message_id` is not an int or a string of ASCII digits, or
                `text` not a str (no request is sent).
            ValueError: an id is not positive, or `text` is empty (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: the gate or the message does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.gates.edit_message(17, 90211, "The meeting is at 15:00")
            ```
        """
        ids = (check_id("gate_id", gate_id),)
        body = {"text": check_text("text", text), "messageId": check_id("message_id", message_id)}
        await self._ack("PUT", "gates.edit_message", "/gates/{gateId}/messages", ids, body)

    async def delete_messages(self, gate_id: int, message_ids: Iterable[int]) -> None:
        """Delete messages (`DELETE /gates/{gateId}/messages` with a JSON body).

        Args:
            gate_id: the gate the messages went through.
            message_ids: the messages' ids, at least one.

        Raises:
            TypeError: `gate_id` or an id in `message_ids` is not an int or a string of ASCII
                digits, or `message_ids` is not an iterable (no request is sent).
            ValueError: an id is not positive, or `message_ids` is empty (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: the gate does not exist.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.gates.delete_messages(17, [90211, 90212])
            ```
        """
        ids = (check_id("gate_id", gate_id),)
        if isinstance(message_ids, (str, bytes)) or not isinstance(message_ids, Iterable):
            raise TypeError(f"message_ids must be an iterable of ints, got {message_ids!r}")
        body = {"messageIds": [check_id("message_ids[]", m) for m in message_ids]}
        if not body["messageIds"]:
            raise ValueError("message_ids must not be empty")
        await self._ack("DELETE", "gates.delete_messages", "/gates/{gateId}/messages", ids, body)
