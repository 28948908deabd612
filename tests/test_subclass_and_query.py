"""Users' subclasses of models decode correctly, validators and converters included (issue
13 item 7); ``request()`` keeps a query written in the path and lets ``params`` win on a
clash (item 8)."""

from __future__ import annotations

from typing import Any

import attrs
import httpx
import pytest
import respx

from smartsender_async import SmartSender
from smartsender_async._convert import DecodeError, structure
from smartsender_async.models import Chat, Message, Page

CHAT: dict[str, Any] = {
    "id": 48213,
    "name": "Iryna",
    "unreadMessages": 2,
    "contact": {"originalId": 90117342, "fullName": "Iryna"},
    "gates": [{"id": 7, "subscribed": True, "channel": {"type": "telegram", "name": "bot"}}],
    "createdAt": "2025-11-02T08:14:55.000000Z",
    "updatedAt": "2026-03-18T16:40:12.000000Z",
    "vip": "yes",
    "score": "17",
}

seen: list[Any] = []


def _record(instance: Any, attribute: Any, value: Any) -> None:
    seen.append((attribute.name, value))


@attrs.frozen
class VipChat(Chat):
    """A subclass adding fields after the inherited ``extra``, with a validator and a
    converter, one keyword-only and one private (init alias ``score``)."""

    vip: str | None = attrs.field(default=None, validator=_record)
    _score: int = attrs.field(default=0, converter=int, kw_only=True, alias="score")


@attrs.frozen
class CheckedChat(Chat):
    """A subclass whose validator refuses what the server sent."""

    def __attrs_post_init__(self) -> None:
        if self.unread_messages is not None and self.unread_messages > 1:
            raise ValueError("too many unread")


@attrs.define(frozen=True, slots=False)
class DictChat(Chat):
    """A non-slotted subclass."""

    nickname: str = "none"


def test_a_subclass_decodes_every_field_in_its_place() -> None:
    seen.clear()
    chat = structure(CHAT, VipChat)
    assert type(chat) is VipChat
    assert chat.id == 48213 and chat.name == "Iryna" and chat.unread_messages == 2
    assert chat.contact is not None and chat.contact.original_id == 90117342
    assert chat.gates[0].channel is not None and chat.gates[0].channel.type == "telegram"
    assert chat.vip == "yes"
    assert chat._score == 17  # the converter ran
    assert ("vip", "yes") in seen  # the validator ran
    assert chat.extra == {}  # every key found its field ("score" by the init alias)


def test_a_subclass_round_trips_through_unstructure() -> None:
    from smartsender_async import converter

    wire = converter.unstructure(structure(CHAT, VipChat))
    assert wire["vip"] == "yes" and wire["score"] == 17 and wire["unreadMessages"] == 2


def test_a_subclass_in_a_page_and_its_defaults() -> None:
    data = {"cursor": {"page": 1, "pages": 1}, "collection": [CHAT, {"id": 5}]}
    page = structure(data, Page[VipChat])
    assert [type(c) for c in page.items] == [VipChat, VipChat]
    assert page.items[1].vip is None and page.items[1]._score == 0


def test_a_subclass_validator_that_refuses_raises_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="too many unread"):
        structure(CHAT, CheckedChat)
    assert structure({**CHAT, "unreadMessages": 1}, CheckedChat).unread_messages == 1


def test_a_non_slotted_subclass_decodes() -> None:
    chat = structure({**CHAT, "nickname": "iri"}, DictChat)
    assert type(chat) is DictChat and chat.nickname == "iri" and chat.id == 48213


def test_the_sdk_models_are_unchanged() -> None:
    chat = structure(CHAT, Chat)
    assert type(chat) is Chat and chat.extra == {"vip": "yes", "score": "17"}
    message = structure({"id": 1, "sender": {"type": "contact"}}, Message)
    assert message.is_inbound


async def test_request_decodes_into_a_subclass() -> None:
    with respx.mock(base_url="https://api.smartsender.com/v1") as mock:
        mock.get("/chats/48213").respond(200, json=CHAT)
        async with SmartSender("t0ken", retry=None, rate_limit=None) as client:
            chat = await client.request("GET", "/chats/48213", model=VipChat)
    assert isinstance(chat, VipChat) and chat._score == 17 and chat.response_info is not None


# ------------------------------------------------------------------ query merge


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/contacts/5/fire?name=x", {"page": 2}, {"name": ["x"], "page": ["2"]}),
        ("/contacts/5/fire?name=x", {"name": "y"}, {"name": ["y"]}),
        (
            "/contacts/5/fire?name=x&a=1&a=2",
            {"b": "3"},
            {"name": ["x"], "a": ["1", "2"], "b": ["3"]},
        ),
        ("/contacts/5/fire?name=x", None, {"name": ["x"]}),
        ("/contacts/5/fire?name=x", {}, {"name": ["x"]}),
        ("/contacts/5/fire", {"name": "z", "n": 1}, {"name": ["z"], "n": ["1"]}),
        ("/contacts/5/fire?name=a%20b", {"page": 1}, {"name": ["a b"], "page": ["1"]}),
    ],
)
async def test_request_merges_a_query_in_the_path_with_params(
    path: str, params: Any, expected: dict[str, list[str]]
) -> None:
    with respx.mock(base_url="https://api.smartsender.com/v1") as mock:
        route = mock.post("/contacts/5/fire").respond(200, json={"state": True})
        async with SmartSender("t0ken", retry=None, rate_limit=None) as client:
            await client.request("POST", path, params=params, json_body={"k": 1})
            await client.request("POST", path, params=params)  # the per-path URL cache
    for call in route.calls:
        url: httpx.URL = call.request.url
        got: dict[str, list[str]] = {}
        for key, value in url.params.multi_items():
            got.setdefault(key, []).append(value)
        assert got == expected
        assert url.path == "/v1/contacts/5/fire"
