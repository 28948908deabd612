"""Decoding: reference payloads, hostile payloads, round trips, the timestamp parser."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartsender_async import models as m
from smartsender_async._convert import (
    DecodeError,
    converter,
    format_timestamp,
    parse_timestamp,
    structure,
)
from smartsender_async.models import Chat, Contact, Message, Operator, Page

UTC = timezone.utc

CHATS_PAGE = {
    "cursor": {"page": 1, "pages": 7},
    "collection": [
        {
            "id": 48213,
            "name": "Iryna Kovalenko",
            "image": "https://messenger.smartsender.com/storage/projects/501/avatars/k2f9.jpg",
            "unreadMessages": 2,
            "contact": {"originalId": 90117342, "fullName": "Iryna Kovalenko"},
            "gates": [
                {
                    "id": 7712409,
                    "subscribed": True,
                    "channel": {"type": "telegram", "name": "shop_helper_bot"},
                }
            ],
            "createdAt": "2025-11-02T08:14:55.000000Z",
            "updatedAt": "2026-03-18T16:40:12.000000Z",
        },
        {
            "id": 48190,
            "name": "Taras M.",
            "image": "https://messenger.smartsender.com/storage/projects/501/avatars/a7c1.jpg",
            "unreadMessages": 0,
            "contact": {"originalId": 90116870, "fullName": "Taras M."},
            "gates": [
                {
                    "id": 7711950,
                    "subscribed": False,
                    "channel": {"type": "viber", "name": "Shop Helper"},
                }
            ],
            "createdAt": "2025-10-29T19:02:10.000000Z",
            "updatedAt": "2026-03-18T15:05:47.000000Z",
        },
    ],
}

MESSAGES_PAGE = {
    "cursor": {"page": 1, "pages": 15},
    "collection": [
        {
            "id": 3310547,
            "content": {"type": "text", "resource": {"parameters": {"content": "Thanks, got it!"}}},
            "internal": False,
            "state": {},
            "sender": {
                "type": "contact",
                "fullName": "Iryna Kovalenko",
                "image": "https://x/k.jpg",
            },
            "gate": {
                "id": 7712409,
                "subscribed": True,
                "channel": {"type": "telegram", "name": "b"},
            },
            "editedAt": None,
            "seenAt": "2026-03-18T16:41:00.000000Z",
            "createdAt": "2026-03-18T16:40:12.000000Z",
            "deliveredAt": "2026-03-18T16:40:12.000000Z",
        },
        {
            "id": 3310511,
            "content": {
                "type": "picture",
                "resource": {
                    "parameters": {"url": "https://x/p0q1.jpg", "caption": "Your order"},
                    "buttons": [{"parameters": {"text": "Track parcel"}}],
                },
            },
            "internal": False,
            "state": {},
            "sender": {
                "type": "operator",
                "fullName": "Support Desk",
                "image": "/img/operator.png",
            },
            "gate": {
                "id": 7712409,
                "subscribed": True,
                "channel": {"type": "telegram", "name": "b"},
            },
            "editedAt": None,
            "seenAt": None,
            "createdAt": "2026-03-18T16:38:03.000000Z",
            "deliveredAt": "2026-03-18T16:38:04.000000Z",
        },
    ],
}


def content(tag: str, **params: Any) -> dict[str, Any]:
    return {"type": tag, "resource": {"parameters": params}}


def test_reference_chats_page() -> None:
    page = structure(CHATS_PAGE, Page[Chat])
    assert (page.cursor.page, page.cursor.pages) == (1, 7)
    assert len(page) == 2
    first = page.items[0]
    assert first.id == 48213
    assert first.unread_messages == 2
    assert first.contact == m.ChatContact(original_id=90117342, full_name="Iryna Kovalenko")
    assert first.contact_id == 90117342
    assert first.gates[0].channel == m.Channel(type="telegram", name="shop_helper_bot")
    assert first.gates[0].subscribed is True
    assert first.updated_at == datetime(2026, 3, 18, 16, 40, 12, tzinfo=UTC)
    assert [c.id for c in page] == [48213, 48190]


def test_reference_messages_page() -> None:
    page = structure(MESSAGES_PAGE, Page[Message])
    text, picture = page.items
    assert isinstance(text.content, m.TextContent)
    assert text.content.type == "text"
    assert text.text == "Thanks, got it!"
    assert text.is_inbound
    assert text.edited_at is None
    assert text.seen_at == datetime(2026, 3, 18, 16, 41, tzinfo=UTC)
    assert isinstance(picture.content, m.PictureContent)
    assert picture.content.url == "https://x/p0q1.jpg"
    assert picture.content.caption == "Your order"
    assert picture.content.buttons[0].text == "Track parcel"
    assert not picture.is_inbound
    assert picture.gate is not None and picture.gate.id == 7712409


@pytest.mark.parametrize(
    ("wire", "cls", "expected"),
    [
        (content("text", content="hi"), m.TextContent, {"content": "hi"}),
        (content("input", content="42"), m.InputContent, {"content": "42"}),
        (
            content("pendingText", content="Hi {n}", replacement={"{n}": "Ann"}),
            m.PendingTextContent,
            {"content": "Hi {n}", "replacement": {"{n}": "Ann"}},
        ),
        (content("picture", url="u", caption="c"), m.PictureContent, {"url": "u", "caption": "c"}),
        (
            content("telegramCaptionedPicture", url="u", caption="c"),
            m.TelegramCaptionedPictureContent,
            {"url": "u", "caption": "c"},
        ),
        (content("animation", url="u"), m.AnimationContent, {"url": "u"}),
        (content("file", url="u"), m.FileContent, {"url": "u"}),
        (content("link", url="u"), m.LinkContent, {"url": "u"}),
        (content("video", url="u"), m.VideoContent, {"url": "u"}),
        (content("telegramVideoNote", url="u"), m.TelegramVideoNoteContent, {"url": "u"}),
        (content("audio", url="u"), m.AudioContent, {"url": "u"}),
        (content("voice", url="u"), m.VoiceContent, {"url": "u"}),
        (
            content(
                "mediaGroup",
                media=[
                    {"resource": {"parameters": {"url": "a"}}},
                    {"resource": {"parameters": {"url": "b"}}},
                ],
            ),
            m.MediaGroupContent,
            {"urls": ("a", "b")},
        ),
        (
            content("contact", name="Ann", phoneNumber="+380"),
            m.ContactContent,
            {"name": "Ann", "phone_number": "+380"},
        ),
        (
            content("location", latitude=50.45, longitude=30.52),
            m.LocationContent,
            {"latitude": 50.45, "longitude": 30.52},
        ),
        (content("action", content="Chat closed"), m.ActionContent, {"content": "Chat closed"}),
        (
            content("telegramInvoice", receipt={"title": "T", "description": "D"}),
            m.TelegramInvoiceContent,
            {"title": "T", "description": "D"},
        ),
    ],
)
def test_every_content_type(wire: dict[str, Any], cls: type, expected: dict[str, Any]) -> None:
    msg = structure({"id": 1, "content": wire}, Message)
    assert type(msg.content) is cls
    assert msg.content.type == wire["type"]
    for name, value in expected.items():
        assert getattr(msg.content, name) == value
    # Re-encoding gives back what the server sent.
    assert converter.unstructure(msg)["content"] == wire


def test_transient_keeps_original() -> None:
    wire = content("transient", original=content("text", content="gone"), context={"timestamp": 17})
    msg = structure({"id": 1, "content": wire}, Message)
    assert isinstance(msg.content, m.TransientContent)
    assert msg.content.original == m.TextContent(content="gone")
    assert msg.content.timestamp == datetime(1970, 1, 1, 0, 0, 17, tzinfo=UTC)


def test_unknown_content_type_keeps_raw() -> None:
    wire = {"type": "hologram", "resource": {"parameters": {"depth": 3}}, "more": True}
    msg = structure({"id": 1, "content": wire}, Message)
    assert isinstance(msg.content, m.UnknownContent)
    assert msg.content.type == "hologram"
    assert msg.content.raw == wire
    assert converter.unstructure(msg)["content"] == wire


def test_extra_fields_are_kept_at_every_level() -> None:
    wire = json.loads(json.dumps(CHATS_PAGE))
    chat = wire["collection"][0]
    chat["state"] = "open"
    chat["operator"] = {"id": 5}
    chat["contact"]["avatar"] = "x"
    chat["gates"][0]["channel"]["color"] = "blue"
    wire["cursor"]["total"] = 140
    page = structure(wire, Page[Chat])
    decoded = page.items[0]
    assert decoded.extra == {"state": "open", "operator": {"id": 5}}
    assert decoded.contact is not None and decoded.contact.extra == {"avatar": "x"}
    assert decoded.gates[0].channel is not None
    assert decoded.gates[0].channel.extra == {"color": "blue"}
    assert page.cursor.extra == {"total": 140}
    assert converter.unstructure(decoded) == chat


def test_missing_optional_fields_and_nulls() -> None:
    chat = structure({"id": 1}, Chat)
    assert chat == Chat(id=1)
    assert chat.gates == ()
    nulls = {k: None for k in CHATS_PAGE["collection"][0]}  # type: ignore[attr-defined]
    nulls["id"] = 2
    chat = structure(nulls, Chat)
    assert chat.name is None and chat.contact is None and chat.gates == ()
    msg = structure({"id": 3, "content": None, "sender": None, "state": None}, Message)
    assert msg.content is None and msg.text is None and not msg.is_inbound


def test_numeric_string_ids_and_old_timestamps() -> None:
    chat = structure(
        {
            "id": "48213",
            "contact": {"originalId": "90117342"},
            "gates": [{"id": "7"}],
            "createdAt": "2019-10-23 16:16:38",
        },
        Chat,
    )
    assert chat.id == 48213
    assert chat.contact_id == 90117342
    assert chat.gates[0].id == 7
    assert chat.created_at == datetime(2019, 10, 23, 16, 16, 38, tzinfo=UTC)


def test_contact_and_operator() -> None:
    contact = structure(
        {
            "id": 9,
            "fullName": "Ann Lee",
            "firstName": "Ann",
            "email": "a@x",
            "tags": [{"id": 1, "name": "vip"}],
            "funnels": [{"name": "Sales", "serviceKey": "abc"}],
            "variables": [{"name": "city", "value": "Kyiv"}],
            "notes": [{"content": "n", "user": {"fullName": "Op"}}],
        },
        Contact,
    )
    assert contact.tags == (m.Tag(id=1, name="vip"),)
    assert contact.funnels == (m.Funnel(name="Sales", service_key="abc"),)
    assert contact.variables[0].value == "Kyiv"
    assert contact.notes[0]["content"] == "n"
    op = structure({"id": "4", "info": {"email": "o@x", "fullName": "Olga"}}, Operator)
    assert (op.id, op.full_name, op.email) == (4, "Olga", "o@x")


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"cursor": {"page": 1}, "collection": []}, "cursor.pages"),
        ({"collection": []}, "cursor"),
        ({"cursor": {"page": 1, "pages": 1}, "collection": [{"name": "x"}]}, "collection[0].id"),
        ({"cursor": {"page": 1, "pages": 1}, "collection": [{"id": "abc"}]}, "collection[0].id"),
        (
            {"cursor": {"page": 1, "pages": 1}, "collection": [{"id": 1, "gates": [{"id": []}]}]},
            "collection[0].gates[0].id",
        ),
        (
            {"cursor": {"page": 1, "pages": 1}, "collection": [{"id": 1, "createdAt": "soon"}]},
            "collection[0].createdAt",
        ),
        ({"cursor": {"page": 1, "pages": 1}, "collection": {"id": 1}}, "collection"),
        ([], ""),
    ],
)
def test_decode_errors_name_the_field(data: Any, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        structure(data, Page[Chat])
    assert info.value.path == path


def test_cursor_requires_only_page_and_pages() -> None:
    cursor = structure({"page": 2, "pages": 3}, m.Cursor)
    assert cursor == m.Cursor(page=2, pages=3)
    assert cursor.has_next


def test_page_protocol() -> None:
    page = structure(CHATS_PAGE, Page[Chat])
    assert isinstance(page.items, tuple)
    assert page[1].id == 48190
    assert list(page) == list(page.items)


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-10-23 16:16:38", datetime(2019, 10, 23, 16, 16, 38, tzinfo=UTC)),
        ("2024-05-17T09:41:03.000000Z", datetime(2024, 5, 17, 9, 41, 3, tzinfo=UTC)),
        ("2024-05-17T09:41:03Z", datetime(2024, 5, 17, 9, 41, 3, tzinfo=UTC)),
        ("2024-05-17T09:41:03.123Z", datetime(2024, 5, 17, 9, 41, 3, 123000, tzinfo=UTC)),
        ("2024-05-17T11:41:03+02:00", datetime(2024, 5, 17, 9, 41, 3, tzinfo=UTC)),
        ("2024-05-17T11:41:03+0200", datetime(2024, 5, 17, 9, 41, 3, tzinfo=UTC)),
        ("2024-05-17T09:41:03.123456789Z", datetime(2024, 5, 17, 9, 41, 3, 123456, tzinfo=UTC)),
        (1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (None, None),
    ],
)
def test_parse_timestamp_forms(text: Any, expected: datetime | None) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


@pytest.mark.parametrize("bad", ["", "yesterday", "2024-13-01T00:00:00Z", [], True])
def test_parse_timestamp_rejects(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_timestamp(bad)


aware = st.datetimes(
    min_value=datetime(2, 1, 1),  # years before 1000 too: formatting must zero-pad them
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5, minutes=-30))]
    ),
)


@given(aware)
def test_timestamp_round_trip(value: datetime) -> None:
    parsed = parse_timestamp(format_timestamp(value))
    assert parsed == value
    assert parsed is not None and parsed.utcoffset() == timedelta(0)


@given(aware)
def test_timestamp_offsets_and_old_form(value: datetime) -> None:
    assert parse_timestamp(value.isoformat()) == value
    utc = value.astimezone(UTC).replace(microsecond=0)
    old_form = utc.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    assert parse_timestamp(old_form) == utc


# --------------------------------------------------------------------------- round trips

ids = st.integers(min_value=1, max_value=2**53)
text = st.none() | st.text(max_size=20)
stamps = st.none() | aware.map(lambda d: d.astimezone(UTC))
extra = st.dictionaries(
    st.sampled_from(["zeta", "omega", "x_y"]), st.integers() | st.text(max_size=5), max_size=2
)
channels = st.builds(m.Channel, type=text, name=text, extra=extra)
gates = st.builds(
    m.Gate,
    id=st.none() | ids,
    subscribed=st.none() | st.booleans(),
    channel=st.none() | channels,
    extra=extra,
)
chats = st.builds(
    Chat,
    id=ids,
    name=text,
    image=text,
    unread_messages=st.none() | st.integers(min_value=0, max_value=999),
    contact=st.none()
    | st.builds(m.ChatContact, original_id=st.none() | ids, full_name=text, extra=extra),
    gates=st.lists(gates, max_size=3).map(tuple),
    created_at=stamps,
    updated_at=stamps,
    extra=extra,
)
contents = st.one_of(
    st.builds(m.TextContent, content=text),
    st.builds(
        m.PictureContent,
        url=text,
        caption=text,
        buttons=st.lists(st.builds(m.Button, text=st.text(max_size=5)), max_size=2).map(tuple),
    ),
    st.builds(
        m.LocationContent,
        latitude=st.none() | st.floats(-90, 90),
        longitude=st.none() | st.floats(-180, 180),
    ),
    st.builds(m.ContactContent, name=text, phone_number=text),
    st.builds(m.MediaGroupContent, urls=st.lists(st.text(max_size=5), max_size=3).map(tuple)),
    st.builds(m.TelegramInvoiceContent, title=text, description=text),
)
messages = st.builds(
    Message,
    id=ids,
    content=st.none() | contents,
    internal=st.none() | st.booleans(),
    sender=st.none() | st.builds(m.Sender, type=text, full_name=text, image=text, extra=extra),
    gate=st.none() | gates,
    created_at=stamps,
    seen_at=stamps,
    extra=extra,
)


@settings(max_examples=150)
@given(chats)
def test_chat_round_trip(chat: Chat) -> None:
    wire = json.loads(json.dumps(converter.unstructure(chat)))
    assert structure(wire, Chat) == chat


@settings(max_examples=150)
@given(messages)
def test_message_round_trip(message: Message) -> None:
    wire = json.loads(json.dumps(converter.unstructure(message)))
    assert structure(wire, Message) == message


@given(st.lists(chats, max_size=4), st.integers(1, 5))
def test_page_round_trip(items: list[Chat], pages: int) -> None:
    page = Page(m.Cursor(page=1, pages=pages), tuple(items))
    wire = json.loads(json.dumps(converter.unstructure(page)))
    assert structure(wire, Page[Chat]) == page


def test_models_are_frozen_and_slotted() -> None:
    chat = Chat(id=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        chat.id = 2  # type: ignore[misc]
    assert not hasattr(chat, "__dict__")


def test_php_empty_array_where_an_object_belongs_means_none() -> None:
    msg = structure({"id": 1, "sender": [], "gate": [], "state": [], "content": []}, Message)
    assert (msg.sender, msg.gate, msg.state, msg.content) == (None, None, {}, None)
    chat = structure({"id": 2, "contact": []}, Chat)
    assert chat.contact is None
    with pytest.raises(DecodeError) as info:
        structure({"id": 3, "contact": [1]}, Chat)
    assert info.value.path == "contact"


def test_repeated_channels_and_senders_are_shared_but_never_mixed_up() -> None:
    gate = {"id": 1, "channel": {"type": "telegram", "name": "bot"}}
    odd = {"id": 2, "channel": {"type": "telegram", "name": "bot", "color": "red"}}
    page = structure(
        {
            "cursor": {"page": 1, "pages": 1},
            "collection": [{"id": 1, "gates": [gate, odd]}, {"id": 2, "gates": [gate]}],
        },
        Page[Chat],
    )
    first, with_extra = page.items[0].gates
    again = page.items[1].gates[0]
    assert first.channel is again.channel  # one frozen instance per distinct value
    assert first.channel == m.Channel(type="telegram", name="bot")
    assert with_extra.channel is not first.channel
    assert with_extra.channel is not None and with_extra.channel.extra == {"color": "red"}
    assert first.channel is not None and first.channel.extra == {}
    senders = structure(
        [{"id": i, "sender": {"type": "contact", "fullName": "Ann"}} for i in (1, 2)],
        list[Message],
    )
    assert senders[0].sender is senders[1].sender


def _decoded_objects(obj: Any) -> list[Any]:
    """``obj`` and every model reachable from it."""
    found = [obj]
    if attrs.has(type(obj)):
        for field in attrs.fields(type(obj)):
            value = getattr(obj, field.name)
            values = value if isinstance(value, tuple) else (value,)
            for item in values:
                if attrs.has(type(item)):
                    found += _decoded_objects(item)
    return found


@pytest.mark.parametrize(("data", "tp"), [(CHATS_PAGE, Page[Chat]), (MESSAGES_PAGE, Page[Message])])
def test_decoded_models_are_plain_instances_of_their_class(data: Any, tp: Any) -> None:
    # The decoder builds models in a mutable twin class and then re-classes them; what comes
    # out must be indistinguishable from a model built through its constructor.
    page = structure(data, tp)
    objects = _decoded_objects(page)
    assert len(objects) > 6
    for obj in objects:
        cls = type(obj)
        assert cls.__module__.startswith("smartsender_async.models"), cls
        assert not cls.__name__.startswith("_"), cls
        first = attrs.fields(cls)[0].name
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(obj, first, None)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            delattr(obj, first)
        init = {f.name: getattr(obj, f.name) for f in attrs.fields(cls) if f.init}
        rebuilt = cls(**init)
        assert rebuilt == obj
        assert hash(rebuilt) == hash(obj)
        assert pickle.loads(pickle.dumps(obj)) == obj
        assert copy.copy(obj) == obj
        assert attrs.evolve(obj) == obj
