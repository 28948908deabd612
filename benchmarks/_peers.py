"""pydantic v2 and msgspec models of the same shapes, as the decode baselines.

They are written to do the same job as the SDK's models, where the library allows it:

* same fields, frozen, tuples for lists, ``int`` ids in lax mode (numeric strings pass);
* datetimes parsed to aware values (both libraries keep the ``Z`` as UTC);
* pydantic keeps unknown keys (``extra="allow"``) at every level, as the SDK's ``extra``
  does; msgspec cannot keep unknown keys, it drops them;
* content is a tagged union on ``type``.  pydantic gets a callable discriminator that
  sends unknown tags to a fallback model, as the SDK does.  msgspec tagged unions have no
  fallback for an unknown tag, so its messages page has that one item's content
  retyped to ``text`` (see :func:`benchmarks._payloads.messages_page`).

pydantic's model keeps ``content`` in its wire shape (``type`` + ``resource``) instead of
flattening the parameters the way the SDK does; it is the same information, typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

import msgspec
import pydantic
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

__all__ = ["MsgspecChatsPage", "MsgspecMessagesPage", "PydanticChatsPage", "PydanticMessagesPage"]

# --------------------------------------------------------------------------- pydantic


class _P(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


class _PC(_P):
    model_config = ConfigDict(
        extra="allow", frozen=True, populate_by_name=True, alias_generator=_camel
    )


class PCursor(_P):
    page: int
    pages: int


class PChannel(_P):
    type: str | None = None
    name: str | None = None


class PGate(_P):
    id: int | None = None
    subscribed: bool | None = None
    channel: PChannel | None = None


class PChatContact(_PC):
    original_id: int | None = None
    full_name: str | None = None


class PChat(_PC):
    id: int
    name: str | None = None
    image: str | None = None
    unread_messages: int | None = None
    contact: PChatContact | None = None
    gates: tuple[PGate, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PydanticChatsPage(_P):
    cursor: PCursor
    collection: tuple[PChat, ...] = ()


class PButtonParams(_P):
    text: str | None = None


class PButton(_P):
    parameters: PButtonParams = PButtonParams()


def _resource(params: type[BaseModel]) -> type[BaseModel]:
    return pydantic.create_model(
        f"PResource{params.__name__}",
        __base__=_P,
        parameters=(params, params()),
        buttons=(tuple[PButton, ...], ()),
    )


class PText(_P):
    content: str | None = None


class PPending(_P):
    content: str | None = None
    replacement: dict[str, Any] = Field(default_factory=dict)


class PUrl(_P):
    url: str | None = None
    caption: str | None = None


class PMedia(_P):
    media: tuple[dict[str, Any], ...] = ()


class PContactCard(_PC):
    name: str | None = None
    phone_number: str | None = None


class PLocation(_P):
    latitude: float | None = None
    longitude: float | None = None


class PReceipt(_P):
    title: str | None = None
    description: str | None = None


class PInvoice(_P):
    receipt: PReceipt | None = None


class PTransientContext(_P):
    timestamp: Any = None


class PTransient(_P):
    original: dict[str, Any] | None = None
    context: PTransientContext | None = None


def _content(tag: str, params: type[BaseModel]) -> type[BaseModel]:
    return pydantic.create_model(
        f"PContent_{tag}",
        __base__=_P,
        type=(Literal[tag], ...),  # type: ignore[valid-type]
        resource=(_resource(params), None),
    )


_TAGGED = {
    tag: _content(tag, params)
    for tag, params in {
        "text": PText,
        "input": PText,
        "action": PText,
        "pendingText": PPending,
        "transient": PTransient,
        "picture": PUrl,
        "telegramCaptionedPicture": PUrl,
        "animation": PUrl,
        "file": PUrl,
        "link": PUrl,
        "video": PUrl,
        "telegramVideoNote": PUrl,
        "audio": PUrl,
        "voice": PUrl,
        "mediaGroup": PMedia,
        "contact": PContactCard,
        "location": PLocation,
        "telegramInvoice": PInvoice,
    }.items()
}


class PUnknownContent(_P):
    type: str | None = None


def _content_tag(value: Any) -> str:
    tag = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return tag if tag in _TAGGED else "unknown"


PContent = Annotated[
    Union[
        (
            *(Annotated[cls, Tag(tag)] for tag, cls in _TAGGED.items()),
            Annotated[PUnknownContent, Tag("unknown")],
        )
    ],
    Discriminator(_content_tag),
]


class PSender(_PC):
    type: str | None = None
    full_name: str | None = None
    image: str | None = None


class PMessage(_PC):
    id: int
    content: PContent | None = None  # type: ignore[valid-type]
    internal: bool | None = None
    state: dict[str, Any] | None = None
    sender: PSender | None = None
    gate: PGate | None = None
    edited_at: datetime | None = None
    seen_at: datetime | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None


class PydanticMessagesPage(_P):
    cursor: PCursor
    collection: tuple[PMessage, ...] = ()


# --------------------------------------------------------------------------- msgspec


class _M(msgspec.Struct, frozen=True, rename="camel"):
    pass


class MCursor(_M):
    page: int
    pages: int


class MChannel(_M):
    type: str | None = None
    name: str | None = None


class MGate(_M):
    id: int | None = None
    subscribed: bool | None = None
    channel: MChannel | None = None


class MChatContact(_M):
    original_id: int | None = None
    full_name: str | None = None


class MChat(_M):
    id: int
    name: str | None = None
    image: str | None = None
    unread_messages: int | None = None
    contact: MChatContact | None = None
    gates: tuple[MGate, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MsgspecChatsPage(_M):
    cursor: MCursor
    collection: tuple[MChat, ...] = ()


class MButtonParams(_M):
    text: str | None = None


class MButton(_M):
    parameters: MButtonParams | None = None


def _m_content(tag: str, params: list[tuple[str, Any, Any]]) -> type[msgspec.Struct]:
    parameters = msgspec.defstruct(f"MParams_{tag}", params, **_opts)
    resource = msgspec.defstruct(
        f"MResource_{tag}",
        [
            ("parameters", parameters | None, None),
            ("buttons", tuple[MButton, ...], ()),
        ],
        **_opts,
    )
    return msgspec.defstruct(
        f"MContent_{tag}",
        [("resource", resource | None, None)],
        tag=tag,
        tag_field="type",
        **_opts,
    )


_opts: dict[str, Any] = {"frozen": True, "rename": "camel"}
_text = {"content": (str | None, None)}
_url = {"url": (str | None, None), "caption": (str | None, None)}
MReceipt = msgspec.defstruct(
    "MReceipt", [("title", str | None, None), ("description", str | None, None)], **_opts
)
MContext = msgspec.defstruct("MContext", [("timestamp", Any, None)], **_opts)
_M_PARAMS: dict[str, dict[str, Any]] = {
    "text": _text,
    "input": _text,
    "action": _text,
    "pendingText": {**_text, "replacement": (dict[str, Any], {})},
    "transient": {
        "original": (dict[str, Any] | None, None),
        "context": (MContext | None, None),
    },
    "mediaGroup": {"media": (tuple[dict[str, Any], ...], ())},
    "contact": {"name": (str | None, None), "phone_number": (str | None, None)},
    "location": {"latitude": (float | None, None), "longitude": (float | None, None)},
    "telegramInvoice": {"receipt": (MReceipt | None, None)},
}
_M_PARAMS.update(
    dict.fromkeys(
        (
            "picture",
            "telegramCaptionedPicture",
            "animation",
            "file",
            "link",
            "video",
            "telegramVideoNote",
            "audio",
            "voice",
        ),
        _url,
    )
)
_M_FIELDS = {
    tag: [(k, tp, default) for k, (tp, default) in fields.items()]
    for tag, fields in _M_PARAMS.items()
}
MContent = Union[tuple(_m_content(tag, fields) for tag, fields in _M_FIELDS.items())]  # type: ignore[valid-type]  # noqa: UP007


class MSender(_M):
    type: str | None = None
    full_name: str | None = None
    image: str | None = None


class MMessage(_M):
    id: int
    content: MContent | None = None  # type: ignore[valid-type]
    internal: bool | None = None
    state: dict[str, Any] | None = None
    sender: MSender | None = None
    gate: MGate | None = None
    edited_at: datetime | None = None
    seen_at: datetime | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None


class MsgspecMessagesPage(_M):
    cursor: MCursor
    collection: tuple[MMessage, ...] = ()
