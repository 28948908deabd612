"""``client.variables``: the project's contact variables (list, stream, create, update,
delete).  A contact's values are set with ``client.contacts.update(values=...)``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smartsender_async.models.contacts import Variable
from smartsender_async.resources._base import check_choice, check_id, check_text
from smartsender_async.resources._shapes import SearchableListing, check_opt_text

__all__ = ["VARIABLE_TYPES", "VariablesResource"]

#: The types a variable can have.
VARIABLE_TYPES = ("url", "date", "enum", "email", "phone", "number", "string")


def _check_choices(choices: Any) -> str:
    """An ``enum`` variable's choices, sent comma-separated."""
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Iterable):
        raise TypeError(f"choices must be an iterable of str, got {choices!r}")
    items = [check_text("choices[]", c) for c in choices]
    if not items:
        raise ValueError("choices must not be empty")
    for item in items:
        if "," in item:
            raise ValueError(f"choices are sent comma-separated, so none may hold ',': {item!r}")
        if item != item.strip():
            # a server splitting on "," may trim, turning " S" into a second "S"
            raise ValueError(f"choices must not start or end with spaces: {item!r}")
    if len(set(items)) != len(items):
        raise ValueError(f"choices must be distinct, got {items!r}")
    return ",".join(items)


class VariablesResource(SearchableListing[Variable], area="variables"):
    """Variables: ``/variables`` and ``/variables/{variableId}``."""

    __slots__ = ()

    async def create(
        self,
        name: str,
        type: str,
        *,
        description: str | None = None,
        choices: Iterable[str] | None = None,
    ) -> Variable:
        """Create a contact variable (``POST /variables``).

        Args:
            name: unique in the project.
            type: one of :data:`VARIABLE_TYPES`.
            description: optional text.
            choices: the values of an ``enum`` variable (required for it, refused for the
                other types); sent comma-separated as ``values``.
        """
        body = {
            "name": check_text("name", name),
            "type": check_choice("type", type, VARIABLE_TYPES),
        }
        if description is not None:
            body["description"] = check_text("description", description)
        if type == "enum":
            if choices is None:
                raise ValueError("type='enum' needs choices")
            body["values"] = _check_choices(choices)
        elif choices is not None:
            raise ValueError("choices are only for type='enum'")
        return await self._create(Variable, "POST", "variables.create", "/variables", (), body)

    async def update(self, variable_id: int, *, name: str, description: str | None = None) -> None:
        """Rename a variable or change its description (``PUT /variables/{variableId}``).

        ``name`` is always sent: the server is said to refuse an update without it.
        """
        ids = (check_id("variable_id", variable_id),)
        body = {"name": check_text("name", name)}
        if (text := check_opt_text("description", description)) is not None:
            body["description"] = text
        await self._ack("PUT", "variables.update", "/variables/{variableId}", ids, body)

    async def delete(self, variable_id: int) -> None:
        """Delete a variable (``DELETE /variables/{variableId}``)."""
        ids = (check_id("variable_id", variable_id),)
        await self._ack("DELETE", "variables.delete", "/variables/{variableId}", ids)
