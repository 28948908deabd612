"""``client.gates``: edit and delete messages sent through a gate."""

from __future__ import annotations

from collections.abc import Iterable

from smartsender_async.resources._base import check_id, check_text
from smartsender_async.resources._shapes import ApiResource

__all__ = ["GatesResource"]


class GatesResource(ApiResource):
    """Gates: ``/gates/{gateId}/messages``.  A message's gate is ``message.gate.id``."""

    __slots__ = ()

    async def edit_message(self, gate_id: int, message_id: int, text: str) -> None:
        """Replace a sent message's text (``PUT /gates/{gateId}/messages``)."""
        ids = (check_id("gate_id", gate_id),)
        body = {"text": check_text("text", text), "messageId": check_id("message_id", message_id)}
        await self._ack("PUT", "gates.edit_message", "/gates/{gateId}/messages", ids, body)

    async def delete_messages(self, gate_id: int, message_ids: Iterable[int]) -> None:
        """Delete messages (``DELETE /gates/{gateId}/messages`` with a JSON body)."""
        ids = (check_id("gate_id", gate_id),)
        if isinstance(message_ids, (str, bytes)) or not isinstance(message_ids, Iterable):
            raise TypeError(f"message_ids must be an iterable of ints, got {message_ids!r}")
        body = {"messageIds": [check_id("message_ids[]", m) for m in message_ids]}
        if not body["messageIds"]:
            raise ValueError("message_ids must not be empty")
        await self._ack("DELETE", "gates.delete_messages", "/gates/{gateId}/messages", ids, body)
