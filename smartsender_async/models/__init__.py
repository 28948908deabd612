"""Response models: frozen, slotted attrs classes decoded by one cattrs converter.

Attributes are snake_case; the wire's camelCase keys are mapped by the converter in
:mod:`smartsender_async._convert`.  Every model keeps the keys it does not map in
``extra``, so nothing the server sent is lost.
"""

from smartsender_async.models.chats import Channel, Chat, ChatContact, Gate
from smartsender_async.models.common import Cursor, Page, ResponseInfo
from smartsender_async.models.contacts import Contact, Funnel, Tag, Variable
from smartsender_async.models.messages import (
    CONTENT_TYPES,
    ActionContent,
    AnimationContent,
    AudioContent,
    Button,
    ContactContent,
    Content,
    FileContent,
    InputContent,
    LinkContent,
    LocationContent,
    MediaGroupContent,
    Message,
    MessageContent,
    PendingTextContent,
    PictureContent,
    Sender,
    TelegramCaptionedPictureContent,
    TelegramInvoiceContent,
    TelegramVideoNoteContent,
    TextContent,
    TransientContent,
    UnknownContent,
    VideoContent,
    VoiceContent,
)
from smartsender_async.models.operators import Operator, OperatorInfo

__all__ = [
    "CONTENT_TYPES",
    "ActionContent",
    "AnimationContent",
    "AudioContent",
    "Button",
    "Channel",
    "Chat",
    "ChatContact",
    "Contact",
    "ContactContent",
    "Content",
    "Cursor",
    "FileContent",
    "Funnel",
    "Gate",
    "InputContent",
    "LinkContent",
    "LocationContent",
    "MediaGroupContent",
    "Message",
    "MessageContent",
    "Operator",
    "OperatorInfo",
    "Page",
    "PendingTextContent",
    "PictureContent",
    "ResponseInfo",
    "Sender",
    "Tag",
    "TelegramCaptionedPictureContent",
    "TelegramInvoiceContent",
    "TelegramVideoNoteContent",
    "TextContent",
    "TransientContent",
    "UnknownContent",
    "Variable",
    "VideoContent",
    "VoiceContent",
]
