"""Messages: `Message`, `Sender` and the tagged union of message contents.

A message's `content` is `{"type": ..., "resource": {"parameters": {...}, "buttons": [...]}}`
on the wire.  It decodes to the class registered for `type` in `CONTENT_TYPES`
(`TextContent` for `"text"` and so on), each exposing `.type` and its parameters
as snake_case attributes.  An unknown type decodes to `UnknownContent`, which keeps
the raw dict.  Every content object also keeps the dict it came from as `raw` (ignored by
`==`), so re-encoding a decoded message gives back what the server sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

import attrs

from smartsender_async.models.chats import Gate
from smartsender_async.models.common import EMPTY, ResponseInfo

__all__ = [
    "CONTENT_TYPES",
    "ActionContent",
    "AnimationContent",
    "AudioContent",
    "Button",
    "ContactContent",
    "Content",
    "FileContent",
    "InputContent",
    "LinkContent",
    "LocationContent",
    "MediaGroupContent",
    "Message",
    "MessageContent",
    "PendingTextContent",
    "PictureContent",
    "Sender",
    "TelegramCaptionedPictureContent",
    "TelegramInvoiceContent",
    "TelegramVideoNoteContent",
    "TextContent",
    "TransientContent",
    "UnknownContent",
    "VideoContent",
    "VoiceContent",
    "deletion_time",
]


@attrs.frozen
class Button:
    """A button under a message; `text` is its label.

    `parameters` is the button's dict as received (ignored by `==`).
    """

    text: str | None = None
    parameters: Mapping[str, Any] = attrs.field(default=EMPTY, eq=False, repr=False)


@attrs.frozen
class Content:
    """Base of every message content class.

    Subclasses set the class attribute `type` to the wire tag they decode.
    `buttons` are the content's buttons; `raw` is the content dict as received
    (empty for objects built in code) and takes no part in equality.
    """

    type: ClassVar[str] = ""
    buttons: tuple[Button, ...] = attrs.field(default=(), kw_only=True)
    raw: Mapping[str, Any] = attrs.field(default=EMPTY, kw_only=True, eq=False, repr=False)


@attrs.frozen
class TextContent(Content):
    """`text`: plain text in `content`."""

    type: ClassVar[str] = "text"
    content: str | None = None


@attrs.frozen
class InputContent(Content):
    """`input`: a contact's reply collected by a bot input block."""

    type: ClassVar[str] = "input"
    content: str | None = None


@attrs.frozen
class PendingTextContent(Content):
    """`pendingText`: text whose `{placeholders}` are substituted from `replacement`."""

    type: ClassVar[str] = "pendingText"
    content: str | None = None
    replacement: Mapping[str, Any] = attrs.field(default=EMPTY, hash=False)


#: Above this, a numeric timestamp is read as milliseconds (1e11 s is the year 5138).
_MILLISECONDS_FROM = 10**11


