"""`client.variables`: the project's contact variables (list, stream, create, update,
delete).  A contact's values are set with `client.contacts.update(values=...)`."""

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
    """An `enum` variable's choices, sent comma-separated."""
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
    """Variables: `/variables` and `/variables/{variableId}`, reached as `client.variables`.

    Contact variables, the names `client.contacts.update(values=...)` takes. `list(term)` and
    `stream(term)` match names partially.

    Example:
        ```python
        variable = await client.variables.create("city", "string", description="Where they live")
        await client.contacts.update(5, values={"city": "Lviv"})
        ```
    """

    __slots__ = ()

    async def create(
        self,
        name: str,
        type: str,
        *,
        description: str | None = None,
        choices: Iterable[str] | None = None,
    ) -> Variable:
        """Create a contact variable (`POST /variables`).

        Args:
            name: unique in the project.
            type: one of `VARIABLE_TYPES`: `url`, `date`, `enum`, `email`, `phone`, `number`,
                `string`.
            description: optional text.
            choices: the values of an `enum` variable (required for it, refused for the other
                types); sent comma-separated as `values`.

        Returns:
            The created variable.

        Raises:
            TypeError: `name` or `description` is not a str, or `choices` not an iterable of str (no
                request is sent).
            ValueError: `name` is empty, `type` is not one of the types, `choices` is missing for
                (or given without) `type="enum"`, empty, or holds a comma (no request is sent).
            UnprocessableEntityError: the server refused it (a name already taken, for one).
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            size = await client.variables.create("size", "enum", choices=["S", "M", "L"])
            ```
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
        """Rename a variable or change its description (`PUT /variables/{variableId}`).

        `name` is always sent: the server is said to refuse an update without it.

        Args:
            variable_id: the variable's id.
            name: its name.
            description: its new description; `None` leaves it unchanged.

        Raises:
            TypeError: `variable_id` is not an int or a string of ASCII digits, or `name` or
                `description` not a str (no request is sent).
            ValueError: `variable_id` is not positive, or `name` or `description` is empty (no
                request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no variable has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.variables.update(8, name="city", description="Home city")
            ```
        """
        ids = (check_id("variable_id", variable_id),)
        body = {"name": check_text("name", name)}
        if (text := check_opt_text("description", description)) is not None:
            body["description"] = text
        await self._ack("PUT", "variables.update", "/variables/{variableId}", ids, body)

    async def delete(self, variable_id: int) -> None:
        """Delete a variable (`DELETE /variables/{variableId}`).

        Args:
            variable_id: the variable's id.

        Raises:
            TypeError: `variable_id` is not an int or a string of ASCII digits (no request is sent).
            ValueError: `variable_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no variable has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.variables.delete(8)
            ```
        """
        ids = (check_id("variable_id", variable_id),)
        await self._ack("DELETE", "variables.delete", "/variables/{variableId}", ids)
