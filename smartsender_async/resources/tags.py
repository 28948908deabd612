"""`client.tags`: the project's tags (list, stream, create, update, delete).

To tag a contact, see `client.contacts.add_tag`.
"""

from __future__ import annotations

import re
from typing import Any

from smartsender_async.models.contacts import Tag
from smartsender_async.resources._base import check_id, check_text
from smartsender_async.resources._shapes import SearchableListing

__all__ = ["TagsResource", "check_color"]

_HEX6 = re.compile(r"[0-9A-Fa-f]{6}")


def check_color(value: Any) -> str:
    """A 6-digit hex colour; a leading `#` is stripped (`"#FF0000"` → `"FF0000"`)."""
    if not isinstance(value, str):
        raise TypeError(f"color must be a str such as 'FF0000', got {value!r}")
    color = value[1:] if value.startswith("#") else value
    if not _HEX6.fullmatch(color):
        raise ValueError(f"color must be 6 hex digits such as 'FF0000', got {value!r}")
    return color


class TagsResource(SearchableListing[Tag], area="tags"):
    """Tags: `/tags` and `/tags/{tagId}`, reached as `client.tags`.

    `list(term)` and `stream(term)` match names partially. To tag a contact, see
    `client.contacts.add_tag`.

    Example:
        ```python
        tag = await client.tags.create("vip", color="#FF0000")
        assert tag.id is not None
        await client.contacts.add_tag(5, tag.id)
        ```
    """

    __slots__ = ()

    async def create(self, name: str, *, color: str | None = None) -> Tag:
        """Create a tag (`POST /tags`).

        Args:
            name: the tag's name, unique in the project.
            color: 6 hex digits (`"FF0000"`; a leading `#` is stripped). Whether the server requires
                it is unknown; without it none is sent.

        Returns:
            The created tag.

        Raises:
            TypeError: `name` or `color` is not a str (no request is sent).
            ValueError: `name` is empty, or `color` is not 6 hex digits (no request is sent).
            UnprocessableEntityError: the server refused the tag (a name already taken, for one).
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            tag = await client.tags.create("vip", color="FF0000")
            print(tag.id)
            ```
        """
        body = {"name": check_text("name", name)}
        if color is not None:
            body["color"] = check_color(color)
        return await self._create(Tag, "POST", "tags.create", "/tags", (), body)

    async def update(
        self, tag_id: int, *, name: str | None = None, color: str | None = None
    ) -> None:
        """Rename or recolour a tag (`PUT /tags/{tagId}`; path and answer inferred).

        As the answer is inferred, an empty 2xx answer or an object without `state` (the
        tag itself, say) counts as success.

        Args:
            tag_id: the tag's id.
            name: the new name.
            color: the new colour, 6 hex digits (a leading `#` is stripped).

        Raises:
            TypeError: `tag_id` is not an int or a string of ASCII digits, or `name` or `color` not
                a str (no request is sent).
            ValueError: `tag_id` is not positive, `name` is empty, `color` is not 6 hex digits, or
                neither `name` nor `color` is given (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no tag has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.tags.update(12, color="00FF00")
            ```
        """
        ids = (check_id("tag_id", tag_id),)
        body = {}
        if name is not None:
            body["name"] = check_text("name", name)
        if color is not None:
            body["color"] = check_color(color)
        if not body:
            raise ValueError("nothing to update: pass name= and/or color=")
        await self._ack("PUT", "tags.update", "/tags/{tagId}", ids, body, inferred=True)

    async def delete(self, tag_id: int) -> None:
        """Delete a tag (`DELETE /tags/{tagId}`; path and answer inferred, taken as
        `update` takes it).

        Args:
            tag_id: the tag's id.

        Raises:
            TypeError: `tag_id` is not an int or a string of ASCII digits (no request is sent).
            ValueError: `tag_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no tag has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.tags.delete(12)
            ```
        """
        ids = (check_id("tag_id", tag_id),)
        await self._ack("DELETE", "tags.delete", "/tags/{tagId}", ids, inferred=True)