def deletion_time(value: Any) -> datetime | None:
    """A deleted message's `context.timestamp` as an aware UTC datetime.

    Its true form is unknown: a real client reads it as Unix milliseconds, the emulator
    sends Unix seconds.  Both are accepted (a number of at least 1e11 is taken as
    milliseconds, so a millisecond time before March 1973 would be misread), and so are
    numeric strings, ISO 8601 text and datetimes.  Anything else gives `None`; the
    value as sent stays in the content's `raw`.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            from smartsender_async._convert import parse_timestamp  # imports this module

            try:
                return parse_timestamp(text)
            except (TypeError, ValueError):
                return None
    if not isinstance(value, (int, float)):
        return None
    seconds = value / 1000 if abs(value) >= _MILLISECONDS_FROM else value
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


@attrs.frozen
class TransientContent(Content):
    """`transient`: a deleted message.

    `original` is what it was, when the server says; `timestamp` is
    `context.timestamp` decoded by `deletion_time` (seconds, milliseconds or ISO
    text, as an aware UTC datetime; `None` when absent or unreadable).
    """

    type: ClassVar[str] = "transient"
    original: MessageContent | None = None
    timestamp: datetime | None = attrs.field(default=None, converter=deletion_time)


@attrs.frozen
class PictureContent(Content):
    """`picture`: an image at `url` with an optional `caption`."""

    type: ClassVar[str] = "picture"
    url: str | None = None
    caption: str | None = None


@attrs.frozen
class TelegramCaptionedPictureContent(Content):
    """`telegramCaptionedPicture`: a Telegram image with a caption."""

    type: ClassVar[str] = "telegramCaptionedPicture"
    url: str | None = None
    caption: str | None = None


@attrs.frozen
class AnimationContent(Content):
    """`animation`: a GIF-like animation at `url`."""

    type: ClassVar[str] = "animation"
    url: str | None = None
    caption: str | None = None


@attrs.frozen
class FileContent(Content):
    """`file`: a document at `url`."""

    type: ClassVar[str] = "file"
    url: str | None = None


@attrs.frozen
class LinkContent(Content):
    """`link`: a link to `url`."""

    type: ClassVar[str] = "link"
    url: str | None = None


@attrs.frozen
class VideoContent(Content):
    """`video`: a video at `url`."""

    type: ClassVar[str] = "video"
    url: str | None = None


@attrs.frozen
class TelegramVideoNoteContent(Content):
    """`telegramVideoNote`: a Telegram round video note at `url`."""

    type: ClassVar[str] = "telegramVideoNote"
    url: str | None = None


@attrs.frozen
class AudioContent(Content):
    """`audio`: an audio file at `url`."""

    type: ClassVar[str] = "audio"
    url: str | None = None


@attrs.frozen
class VoiceContent(Content):
    """`voice`: a voice message at `url`."""

    type: ClassVar[str] = "voice"
    url: str | None = None


@attrs.frozen
class MediaGroupContent(Content):
    """`mediaGroup`: several media; `urls` lists them in order."""

    type: ClassVar[str] = "mediaGroup"
    urls: tuple[str, ...] = ()


@attrs.frozen
class ContactContent(Content):
    """`contact`: a shared contact card."""

    type: ClassVar[str] = "contact"
    name: str | None = None
    phone_number: str | None = None


@attrs.frozen
class LocationContent(Content):
    """`location`: a point on the map."""

    type: ClassVar[str] = "location"
    latitude: float | None = None
    longitude: float | None = None


@attrs.frozen
class ActionContent(Content):
    """`action`: a system/activity message (listed with `activities=True`)."""

    type: ClassVar[str] = "action"
    content: str | None = None


@attrs.frozen
class TelegramInvoiceContent(Content):
    """`telegramInvoice`: an invoice; `title` and `description` come from `receipt`."""

    type: ClassVar[str] = "telegramInvoice"
    title: str | None = None
    description: str | None = None


@attrs.frozen
class UnknownContent(Content):
    """Any content type this version does not know; `raw` holds the whole dict."""

    type: str = ""  # type: ignore[misc]


MessageContent = (
    TextContent
    | InputContent
    | PendingTextContent
    | TransientContent
    | PictureContent
    | TelegramCaptionedPictureContent
    | AnimationContent
    | FileContent
    | LinkContent
    | VideoContent
    | TelegramVideoNoteContent
    | AudioContent
    | VoiceContent
    | MediaGroupContent
    | ContactContent
    | LocationContent
    | ActionContent
    | TelegramInvoiceContent
    | UnknownContent
)
"""Every class a message's `content` can decode to."""

#: The wire tag of each known content type and the class it decodes to.
CONTENT_TYPES: Mapping[str, type[Content]] = {
    cls.type: cls
    for cls in (
        TextContent,
        InputContent,
        PendingTextContent,
        TransientContent,
        PictureContent,
        TelegramCaptionedPictureContent,
        AnimationContent,
        FileContent,
        LinkContent,
        VideoContent,
        TelegramVideoNoteContent,
        AudioContent,
        VoiceContent,
        MediaGroupContent,
        ContactContent,
        LocationContent,
        ActionContent,
        TelegramInvoiceContent,
    )
}


@attrs.frozen
class Sender:
    """Who wrote a message.

    `type == "contact"` marks an inbound message; other values (operator, bot, ...) are
    outbound.

    Attributes:
        type: `"contact"` for inbound, anything else for outbound.
        full_name: the writer's name.
        image: the writer's avatar; may be a relative path.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
    """

    type: str | None = None
    full_name: str | None = None
    image: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Message:
    """A message in a chat. Lists are newest first.

    Attributes:
        id: the message's id.
        content: what it holds, decoded to a content class by its type (text, picture, file,
            ...; an unknown type keeps its dict in `raw`).
        internal: whether it is an internal note, not sent to the contact.
        state: kept as the server's dict (its shape is not documented).
        sender: who wrote it ([Sender][smartsender_async.Sender]).
        gate: the gate it went through; its `id` is what `client.gates` takes.
        edited_at: when it was edited.
        seen_at: when it was seen.
        created_at: when it was written (aware UTC).
        delivered_at: when it was delivered.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.

    Example:
        ```python
        async for message in client.chats.stream_messages(48213, limit=10):
            who = "them" if message.is_inbound else "us"
            print(message.created_at, who, message.text)
        ```
    """

    id: int
    content: MessageContent | None = None
    internal: bool | None = None
    state: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    sender: Sender | None = None
    gate: Gate | None = None
    edited_at: datetime | None = None
    seen_at: datetime | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @property
    def is_inbound(self) -> bool:
        """True when the contact wrote it (`sender.type == "contact"`)."""
        return self.sender is not None and self.sender.type == "contact"

    @property
    def text(self) -> str | None:
        """The text of a text-like content (text, input, pendingText, action), else None."""
        content = self.content
        if isinstance(content, (TextContent, InputContent, PendingTextContent, ActionContent)):
            return content.content
        return None
