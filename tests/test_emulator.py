"""Contract tests of the emulator's endpoints and error bodies against the API reference.

They talk plain HTTP (httpx on the in-process transport) and assert the exact JSON, so
they pin the wire format independently of the SDK's models.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from smartsender_async.testing import CHANNELS, CONTENT_TYPES, Emulator, FakeClock
from smartsender_async.testing._app import parse_query

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
CHAT_KEYS = {"id", "name", "image", "unreadMessages", "contact", "gates", "createdAt", "updatedAt"}
MESSAGE_KEYS = {
    "id",
    "content",
    "internal",
    "state",
    "sender",
    "gate",
    "editedAt",
    "seenAt",
    "createdAt",
    "deliveredAt",
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return Emulator(seed=7, chats=40, messages_per_chat=40, rate_limit=None, clock=clock)


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with emulator.http_client() as client:
        yield client


async def get_json(http: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await http.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def error(code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


# ---------------------------------------------------------------------- chats


async def test_chat_list_has_the_reference_shape(http: httpx.AsyncClient) -> None:
    body = await get_json(http, "/chats", page=1, limitation=20)
    assert body["cursor"] == {"page": 1, "pages": 2}
    assert len(body["collection"]) == 20
    for chat in body["collection"]:
        assert set(chat) == CHAT_KEYS
        assert isinstance(chat["id"], int)
        assert set(chat["contact"]) == {"originalId", "fullName"}
        assert chat["contact"]["fullName"] == chat["name"]
        assert isinstance(chat["unreadMessages"], int)
        assert TIMESTAMP.match(chat["createdAt"]) and TIMESTAMP.match(chat["updatedAt"])
        assert 1 <= len(chat["gates"]) <= 4
        for gate in chat["gates"]:
            assert set(gate) == {"id", "subscribed", "channel"}
            assert gate["channel"]["type"] in CHANNELS


async def test_chats_are_listed_by_updated_at_descending(http: httpx.AsyncClient) -> None:
    chats = []
    for page in (1, 2):
        chats += (await get_json(http, "/chats", page=page, limitation=20))["collection"]
    stamps = [c["updatedAt"] for c in chats]
    assert stamps == sorted(stamps, reverse=True)
    assert len({c["id"] for c in chats}) == 40


async def test_every_channel_appears_and_ids_are_unique_per_kind(emulator: Emulator) -> None:
    chats = [emulator.chat(cid) for cid in emulator.chat_ids()]
    gate_ids = [g["id"] for c in chats for g in c["gates"]]
    assert len(gate_ids) == len(set(gate_ids))
    assert {g["channel"]["type"] for c in chats for g in c["gates"]} == set(CHANNELS)
    assert len({c["contact"]["originalId"] for c in chats}) == 40


async def test_paging_past_the_end_is_an_empty_page(http: httpx.AsyncClient) -> None:
    body = await get_json(http, "/chats", page=9, limitation=20)
    assert body == {"cursor": {"page": 9, "pages": 2}, "collection": []}


async def test_an_empty_list_reports_one_page(http: httpx.AsyncClient) -> None:
    body = await get_json(http, "/contacts/search", term="no such person")
    assert body == {"cursor": {"page": 1, "pages": 1}, "collection": []}


async def test_get_chat_matches_its_list_entry(http: httpx.AsyncClient) -> None:
    listed = (await get_json(http, "/chats", limitation=3))["collection"][2]
    assert await get_json(http, f"/chats/{listed['id']}") == listed


async def test_the_v1_prefix_is_optional(emulator: Emulator) -> None:
    async with emulator.http_client(base_url="http://emulator.test") as bare:
        assert (await bare.get("/chats")).json() == (await bare.get("/v1/chats")).json()


async def test_term_filters_chats_by_name(http: httpx.AsyncClient, emulator: Emulator) -> None:
    name = emulator.chat(emulator.chat_ids()[5])["name"]
    needle = name.split(" ")[0].upper()
    body = await get_json(http, "/chats", term=needle)
    assert body["collection"]
    assert all(needle.lower() in c["name"].lower() for c in body["collection"])


async def test_read_sets_unread_messages_to_zero(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    unread = (await get_json(http, "/chats", **{"selector[name]": "unread"}))["collection"]
    assert unread and all(c["unreadMessages"] > 0 for c in unread)
    chat_id = unread[0]["id"]
    response = await http.put(f"/chats/{chat_id}/read")
    assert (response.status_code, response.json()) == (200, {"state": True})
    assert (await get_json(http, f"/chats/{chat_id}"))["unreadMessages"] == 0
    after = (await get_json(http, "/chats", **{"selector[name]": "unread"}))["collection"]
    assert chat_id not in {c["id"] for c in after}
    assert len(after) == len(unread) - 1


async def test_close_moves_a_chat_from_open_to_closed(http: httpx.AsyncClient) -> None:
    open_before = await get_json(http, "/chats", state="open")
    chat_id = open_before["collection"][0]["id"]
    response = await http.put(f"/chats/{chat_id}/close")
    assert (response.status_code, response.json()) == (200, {"state": True})
    open_ids = {c["id"] for c in (await get_json(http, "/chats", state="open"))["collection"]}
    closed_ids = {c["id"] for c in (await get_json(http, "/chats", state="closed"))["collection"]}
    assert chat_id not in open_ids and chat_id in closed_ids


async def test_forward_assigns_the_operator(http: httpx.AsyncClient, emulator: Emulator) -> None:
    operator_id = emulator.operator_ids()[-1]
    chat_id = next(
        c for c in emulator.chat_ids() if emulator.chat_status(c).operator_id != operator_id
    )
    private = {"selector[name]": "private", "selector[operatorId]": operator_id}
    assert chat_id not in {
        c["id"] for c in (await get_json(http, "/chats", **private))["collection"]
    }
    response = await http.post(
        f"/chats/{chat_id}/forward/{operator_id}", json={"text": "VIP client"}
    )
    assert (response.status_code, response.json()) == (200, {"state": True})
    assert chat_id in {c["id"] for c in (await get_json(http, "/chats", **private))["collection"]}
    assert emulator.chat_status(chat_id).operator_id == operator_id


async def test_forward_to_an_unknown_operator_is_404(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    chat_id = emulator.chat_ids()[0]
    response = await http.post(f"/chats/{chat_id}/forward/999999", json={"text": "x"})
    assert (response.status_code, response.json()) == (404, error(404, "Not found"))
    response = await http.post(
        f"/chats/{chat_id}/forward/{emulator.operator_ids()[0]}", json={"text": 5}
    )
    assert response.status_code == 422
    assert response.json()["error"]["description"] == {"text": ["The text field must be a string."]}


# ---------------------------------------------------------------------- messages


async def test_messages_are_newest_first_and_have_the_reference_shape(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    chat_id = emulator.chat_ids()[0]
    body = await get_json(http, f"/chats/{chat_id}/messages", activities=1, limitation=20)
    assert body["cursor"] == {"page": 1, "pages": 2}
    ids = [m["id"] for m in body["collection"]]
    assert ids == sorted(ids, reverse=True)
    stamps = [m["createdAt"] for m in body["collection"]]
    assert stamps == sorted(stamps, reverse=True)
    chat = emulator.chat(chat_id)
    gate_ids = {g["id"] for g in chat["gates"]}
    for message in body["collection"]:
        assert set(message) == MESSAGE_KEYS
        assert set(message["content"]) == {"type", "resource"}
        assert isinstance(message["content"]["resource"]["parameters"], dict)
        assert message["gate"]["id"] in gate_ids
        assert message["sender"]["type"] in {"contact", "operator", "bot", "system"}
        for key in ("createdAt", "deliveredAt"):
            assert TIMESTAMP.match(message[key])
        assert message["editedAt"] is None
    # The newest generated message is as new as the chat.
    assert body["collection"][0]["createdAt"] == chat["updatedAt"]


async def test_history_covers_every_content_type(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    chat_id = emulator.chat_ids()[3]
    seen: dict[str, dict[str, Any]] = {}
    for page in (1, 2):
        body = await get_json(http, f"/chats/{chat_id}/messages", activities=1, page=page)
        for message in body["collection"]:
            seen.setdefault(message["content"]["type"], message)
    assert set(seen) == set(CONTENT_TYPES)
    assert seen["input"]["sender"]["type"] == "contact"
    assert seen["action"]["sender"]["type"] == "system"
    params = {kind: m["content"]["resource"]["parameters"] for kind, m in seen.items()}
    assert set(params["pendingText"]) == {"content", "replacement"}
    assert set(params["transient"]) == {"original", "context"}
    assert params["transient"]["original"]["type"] == "text"
    assert set(params["location"]) == {"latitude", "longitude"}
    assert set(params["contact"]) == {"name", "phoneNumber"}
    assert "caption" in params["telegramCaptionedPicture"]
    assert all("url" in m["resource"]["parameters"] for m in params["mediaGroup"]["media"])
    assert set(params["telegramInvoice"]["receipt"]) == {"title", "description"}
    assert seen["telegramInvoice"]["gate"]["channel"]["type"] in CHANNELS
    assert {m["sender"]["type"] for m in seen.values()} >= {"contact", "system", "bot"}


async def test_activities_switch_includes_action_messages(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    chat_id = emulator.chat_ids()[1]
    everything = [
        m["id"]
        for m in (await get_json(http, f"/chats/{chat_id}/messages", activities="true"))[
            "collection"
        ]
    ]
    everything += [
        m["id"]
        for m in (await get_json(http, f"/chats/{chat_id}/messages", activities="true", page=2))[
            "collection"
        ]
    ]
    plain = []
    for page in (1, 2):
        body = await get_json(http, f"/chats/{chat_id}/messages", page=page)
        assert all(m["content"]["type"] != "action" for m in body["collection"])
        plain += [m["id"] for m in body["collection"]]
    assert everything == emulator.message_ids(chat_id)
    assert plain == emulator.message_ids(chat_id, activities=False)
    assert len(plain) < len(everything) == 40
    for value in ("0", "false"):
        off = await get_json(http, f"/chats/{chat_id}/messages", activities=value)
        assert [m["id"] for m in off["collection"]] == plain[:20]


async def test_contact_messages_are_the_chat_messages(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    chat_id = emulator.chat_ids()[2]
    contact_id = emulator.contact_id_of(chat_id)
    for params in ({}, {"activities": 1, "page": 2, "limitation": 7}):
        assert await get_json(http, f"/chats/{chat_id}/messages", **params) == await get_json(
            http, f"/contacts/{contact_id}/messages", **params
        )


# ---------------------------------------------------------------------- sending


async def test_send_puts_the_message_first_and_the_chat_on_page_one(
    http: httpx.AsyncClient, emulator: Emulator, clock: FakeClock
) -> None:
    last = (await get_json(http, "/chats", page=2))["collection"][-1]
    contact_id = last["contact"]["originalId"]
    clock.advance(90)
    response = await http.post(
        f"/contacts/{contact_id}/send", json={"type": "text", "watermark": 1, "content": "Hi there"}
    )
    assert response.status_code == 200
    sent = response.json()
    assert set(sent) == MESSAGE_KEYS
    assert sent["content"] == {"type": "text", "resource": {"parameters": {"content": "Hi there"}}}
    assert sent["sender"]["type"] != "contact"
    assert sent["createdAt"] == "2026-03-18T12:01:30.000000Z" == emulator.now()
    first_subscribed = next(g for g in last["gates"] if g["subscribed"])
    assert sent["gate"] == first_subscribed
    messages = (await get_json(http, f"/chats/{last['id']}/messages"))["collection"]
    assert messages[0] == sent
    assert sent["id"] > max(
        max(emulator.message_ids(c)) for c in emulator.chat_ids() if c != last["id"]
    )
    head = (await get_json(http, "/chats", limitation=1))["collection"][0]
    assert head["id"] == last["id"]
    assert head["updatedAt"] == sent["createdAt"]


SEND_CASES = [
    ({"type": "picture", "media": "https://x.test/a.jpg"}, {"url": "https://x.test/a.jpg"}),
    ({"type": "file", "media": "https://x.test/a.pdf"}, {"url": "https://x.test/a.pdf"}),
    ({"type": "video", "media": "https://x.test/a.mp4"}, {"url": "https://x.test/a.mp4"}),
    ({"type": "audio", "media": "https://x.test/a.mp3"}, {"url": "https://x.test/a.mp3"}),
    ({"type": "voice", "media": "https://x.test/a.ogg"}, {"url": "https://x.test/a.ogg"}),
    ({"type": "animation", "media": "https://x.test/a.gif"}, {"url": "https://x.test/a.gif"}),
    (
        {"type": "location", "title": "Shop", "latitude": 50.45, "longitude": 30.52},
        {"title": "Shop", "latitude": 50.45, "longitude": 30.52},
    ),
    (
        {"type": "contact", "fullName": "Olena", "phoneNumber": "+380501112233"},
        {"name": "Olena", "phoneNumber": "+380501112233"},
    ),
]


@pytest.mark.parametrize(("body", "parameters"), SEND_CASES, ids=[c[0]["type"] for c in SEND_CASES])
async def test_send_each_type(
    http: httpx.AsyncClient, emulator: Emulator, body: dict[str, Any], parameters: dict[str, Any]
) -> None:
    contact_id = emulator.contact_id_of(emulator.chat_ids()[10])
    response = await http.post(f"/contacts/{contact_id}/send", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["content"] == {
        "type": body["type"],
        "resource": {"parameters": parameters},
    }


SEND_ERRORS = [
    ({}, {"type": ["The type field is required."]}),
    ({"type": "sticker"}, {"type": ["The selected type is invalid."]}),
    ({"type": "text"}, {"content": ["The content field is required."]}),
    (
        {"type": "text", "content": "x", "watermark": "soon"},
        {"watermark": ["The watermark field must be an integer."]},
    ),
    ({"type": "picture"}, {"media": ["The media field is required."]}),
    (
        {"type": "picture", "media": "not a url"},
        {"media": ["The media field must be a valid URL."]},
    ),
    (
        {"type": "location", "latitude": 91, "longitude": "east"},
        {
            "title": ["The title field is required."],
            "latitude": ["The latitude field must be between -90 and 90."],
            "longitude": ["The longitude field must be a number."],
        },
    ),
    (
        {"type": "contact", "fullName": "Olena"},
        {"phoneNumber": ["The phoneNumber field is required."]},
    ),
]


@pytest.mark.parametrize(("body", "description"), SEND_ERRORS)
async def test_send_validation_errors(
    http: httpx.AsyncClient, emulator: Emulator, body: dict[str, Any], description: dict[str, Any]
) -> None:
    chat_id = emulator.chat_ids()[10]
    before = emulator.message_ids(chat_id)
    response = await http.post(f"/contacts/{emulator.contact_id_of(chat_id)}/send", json=body)
    assert response.status_code == 422
    assert response.json() == error(422, "The given data was invalid.", description=description)
    assert emulator.message_ids(chat_id) == before


async def test_malformed_json_is_400(http: httpx.AsyncClient, emulator: Emulator) -> None:
    contact_id = emulator.contact_id_of(emulator.chat_ids()[0])
    response = await http.post(
        f"/contacts/{contact_id}/send",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert (response.status_code, response.json()) == (400, error(400, "Malformed JSON body"))


# ---------------------------------------------------------------------- gates


def _editable(emulator: Emulator, chat_id: int, kind: str) -> dict[str, Any]:
    return next(
        m
        for m in map(emulator.message, emulator.message_ids(chat_id))
        if m["content"]["type"] == kind
    )


async def test_edit_a_message(
    http: httpx.AsyncClient, emulator: Emulator, clock: FakeClock
) -> None:
    chat_id = emulator.chat_ids()[4]
    target = _editable(emulator, chat_id, "text")
    clock.advance(5)
    gate_id = target["gate"]["id"]
    response = await http.put(
        f"/gates/{gate_id}/messages", json={"text": "Edited", "messageId": target["id"]}
    )
    assert (response.status_code, response.json()) == (200, {"state": True})
    edited = emulator.message(target["id"])
    assert edited["content"]["resource"]["parameters"]["content"] == "Edited"
    assert edited["editedAt"] == "2026-03-18T12:00:05.000000Z"
    assert edited["createdAt"] == target["createdAt"]
    listed = await get_json(http, f"/chats/{chat_id}/messages", activities=1, limitation=20)
    listed2 = await get_json(
        http, f"/chats/{chat_id}/messages", activities=1, limitation=20, page=2
    )
    assert edited in listed["collection"] + listed2["collection"]


async def test_edit_a_caption_and_refuse_other_types(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    chat_id = emulator.chat_ids()[4]
    picture = _editable(emulator, chat_id, "telegramCaptionedPicture")
    response = await http.put(
        f"/gates/{picture['gate']['id']}/messages",
        json={"text": "New caption", "messageId": picture["id"]},
    )
    assert response.status_code == 200
    assert (
        emulator.message(picture["id"])["content"]["resource"]["parameters"]["caption"]
        == "New caption"
    )
    location = _editable(emulator, chat_id, "location")
    response = await http.put(
        f"/gates/{location['gate']['id']}/messages", json={"text": "x", "messageId": location["id"]}
    )
    assert response.status_code == 422
    assert response.json()["error"]["description"] == {
        "messageId": ["A location message cannot be edited."]
    }


async def test_edit_errors(http: httpx.AsyncClient, emulator: Emulator) -> None:
    chat_id = emulator.chat_ids()[4]
    target = _editable(emulator, chat_id, "text")
    other_gate = 7_000_000
    response = await http.put(
        f"/gates/{other_gate}/messages", json={"text": "x", "messageId": target["id"]}
    )
    assert (response.status_code, response.json()) == (404, error(404, "Not found"))
    foreign = emulator.chat(emulator.chat_ids()[5])["gates"][0]["id"]
    response = await http.put(
        f"/gates/{foreign}/messages", json={"text": "x", "messageId": target["id"]}
    )
    assert response.status_code == 404
    response = await http.put(f"/gates/{target['gate']['id']}/messages", json={"text": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["description"] == {
        "messageId": ["The messageId field is required."]
    }


async def test_delete_messages_with_a_json_body_on_delete(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    chat_id = emulator.chat_ids()[6]
    newest = [emulator.message(mid) for mid in emulator.message_ids(chat_id)[:6]]
    gate_id = newest[0]["gate"]["id"]
    doomed = [m["id"] for m in newest if m["gate"]["id"] == gate_id]
    response = await http.request(
        "DELETE", f"/gates/{gate_id}/messages", json={"messageIds": doomed}
    )
    assert (response.status_code, response.json()) == (200, {"state": True})
    # A deleted message stays in the history, as a transient one (reference §2.4).
    assert emulator.message_ids(chat_id)[:6] == [m["id"] for m in newest]
    listed = await get_json(http, f"/chats/{chat_id}/messages", activities=1)
    by_id = {m["id"]: m for m in listed["collection"]}
    for message in newest:
        content = by_id[message["id"]]["content"]
        if message["id"] in doomed and message["content"]["type"] != "transient":
            assert content["type"] == "transient"
            assert content["resource"]["parameters"]["original"] == message["content"]
        else:
            assert content == message["content"]
    assert emulator.message(doomed[0])["content"]["type"] == "transient"


async def test_delete_is_all_or_nothing(http: httpx.AsyncClient, emulator: Emulator) -> None:
    chat_id = emulator.chat_ids()[6]
    message = emulator.message(emulator.message_ids(chat_id)[0])
    gate_id = message["gate"]["id"]
    response = await http.request(
        "DELETE", f"/gates/{gate_id}/messages", json={"messageIds": [message["id"], 12345]}
    )
    assert response.status_code == 404
    assert emulator.message(message["id"]) == message
    for body, description in (
        ({}, {"messageIds": ["The messageIds field is required."]}),
        ({"messageIds": []}, {"messageIds": ["The messageIds field is required."]}),
        ({"messageIds": 5}, {"messageIds": ["The messageIds field must be an array."]}),
        (
            {"messageIds": [1, "x"]},
            {"messageIds.1": ["The messageIds.1 field must be an integer."]},
        ),
    ):
        response = await http.request("DELETE", f"/gates/{gate_id}/messages", json=body)
        assert response.status_code == 422
        assert response.json()["error"]["description"] == description


async def test_a_sent_message_can_be_edited_and_deleted(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    chat_id = emulator.chat_ids()[8]
    sent = (
        await http.post(
            f"/contacts/{emulator.contact_id_of(chat_id)}/send",
            json={"type": "text", "content": "a"},
        )
    ).json()
    gate = sent["gate"]["id"]
    assert (
        await http.put(f"/gates/{gate}/messages", json={"text": "b", "messageId": sent["id"]})
    ).status_code == 200
    assert emulator.message(sent["id"])["content"]["resource"]["parameters"]["content"] == "b"
    response = await http.request(
        "DELETE", f"/gates/{gate}/messages", json={"messageIds": [sent["id"]]}
    )
    assert response.status_code == 200
    assert emulator.message_ids(chat_id)[0] == sent["id"]
    content = emulator.message(sent["id"])["content"]
    assert content["type"] == "transient"
    assert content["resource"]["parameters"]["original"]["resource"]["parameters"] == {
        "content": "b"
    }


# ---------------------------------------------------------------------- contacts, operators, me


async def test_contacts(http: httpx.AsyncClient, emulator: Emulator) -> None:
    page = await get_json(http, "/contacts", limitation=5, page=2)
    assert page["cursor"] == {"page": 2, "pages": 8}
    contact = page["collection"][0]
    assert {
        "id",
        "fullName",
        "firstName",
        "lastName",
        "email",
        "phone",
        "photo",
        "createdAt",
    } <= set(contact)
    assert {"tags", "funnels", "notes", "variables"} <= set(contact)
    assert await get_json(http, f"/contacts/{contact['id']}") == contact
    chat = await get_json(http, f"/contacts/{contact['id']}/chat")
    assert chat["contact"] == {"originalId": contact["id"], "fullName": contact["fullName"]}
    assert emulator.chat_id_of(contact["id"]) == chat["id"]
    gates = await get_json(http, f"/contacts/{contact['id']}/gates")
    assert gates["collection"] == chat["gates"]
    info = await get_json(http, f"/contacts/{contact['id']}/info")
    assert "variables" not in info and info["city"]


async def test_contact_search(http: httpx.AsyncClient) -> None:
    contact = (await get_json(http, "/contacts", limitation=1))["collection"][0]
    found = await get_json(http, "/contacts/search", term=contact["lastName"].lower())
    assert contact["id"] in {c["id"] for c in found["collection"]}
    found = await get_json(http, "/contacts/search", term=contact["phone"])
    assert [c["id"] for c in found["collection"]] == [contact["id"]]
    response = await http.get("/contacts/search", params={"term": ""})
    assert response.status_code == 422
    assert response.json()["error"]["description"] == {"term": ["The term field is required."]}


async def test_operators_and_involve(http: httpx.AsyncClient, emulator: Emulator) -> None:
    body = await get_json(http, "/operators")
    assert body["cursor"] == {"page": 1, "pages": 1}
    assert [o["id"] for o in body["collection"]] == emulator.operator_ids()
    assert set(body["collection"][0]) == {"id", "info"}
    assert set(body["collection"][0]["info"]) == {"email", "fullName"}
    operator_id = emulator.operator_ids()[0]
    response = await http.put(f"/operators/{operator_id}/involve", json={"state": False})
    assert (response.status_code, response.json()) == (200, {"state": True})
    assert emulator.operator_involved(operator_id) is False
    response = await http.put(f"/operators/{operator_id}/involve", json={"state": "maybe"})
    assert response.status_code == 422


async def test_me(http: httpx.AsyncClient) -> None:
    assert {"name", "photo"} <= set(await get_json(http, "/me"))


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic emulator-token"},
        {"Authorization": "Bearer"},
    ],
)
async def test_missing_or_wrong_token_is_unauthenticated(
    emulator: Emulator, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url
    ) as bare:
        response = await bare.get("/chats", headers=headers)
    assert (response.status_code, response.json()) == (401, error(401, "Unauthenticated"))


@pytest.mark.parametrize(
    "path", ["/chats", "/contacts", "/operators", "/chats/48000/messages", "/contacts/search"]
)
async def test_limitation_over_20_is_refused(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path, params={"limitation": 21, "term": "a"})
    assert (response.status_code, response.json()) == (
        422,
        error(422, "Maximum available limitation reached"),
    )
    assert (await http.get(path, params={"limitation": 20, "term": "a"})).status_code == 200


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"page": 0}, {"page": ["The page field must be at least 1."]}),
        ({"page": "two"}, {"page": ["The page field must be an integer."]}),
        ({"limitation": 0}, {"limitation": ["The limitation field must be at least 1."]}),
        ({"state": "archived"}, {"state": ["The selected state is invalid."]}),
        ({"selector[name]": "mine"}, {"selector.name": ["The selected selector.name is invalid."]}),
        ({"selector": "private"}, {"selector": ["The selector field must be an array."]}),
        (
            {"selector[name]": "private"},
            {
                "selector.operatorId": [
                    "The selector.operatorId field is required when selector.name is private."
                ]
            },
        ),
        (
            {"selector[name]": "private", "selector[operatorId]": "x"},
            {"selector.operatorId": ["The selector.operatorId field must be an integer."]},
        ),
        (
            {"selector[name]": "private", "selector[operatorId]": 5},
            {"selector.operatorId": ["The selected selector.operatorId is invalid."]},
        ),
    ],
)
async def test_chat_list_validation(
    http: httpx.AsyncClient, params: dict[str, Any], description: dict[str, list[str]]
) -> None:
    response = await http.get("/chats", params=params)
    assert response.status_code == 422
    assert response.json() == error(422, "The given data was invalid.", description=description)


async def test_activities_must_be_boolean(http: httpx.AsyncClient, emulator: Emulator) -> None:
    response = await http.get(
        f"/chats/{emulator.chat_ids()[0]}/messages", params={"activities": "yes"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["description"] == {
        "activities": ["The activities field must be true or false."]
    }


@pytest.mark.parametrize(
    "path",
    [
        "/chats/1",
        "/chats/abc",
        "/chats/999999/messages",
        "/contacts/5",
        "/contacts/5/chat",
        "/nowhere",
        "/chats/1/x/y",
    ],
)
async def test_unknown_things_are_404(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert (response.status_code, response.json()) == (404, error(404, "Not found"))


async def test_wrong_method_is_405(http: httpx.AsyncClient, emulator: Emulator) -> None:
    response = await http.delete(f"/chats/{emulator.chat_ids()[0]}")
    assert (response.status_code, response.json()) == (405, error(405, "Method not allowed"))
    assert response.headers["allow"] == "GET"
    assert emulator.stats.by_endpoint["DELETE <unmatched>"] == 1


def test_query_strings_are_parsed_like_php() -> None:
    assert parse_query("selector%5Bname%5D=private&selector%5BoperatorId%5D=12&page=1") == {
        "selector": {"name": "private", "operatorId": "12"},
        "page": "1",
    }
    assert parse_query("ids[]=1&ids[]=2&a[b][c]=d&x=1&x=2&e=") == {
        "ids": ["1", "2"],
        "a": {"b": {"c": "d"}},
        "x": "2",
        "e": "",
    }
