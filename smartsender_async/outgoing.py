"""What `client.contacts.send()` can send: one small class per outgoing message type.

Each class checks its own fields when it is built, so a bad message fails before any
request, and knows its wire body (`to_body()`).  A plain `str` passed to `send` means
[`Text`][smartsender_async.Text].  `watermark` (the message's priority timestamp, unix
seconds) defaults to the time of sending.

Example:
    ```python
    from smartsender_async import Location, Picture

    await client.contacts.send(contact_id, "Hello!")  # a Text
    await client.contacts.send(contact_id, Picture("https://example.com/p.jpg"))
    await client.contacts.send(contact_id, Location(50.45, 30.52, title="Our shop"))
    ```
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs

__all__ = [
    "Animation",
    "Audio",
    "Contact",
    "ContactCard",
    "File",
    "Location",
    "OutgoingMessage",
    "Picture",
    "Text",
    "Video",
    "Voice",
]


def _non_empty_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{type(instance).__name__}.{attribute.name} must be a str, got {value!r}")
    if not value.strip():
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must not be empty (no text)")


def _watermark(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{type(instance).__name__}.watermark must be an int (unix seconds)")
    if value < 0:
        raise ValueError(f"{type(instance).__name__}.watermark must not be negative")


def _coordinate(limit: float) -> Any:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        name = f"{type(instance).__name__}.{attribute.name}"
        if value is None:
            raise ValueError(f"{name} is required")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value) or not -limit <= value <= limit:
            raise ValueError(f"{name} must be between {-limit:g} and {limit:g}, got {value!r}")

    return check


@attrs.frozen
class _Outgoing:
    type: ClassVar[str] = ""

    def to_body(self, default_watermark: int) -> dict[str, Any]:
        """The JSON body for `POST /contacts/{contactId}/send`.

        Args:
            default_watermark: the watermark to send when the message has none (unix
                seconds; the client passes the time of sending).

        Returns:
            The body: `type`, the type's own fields under their wire names, `watermark`.
        """
        body: dict[str, Any] = {"type": self.type}
        body.update(self._fields())
        watermark = getattr(self, "watermark", None)
        body["watermark"] = default_watermark if watermark is None else watermark
        return body

    def _fields(self) -> dict[str, Any]:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


@attrs.frozen
class Text(_Outgoing):
    """A text message.

    Attributes:
        content: the text; not empty, not blank.
        watermark: the priority timestamp (unix seconds, keyword only); `None` sends the
            time of sending.

    Raises:
        TypeError: `content` is not a `str`, or `watermark` is not an `int`.
        ValueError: `content` is empty or blank, or `watermark` is negative.

    Example:
        ```python
        await client.contacts.send(contact_id, Text("See you tomorrow", watermark=1767225600))
        ```
    """

    type: ClassVar[str] = "text"
    content: str = attrs.field(validator=_non_empty_str)
    watermark: int | None = attrs.field(default=None, kw_only=True, validator=_watermark)

    def _fields(self) -> dict[str, Any]:
        return {"content": self.content}


@attrs.frozen(init=False)
class _Media(_Outgoing):
    """A media message: the file at `url` (sent as `media`, its name on the wire).

    The server sends it as a document when the file does not match the type.

    Attributes:
        url: the media file's URL (also accepted as `media=`, not both).
        watermark: the priority timestamp (unix seconds, keyword only); `None` sends the
            time of sending.

    Raises:
        TypeError: neither or both of `url` and `media` given, a URL that is not a `str`,
            or a `watermark` that is not an `int`.
        ValueError: an empty URL, or a negative `watermark`.
    """

    url: str = attrs.field(validator=_non_empty_str)
    watermark: int | None = attrs.field(default=None, kw_only=True, validator=_watermark)

    def __init__(
        self, url: str | None = None, *, media: str | None = None, watermark: int | None = None
    ) -> None:
        # ``media`` is the wire name; either spelling is accepted, not both.
        if url is not None and media is not None:
            raise TypeError(f"{type(self).__name__}: pass url or media, not both")
        chosen = url if url is not None else media
        if chosen is None:
            raise TypeError(f"{type(self).__name__}.url is required (the media file's URL)")
        self.__attrs_init__(chosen, watermark=watermark)

    def _fields(self) -> dict[str, Any]:
        return {"media": self.url}


@attrs.frozen(init=False)
class Picture(_Media):
    """An image at `url`.

    Every media type (`Picture`, `File`, `Video`, `Audio`, `Voice`, `Animation`) takes the
    same arguments.

    Attributes:
        url: the media file's URL (also accepted as `media=`, its name on the wire; not
            both).
        watermark: the priority timestamp (unix seconds, keyword only); `None` sends the
            time of sending.

    Raises:
        TypeError: neither or both of `url` and `media`, a URL that is not a `str`, or a
            `watermark` that is not an `int`.
        ValueError: an empty URL, or a negative `watermark`.

    Example:
        ```python
        await client.contacts.send(contact_id, Picture("https://example.com/p.jpg"))
        ```
    """

    type: ClassVar[str] = "picture"


@attrs.frozen(init=False)
class File(_Media):
    """A document at `url`; the arguments are
    [`Picture`][smartsender_async.Picture]'s."""

    type: ClassVar[str] = "file"


