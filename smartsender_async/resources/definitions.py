"""``client.definitions``: the project's global variables (list, stream, get, create,
update, delete)."""

from __future__ import annotations

from typing import Any

from smartsender_async.models.project import Definition
from smartsender_async.resources._base import check_id, check_text
from smartsender_async.resources._shapes import SearchableListing

__all__ = ["DefinitionsResource"]


def _check_value(value: Any) -> str | int:
    """A global variable's value: a string or an integer."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"value must be a str or an int, got {value!r}")
    return value


class DefinitionsResource(SearchableListing[Definition], area="definitions"):
    """Global variables: ``/definitions`` and ``/definitions/{definitionId}``."""

    __slots__ = ()

    async def get(self, definition_id: int) -> Definition:
        """One global variable (``GET /definitions/{definitionId}``)."""
        ids = (check_id("definition_id", definition_id),)
        return await self._get(Definition, "definitions.get", "/definitions/{definitionId}", ids)

    async def create(self, name: str, value: str | int) -> Definition:
        """Create a global variable (``POST /definitions`` with ``{name, value}``).

        One client sends ``{name, type}`` instead; the documented body is used here.
        """
        body = {"name": check_text("name", name), "value": _check_value(value)}
        return await self._create(
            Definition, "POST", "definitions.create", "/definitions", (), body
        )

    async def update(self, definition_id: int, *, name: str, value: str | int) -> None:
        """Set a global variable's name and value (``PUT /definitions/{definitionId}``)."""
        ids = (check_id("definition_id", definition_id),)
        body = {"name": check_text("name", name), "value": _check_value(value)}
        await self._ack("PUT", "definitions.update", "/definitions/{definitionId}", ids, body)

    async def delete(self, definition_id: int) -> None:
        """Delete a global variable (``DELETE /definitions/{definitionId}``)."""
        ids = (check_id("definition_id", definition_id),)
        await self._ack("DELETE", "definitions.delete", "/definitions/{definitionId}", ids)
