"""``client.tags``: the project's tags (list, stream, create, update, delete).

To tag a contact, see ``client.contacts.add_tag``.
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
    """A 6-digit hex colour; a leading ``#`` is stripped (``"#FF0000"`` → ``"FF0000"``)."""
    if not isinstance(value, str):
        raise TypeError(f"color must be a str such as 'FF0000', got {value!r}")
    color = value[1:] if value.startswith("#") else value
    if not _HEX6.fullmatch(color):
        raise ValueError(f"color must be 6 hex digits such as 'FF0000', got {value!r}")
    return color


class TagsResource(SearchableListing[Tag], area="tags"):
    """Tags: ``/tags`` and ``/tags/{tagId}``.  ``list(term)`` matches names partially."""

    __slots__ = ()

    async def create(self, name: str, *, color: str | None = None) -> Tag:
        """Create a tag (``POST /tags``); ``name`` must be unique in the project.

        Args:
            name: the tag's name.
            color: 6 hex digits (``"FF0000"``; a leading ``#`` is stripped).  Whether the
                server requires it is unknown; without it none is sent.
        """
        body = {"name": check_text("name", name)}
        if color is not None:
            body["color"] = check_color(color)
        return await self._create(Tag, "POST", "tags.create", "/tags", (), body)

    async def update(
        self, tag_id: int, *, name: str | None = None, color: str | None = None
    ) -> None:
        """Rename or recolour a tag (``PUT /tags/{tagId}``; path and answer inferred).

        As the answer is inferred, an empty 2xx answer or an object without ``state``
        (the tag itself, say) counts as success; ``{"state": false}`` raises
        :class:`~smartsender_async.WriteRejectedError`.
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
        """Delete a tag (``DELETE /tags/{tagId}``; path and answer inferred, taken as
        :meth:`update` takes it)."""
        ids = (check_id("tag_id", tag_id),)
        await self._ack("DELETE", "tags.delete", "/tags/{tagId}", ids, inferred=True)