@attrs.frozen(init=False)
class Video(_Media):
    """A video at `url`; the arguments are
    [`Picture`][smartsender_async.Picture]'s."""

    type: ClassVar[str] = "video"


@attrs.frozen(init=False)
class Audio(_Media):
    """An audio file at `url`; the arguments are
    [`Picture`][smartsender_async.Picture]'s."""

    type: ClassVar[str] = "audio"


@attrs.frozen(init=False)
class Voice(_Media):
    """A voice message at `url`; the arguments are
    [`Picture`][smartsender_async.Picture]'s."""

    type: ClassVar[str] = "voice"


@attrs.frozen(init=False)
class Animation(_Media):
    """An animation (GIF) at `url`; the arguments are
    [`Picture`][smartsender_async.Picture]'s."""

    type: ClassVar[str] = "animation"


@attrs.frozen
class Location(_Outgoing):
    """A point on the map with a title (the API requires all three).

    Attributes:
        latitude: degrees, -90 to 90.
        longitude: degrees, -180 to 180.
        title: the place's name; not empty.
        watermark: the priority timestamp (unix seconds, keyword only).

    Raises:
        TypeError: a coordinate that is not a number, or a `title` that is not a `str`.
        ValueError: a coordinate out of range or not finite, or an empty `title`.

    Example:
        ```python
        await client.contacts.send(contact_id, Location(50.45, 30.52, title="Our shop"))
        ```
    """

    type: ClassVar[str] = "location"
    latitude: float = attrs.field(validator=_coordinate(90.0))
    longitude: float = attrs.field(validator=_coordinate(180.0))
    title: str = attrs.field(validator=_non_empty_str)
    watermark: int | None = attrs.field(default=None, kw_only=True, validator=_watermark)

    def _fields(self) -> dict[str, Any]:
        return {"title": self.title, "latitude": self.latitude, "longitude": self.longitude}


@attrs.frozen
class ContactCard(_Outgoing):
    """A contact card: a name and a phone number (wire type `contact`).

    Attributes:
        full_name: the name shown on the card; not empty.
        phone_number: the number; not empty.
        watermark: the priority timestamp (unix seconds, keyword only).

    Raises:
        TypeError: a field that is not a `str`.
        ValueError: an empty field.

    Example:
        ```python
        await client.contacts.send(contact_id, ContactCard("Support", "+380441234567"))
        ```
    """

    type: ClassVar[str] = "contact"
    full_name: str = attrs.field(validator=_non_empty_str)
    phone_number: str = attrs.field(validator=_non_empty_str)
    watermark: int | None = attrs.field(default=None, kw_only=True, validator=_watermark)

    def _fields(self) -> dict[str, Any]:
        return {"fullName": self.full_name, "phoneNumber": self.phone_number}


#: `outgoing.Contact` is `ContactCard` (the wire type is `contact`; the name `Contact` at
#: the package root is the contact model).
Contact = ContactCard

OutgoingMessage = Text | Picture | File | Video | Audio | Voice | Animation | Location | ContactCard
"""Every message type `client.contacts.send()` accepts (a plain `str` means `Text`)."""
