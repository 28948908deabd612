"""`client.definitions`: the project's global variables (list, stream, get, create,
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
    """Global variables (`client.definitions`): `/definitions` and `/definitions/{definitionId}`.

    `list(term)` and `stream(term)` match names partially.

    Example:
        ```python
        definition = await client.definitions.create("support_phone", "+380441234567")
        print(definition.id)
        ```
    """

    __slots__ = ()

    async def get(self, definition_id: int) -> Definition:
        """One global variable (`GET /definitions/{definitionId}`).

        Args:
            definition_id: the global variable's id.

        Returns:
            The global variable.

        Raises:
            TypeError: `definition_id` is not an int or a string of ASCII digits (no request is
                sent).
            ValueError: `definition_id` is not positive (no request is sent).
            NotFoundError: no global variable has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            definition = await client.definitions.get(3)
            print(definition.name, definition.value)
            ```
        """
        ids = (check_id("definition_id", definition_id),)
        return await self._get(Definition, "definitions.get", "/definitions/{definitionId}", ids)

    async def create(self, name: str, value: str | int) -> Definition:
        """Create a global variable (`POST /definitions` with `{name, value}`).

        One client sends `{name, type}` instead; the documented body is used here.

        Args:
            name: the variable's name.
            value: its value, a str or an int.

        Returns:
            The created global variable.

        Raises:
            TypeError: `name` is not a str, or `value` not a str or an int (no request is sent).
            ValueError: `name` is empty (no request is sent).
            UnprocessableEntityError: the server refused it (a name already taken, for one).
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            definition = await client.definitions.create("discount", 10)
            ```
        """
        body = {"name": check_text("name", name), "value": _check_value(value)}
        return await self._create(
            Definition, "POST", "definitions.create", "/definitions", (), body
        )

    async def update(self, definition_id: int, *, name: str, value: str | int) -> None:
        """Set a global variable's name and value (`PUT /definitions/{definitionId}`).

        Args:
            definition_id: the global variable's id.
            name: its name (always sent).
            value: its value, a str or an int.

        Raises:
            TypeError: `definition_id` is not an int or a string of ASCII digits, `name` not a str,
                or `value` not a str or an int (no request is sent).
            ValueError: `definition_id` is not positive, or `name` is empty (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no global variable has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.definitions.update(3, name="discount", value=15)
            ```
        """
        ids = (check_id("definition_id", definition_id),)
        body = {"name": check_text("name", name), "value": _check_value(value)}
        await self._ack("PUT", "definitions.update", "/definitions/{definitionId}", ids, body)

    async def delete(self, definition_id: int) -> None:
        """Delete a global variable (`DELETE /definitions/{definitionId}`).

        Args:
            definition_id: the global variable's id.

        Raises:
            TypeError: `definition_id` is not an int or a string of ASCII digits (no request is
                sent).
            ValueError: `definition_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no global variable has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.definitions.delete(3)
            ```
        """
        ids = (check_id("definition_id", definition_id),)
        await self._ack("DELETE", "definitions.delete", "/definitions/{definitionId}", ids)
