"""``client.gates``: edit and delete messages sent through a gate."""

from __future__ import annotations

from collections.abc import Iterable

from smartsender_async.resources._base import Resource, check_id, check_text

__all__ = ["GatesResource"]


class GatesResource(Resource):
    """Gates: ``/gates/{gateId}/messages``.  A message's gate is ``message.gate.id``."""

    __slots__ = ()

    async def edit_message(self, gate_id: int, message_id: int, text: str) -> None:
        """Replace a sent message's text (``PUT /gates/{gateId}/messages``)."""
        gate_id = check_id("gate_id", gate_id)
        message_id = check_id("message_id", message_id)
        text = check_text("text", text)
        await self._client._acknowledge(
            "PUT", f"/gates/{gate_id}/messages", json_body={"text": text, "messageId": message_id}
        )

    async def delete_messages(self, gate_id: int, message_ids: Iterable[int]) -> None:
        """Delete messages (``DELETE /gates/{gateId}/messages`` with a JSON body)."""
        gate_id = check_id("gate_id", gate_id)
        if isinstance(message_ids, (str, bytes)) or not isinstance(message_ids, Iterable):
            raise TypeError(f"message_ids must be an iterable of ints, got {message_ids!r}")
        ids = [check_id("message_ids[]", m) for m in message_ids]
        if not ids:
            raise ValueError("message_ids must not be empty")
        await self._client._acknowledge(
            "DELETE", f"/gates/{gate_id}/messages", json_body={"messageIds": ids}
        )
