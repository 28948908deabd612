"""Wire form of every resource call (method, path, query, JSON body), with respx; the
operation and path template each call names; bad arguments refused before any request."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

from smartsender_async import (
    ChannelDetails,
    Invoice,
    ProductEssence,
    Project,
    ResponseDecodeError,
    SmartSender,
    Tag,
    WriteRejectedError,
)
from smartsender_async.models import Cash, Definition, Gate, Group, Page, Product, Variable
from smartsender_async.resources._shapes import fill

BASE = "https://api.smartsender.com/v1"
ACK = {"state": True}
PAGE = {"cursor": {"page": 1, "pages": 1}, "collection": [{"id": 1}]}
NO_BODY = object()

Call = Callable[[SmartSender], Coroutine[Any, Any, Any]]


@pytest.fixture
def mock() -> AsyncIterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[SmartSender]:
    async with SmartSender("tok-wire", retry=None, rate_limit=None) as c:
        yield c


@pytest.fixture
def names(client: SmartSender, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every (method, path, operation, template) the client sends, recorded at ``_send``."""
    seen: list[tuple[Any, ...]] = []
    send = client._send

    async def recording(method: str, path: str, *args: Any) -> Any:
        seen.append((method, path, args[-2], args[-1]))
        return await send(method, path, *args)

    monkeypatch.setattr(client, "_send", recording)
    return seen


def page_query(**extra: str) -> dict[str, str]:
    return {"page": "1", "limitation": "20", **extra}


# (id, call, method, path, query, body, answer, operation, template)
CASES: list[tuple[str, Call, str, str, dict[str, str], Any, Any, str, str]] = [
    # contacts: the most used first
    (
        "contacts.fire",
        lambda c: c.contacts.fire(5, "paid"),
        "POST",
        "/contacts/5/fire",
        {},
        {"name": "paid"},
        ACK,
        "contacts.fire",
        "/contacts/{contactId}/fire",
    ),
    (
        "contacts.cart",
        lambda c: c.contacts.cart(5),
        "GET",
        "/contacts/5/checkout",
        page_query(),
        NO_BODY,
        PAGE,
        "contacts.cart",
        "/contacts/{contactId}/checkout",
    ),
    (
        "contacts.update",
        lambda c: c.contacts.update(5, values={"city": "Lviv", "coupon": None, "n": 3}),
        "PUT",
        "/contacts/5",
        {},
        {"values": {"city": "Lviv", "coupon": "", "n": 3}},
        ACK,
        "contacts.update",
        "/contacts/{contactId}",
    ),
    (
        "contacts.update fields",
        lambda c: c.contacts.update(5, first_name="Ann", email="a@b.c", lastName="K"),
        "PUT",
        "/contacts/5",
        {},
        {"firstName": "Ann", "email": "a@b.c", "lastName": "K"},
        ACK,
        "contacts.update",
        "/contacts/{contactId}",
    ),
    (
        "contacts.tags",
        lambda c: c.contacts.tags(5, 2, 10),
        "GET",
        "/contacts/5/tags",
        {"page": "2", "limitation": "10"},
        NO_BODY,
        PAGE,
        "contacts.tags",
        "/contacts/{contactId}/tags",
    ),
    (
        "contacts.add_tag",
        lambda c: c.contacts.add_tag(5, 7),
        "POST",
        "/contacts/5/tags/7",
        {},
        NO_BODY,
        ACK,
        "contacts.add_tag",
        "/contacts/{contactId}/tags/{tagId}",
    ),
    (
        "contacts.remove_tag",
        lambda c: c.contacts.remove_tag("5", "7"),
        "DELETE",
        "/contacts/5/tags/7",
        {},
        NO_BODY,
        ACK,
        "contacts.remove_tag",
        "/contacts/{contactId}/tags/{tagId}",
    ),
    (
        "contacts.funnels",
        lambda c: c.contacts.funnels(5),
        "GET",
        "/contacts/5/funnels",
        page_query(),
        NO_BODY,
        {"cursor": {"page": 1, "pages": 1}, "collection": [{"name": "F", "serviceKey": "k1"}]},
        "contacts.funnels",
        "/contacts/{contactId}/funnels",
    ),
    (
        "contacts.subscribe",
        lambda c: c.contacts.subscribe(5, "abc-1"),
        "POST",
        "/contacts/5/funnels/abc-1",
        {},
        NO_BODY,
        ACK,
        "contacts.subscribe",
        "/contacts/{contactId}/funnels/{serviceKey}",
    ),
    (
        "contacts.unsubscribe",
        lambda c: c.contacts.unsubscribe(5, 991),
        "DELETE",
        "/contacts/5/funnels/991",
        {},
        NO_BODY,
        ACK,
        "contacts.unsubscribe",
        "/contacts/{contactId}/funnels/{serviceKey}",
    ),
    (
        "contacts.groups",
        lambda c: c.contacts.groups(5),
        "GET",
        "/contacts/5/groups",
        page_query(),
        NO_BODY,
        PAGE,
        "contacts.groups",
        "/contacts/{contactId}/groups",
    ),
    (
        "contacts.add_group",
        lambda c: c.contacts.add_group(5, 12),
        "POST",
        "/contacts/5/groups/12",
        {},
        NO_BODY,
        ACK,
        "contacts.add_group",
        "/contacts/{contactId}/groups/{serviceId}",
    ),
    (
        "contacts.remove_group",
        lambda c: c.contacts.remove_group(5, 12),
        "DELETE",
        "/contacts/5/groups/12",
        {},
        NO_BODY,
        ACK,
        "contacts.remove_group",
        "/contacts/{contactId}/groups/{serviceId}",
    ),
    (
        "contacts.merge",
        lambda c: c.contacts.merge(5, 6),
        "POST",
        "/contacts/5/unite/6",
        {},
        NO_BODY,
        ACK,
        "contacts.merge",
        "/contacts/{contactId}/unite/{targetContactId}",
    ),
    (
        "contacts.gates",
        lambda c: c.contacts.gates(5),
        "GET",
        "/contacts/5/gates",
        page_query(),
        NO_BODY,
        PAGE,
        "contacts.gates",
        "/contacts/{contactId}/gates",
    ),
    (
        "contacts.info",
        lambda c: c.contacts.info(5),
        "GET",
        "/contacts/5/info",
        {},
        NO_BODY,
        {"id": 5, "city": "Lviv"},
        "contacts.info",
        "/contacts/{contactId}/info",
    ),
    (
        "contacts.invoices",
        lambda c: c.contacts.invoices(5),
        "GET",
        "/contacts/5/invoices",
        page_query(),
        NO_BODY,
        PAGE,
        "contacts.invoices",
        "/contacts/{contactId}/invoices",
    ),
    (
        "contacts.invoice",
        lambda c: c.contacts.invoice(5, "0b0e-77"),
        "GET",
        "/contacts/5/invoices/0b0e-77",
        {},
        NO_BODY,
        {"id": 1, "orderId": "0b0e-77"},
        "contacts.invoice",
        "/contacts/{contactId}/invoices/{orderId}",
    ),
    (
        "contacts.create_invoice",
        lambda c: c.contacts.create_invoice(5, essence_id=31, payment_system_id=4),
        "POST",
        "/contacts/5/invoices",
        {},
        {"essenceId": 31, "paymentSystemId": 4},
        {"id": 1, "orderId": "u-1"},
        "contacts.create_invoice",
        "/contacts/{contactId}/invoices",
    ),
    (
        "contacts.pay_invoice",
        lambda c: c.contacts.pay_invoice(
            5,
            order_id="u-1",
            essence_id=31,
            payment_system_id=4,
            amount=99.5,
            currency="UAH",
            date=datetime(2026, 3, 18, 16, 40, 12),
        ),
        "PUT",
        "/contacts/5/invoices",
        {},
        {
            "date": "2026-03-18 16:40:12",
            "amount": 99.5,
            "currency": "uah",
            "orderId": "u-1",
            "essenceId": 31,
            "paymentSystemId": 4,
        },
        {"id": 1, "orderId": "u-1"},
        "contacts.pay_invoice",
        "/contacts/{contactId}/invoices",
    ),
    (
        "contacts.list",
        lambda c: c.contacts.list(),
        "GET",
        "/contacts",
        page_query(),
        NO_BODY,
        PAGE,
        "contacts.list",
        "/contacts",
    ),
    (
        "contacts.search",
        lambda c: c.contacts.search("ann@x.io", 1, 5),
        "GET",
        "/contacts/search",
        {"page": "1", "limitation": "5", "term": "ann@x.io"},
        NO_BODY,
        PAGE,
        "contacts.search",
        "/contacts/search",
    ),
    (
        "contacts.get",
        lambda c: c.contacts.get(5),
        "GET",
        "/contacts/5",
        {},
        NO_BODY,
        {"id": 5},
        "contacts.get",
        "/contacts/{contactId}",
    ),
    (
        "contacts.chat",
        lambda c: c.contacts.chat(5),
        "GET",
        "/contacts/5/chat",
        {},
        NO_BODY,
        {"id": 9},
        "contacts.chat",
        "/contacts/{contactId}/chat",
    ),
    (
        "contacts.messages",
        lambda c: c.contacts.messages(5, activities=True),
        "GET",
        "/contacts/5/messages",
        page_query(activities="1"),
        NO_BODY,
        PAGE,
        "contacts.messages",
        "/contacts/{contactId}/messages",
    ),
    (
        "contacts.send",
        lambda c: c.contacts.send(5, "hi"),
        "POST",
        "/contacts/5/send",
        {},
        None,  # checked apart: the watermark is the clock's
        {"id": 77},
        "contacts.send",
        "/contacts/{contactId}/send",
    ),
    # tags
    (
        "tags.list",
        lambda c: c.tags.list("vip"),
        "GET",
        "/tags",
        page_query(term="vip"),
        NO_BODY,
        PAGE,
        "tags.list",
        "/tags",
    ),
    (
        "tags.list all",
        lambda c: c.tags.list(page=3, limitation=20),
        "GET",
        "/tags",
        {"page": "3", "limitation": "20"},
        NO_BODY,
        PAGE,
        "tags.list",
        "/tags",
    ),
    (
        "tags.create",
        lambda c: c.tags.create("VIP", color="#ff0000"),
        "POST",
        "/tags",
        {},
        {"name": "VIP", "color": "ff0000"},
        {"id": 55, "name": "VIP"},
        "tags.create",
        "/tags",
    ),
    (
        "tags.create no color",
        lambda c: c.tags.create("VIP"),
        "POST",
        "/tags",
        {},
        {"name": "VIP"},
        {"id": 55, "name": "VIP"},
        "tags.create",
        "/tags",
    ),
    (
        "tags.update",
        lambda c: c.tags.update(55, color="00FF00"),
        "PUT",
        "/tags/55",
        {},
        {"color": "00FF00"},
        ACK,
        "tags.update",
        "/tags/{tagId}",
    ),
    (
        "tags.delete",
        lambda c: c.tags.delete(55),
        "DELETE",
        "/tags/55",
        {},
        NO_BODY,
        ACK,
        "tags.delete",
        "/tags/{tagId}",
    ),
    # funnels
    (
        "funnels.list",
        lambda c: c.funnels.list(term="Onboarding"),
        "GET",
        "/funnels",
        page_query(term="Onboarding"),
        NO_BODY,
        PAGE,
        "funnels.list",
        "/funnels",
    ),
    # variables
    (
        "variables.list",
        lambda c: c.variables.list(),
        "GET",
        "/variables",
        page_query(),
        NO_BODY,
        PAGE,
        "variables.list",
        "/variables",
    ),
    (
        "variables.create enum",
        lambda c: c.variables.create("size", "enum", description="Size", choices=["S", "M"]),
        "POST",
        "/variables",
        {},
        {"name": "size", "type": "enum", "description": "Size", "values": "S,M"},
        {"name": "size", "type": "enum"},
        "variables.create",
        "/variables",
    ),
    (
        "variables.create string",
        lambda c: c.variables.create("city", "string"),
        "POST",
        "/variables",
        {},
        {"name": "city", "type": "string"},
        {"name": "city"},
        "variables.create",
        "/variables",
    ),
    (
        "variables.update",
        lambda c: c.variables.update(8, name="town", description="where"),
        "PUT",
        "/variables/8",
        {},
        {"name": "town", "description": "where"},
        ACK,
        "variables.update",
        "/variables/{variableId}",
    ),
    (
        "variables.delete",
        lambda c: c.variables.delete(8),
        "DELETE",
        "/variables/8",
        {},
        NO_BODY,
        ACK,
        "variables.delete",
        "/variables/{variableId}",
    ),
    # definitions
    (
        "definitions.list",
        lambda c: c.definitions.list("promo"),
        "GET",
        "/definitions",
        page_query(term="promo"),
        NO_BODY,
        PAGE,
        "definitions.list",
        "/definitions",
    ),
    (
        "definitions.get",
        lambda c: c.definitions.get(3),
        "GET",
        "/definitions/3",
        {},
        NO_BODY,
        {"id": 3, "name": "promo", "value": "X"},
        "definitions.get",
        "/definitions/{definitionId}",
    ),
    (
        "definitions.create",
        lambda c: c.definitions.create("limit", 10),
        "POST",
        "/definitions",
        {},
        {"name": "limit", "value": 10},
        {"id": 4, "name": "limit", "value": 10},
        "definitions.create",
        "/definitions",
    ),
    (
        "definitions.update",
        lambda c: c.definitions.update(4, name="limit", value="11"),
        "PUT",
        "/definitions/4",
        {},
        {"name": "limit", "value": "11"},
        ACK,
        "definitions.update",
        "/definitions/{definitionId}",
    ),
    (
        "definitions.delete",
        lambda c: c.definitions.delete(4),
        "DELETE",
        "/definitions/4",
        {},
        NO_BODY,
        ACK,
        "definitions.delete",
        "/definitions/{definitionId}",
    ),
    # channels
    (
        "channels.list",
        lambda c: c.channels.list(),
        "GET",
        "/channels",
        page_query(),
        NO_BODY,
        PAGE,
        "channels.list",
        "/channels",
    ),
    (
        "channels.get",
        lambda c: c.channels.get(2),
        "GET",
        "/channels/2",
        {},
        NO_BODY,
        {"id": 2, "type": "whatsapp", "active": True},
        "channels.get",
        "/channels/{channelId}",
    ),
    (
        "channels.set_active",
        lambda c: c.channels.set_active(2, False),
        "PUT",
        "/channels/2",
        {},
        {"state": False},
        ACK,
        "channels.set_active",
        "/channels/{channelId}",
    ),
    (
        "channels.create_gate",
        lambda c: c.channels.create_gate(
            2,
            identifier="380501112233",
            first_name="Ann",
            last_name="K",
            email="ann@x.io",
            phone="+380501112233",
            parameters={"city": "Lviv"},
        ),
        "POST",
        "/channels/2/gates",
        {},
        {
            "identifier": "380501112233",
            "firstName": "Ann",
            "lastName": "K",
            "email": "ann@x.io",
            "phone": "+380501112233",
            "parameters": {"city": "Lviv"},
        },
        {"id": 70, "subscribed": True},
        "channels.create_gate",
        "/channels/{channelId}/gates",
    ),
    (
        "channels.create_gate minimal",
        lambda c: c.channels.create_gate(2, identifier="380501112233", first_name="Ann"),
        "POST",
        "/channels/2/gates",
        {},
        {"identifier": "380501112233", "firstName": "Ann"},
        {"id": 70},
        "channels.create_gate",
        "/channels/{channelId}/gates",
    ),
    # products
    (
        "products.list",
        lambda c: c.products.list(),
        "GET",
        "/products",
        page_query(),
        NO_BODY,
        PAGE,
        "products.list",
        "/products",
    ),
    (
        "products.create",
        lambda c: c.products.create(
            "Tee",
            essences=[{"name": "M", "cash": {"amount": 100, "currency": "UAH"}}],
            labels=[1],
            payment_systems=[4],
            category_id=9,
        ),
        "POST",
        "/products",
        {},
        {
            "name": "Tee",
            "essences": [{"name": "M", "cash": {"amount": 100, "currency": "UAH"}}],
            "labels": [1],
            "paymentSystems": [4],
            "categoryId": 9,
        },
        {"id": 12, "name": "Tee"},
        "products.create",
        "/products",
    ),
    (
        "products.update",
        lambda c: c.products.update(
            12,
            name="Tee 2",
            essences=[ProductEssence(name="L", cash=Cash(amount=120.0, currency="UAH"))],
        ),
        "PUT",
        "/products/12",
        {},
        {
            "name": "Tee 2",
            "essences": [{"name": "L", "cash": {"amount": 120.0, "currency": "UAH"}}],
        },
        {"id": 12, "name": "Tee 2"},
        "products.update",
        "/products/{productId}",
    ),
    (
        "products.delete",
        lambda c: c.products.delete(12),
        "DELETE",
        "/products/12",
        {},
        NO_BODY,
        ACK,
        "products.delete",
        "/products/{productId}",
    ),
    # cashiers
    (
        "cashiers.list",
        lambda c: c.cashiers.list(),
        "GET",
        "/cashiers",
        page_query(),
        NO_BODY,
        PAGE,
        "cashiers.list",
        "/cashiers",
    ),
    (
        "cashiers.get",
        lambda c: c.cashiers.get(4),
        "GET",
        "/cashiers/4",
        {},
        NO_BODY,
        {"id": 4, "name": "LiqPay"},
        "cashiers.get",
        "/cashiers/{cashierId}",
    ),
    # operators
    (
        "operators.list",
        lambda c: c.operators.list(),
        "GET",
        "/operators",
        page_query(),
        NO_BODY,
        PAGE,
        "operators.list",
        "/operators",
    ),
    (
        "operators.involve",
        lambda c: c.operators.involve(3, True),
        "PUT",
        "/operators/3/involve",
        {},
        {"state": True},
        ACK,
        "operators.involve",
        "/operators/{operatorId}/involve",
    ),
    # project
    ("me", lambda c: c.me(), "GET", "/me", {}, NO_BODY, {"name": "Shop"}, "me", "/me"),
    # the existing areas name their calls too
    (
        "chats.list",
        lambda c: c.chats.list(state="open", selector="private", operator_id=4),
        "GET",
        "/chats",
        page_query(**{"state": "open", "selector[name]": "private", "selector[operatorId]": "4"}),
        NO_BODY,
        PAGE,
        "chats.list",
        "/chats",
    ),
    (
        "chats.get",
        lambda c: c.chats.get(9),
        "GET",
        "/chats/9",
        {},
        NO_BODY,
        {"id": 9},
        "chats.get",
        "/chats/{chatId}",
    ),
    (
        "chats.read",
        lambda c: c.chats.read(9),
        "PUT",
        "/chats/9/read",
        {},
        NO_BODY,
        ACK,
        "chats.read",
        "/chats/{chatId}/read",
    ),
    (
        "chats.close",
        lambda c: c.chats.close(9),
        "PUT",
        "/chats/9/close",
        {},
        NO_BODY,
        ACK,
        "chats.close",
        "/chats/{chatId}/close",
    ),
    (
        "chats.assign",
        lambda c: c.chats.assign(9, 4, text="VIP"),
        "POST",
        "/chats/9/forward/4",
        {},
        {"text": "VIP"},
        ACK,
        "chats.assign",
        "/chats/{chatId}/forward/{operatorId}",
    ),
    (
        "chats.messages",
        lambda c: c.chats.messages(9),
        "GET",
        "/chats/9/messages",
        page_query(),
        NO_BODY,
        PAGE,
        "chats.messages",
        "/chats/{chatId}/messages",
    ),
    (
        "gates.edit_message",
        lambda c: c.gates.edit_message(7, 55, "fixed"),
        "PUT",
        "/gates/7/messages",
        {},
        {"text": "fixed", "messageId": 55},
        ACK,
        "gates.edit_message",
        "/gates/{gateId}/messages",
    ),
    (
        "gates.delete_messages",
        lambda c: c.gates.delete_messages(7, [55, 56]),
        "DELETE",
        "/gates/7/messages",
        {},
        {"messageIds": [55, 56]},
        ACK,
        "gates.delete_messages",
        "/gates/{gateId}/messages",
    ),
]


@pytest.mark.parametrize(
    ("call", "method", "path", "query", "body", "answer", "operation", "template"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_wire(
    mock: respx.MockRouter,
    client: SmartSender,
    names: list[tuple[Any, ...]],
    call: Call,
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
    answer: Any,
    operation: str,
    template: str,
) -> None:
    route = mock.route(method=method, path=path).respond(json=answer)
    result = await call(client)
    assert route.call_count == 1 and mock.calls.call_count == 1
    request = mock.calls.last.request
    assert request.method == method
    assert request.url.path == f"/v1{path}"
    assert dict(request.url.params) == query
    if body is NO_BODY:
        assert request.content == b""
    elif body is not None:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == body
    assert names == [(method, path, operation, template)]
    # The template, filled with the path's ids, is the path: ids never appear in it.
    assert not re.search(r"/\d+(/|$)", template)
    if answer is ACK:
        assert result is None


async def test_send_names_its_call(
    mock: respx.MockRouter, client: SmartSender, names: list[tuple[Any, ...]]
) -> None:
    mock.post("/contacts/5/send").respond(json={"id": 77})
    await client.contacts.send(5, "hi")
    sent = json.loads(mock.calls.last.request.content)
    assert sent["type"] == "text" and sent["content"] == "hi"
    assert isinstance(sent["watermark"], int)


# --------------------------------------------------------------------------- answers


async def test_decoded_answers(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.post("/tags").respond(json={"id": 55, "name": "VIP", "color": "FF0000", "more": 1})
    tag = await client.tags.create("VIP", color="FF0000")
    assert isinstance(tag, Tag) and tag.id == 55 and tag.extra == {"more": 1}
    assert tag.response_info is not None and tag.response_info.status_code == 200

    mock.get("/me").respond(json={"name": "Shop", "photo": "p.png", "plan": "pro"})
    project = await client.me()
    assert isinstance(project, Project) and project.name == "Shop"
    assert project.extra == {"plan": "pro"} and project.response_info is not None

    mock.get("/channels/2").respond(json={"id": 2, "type": "whatsapp", "active": True})
    channel = await client.channels.get(2)
    assert isinstance(channel, ChannelDetails) and channel.active is True
    assert channel.response_info is not None

    mock.post("/channels/2/gates").respond(json={"id": 70, "subscribed": True})
    gate = await client.channels.create_gate(2, identifier="1", first_name="A")
    assert isinstance(gate, Gate) and gate.id == 70 and gate.response_info is not None

    mock.get("/contacts/5/info").respond(json={"id": 5, "city": "Lviv", "system_city": ""})
    assert await client.contacts.info(5) == {"id": 5, "city": "Lviv", "system_city": ""}

    mock.get("/contacts/5/invoices/u-1").respond(
        json={"orderId": "u-1", "essence": {"id": 3}, "logs": [{"state": True}]}
    )
    invoice = await client.contacts.invoice(5, "u-1")
    assert isinstance(invoice, Invoice) and invoice.paid and invoice.essence[0].id == 3


@pytest.mark.parametrize(
    ("call", "page_type"),
    [
        (lambda c: c.contacts.groups(1), Group),
        (lambda c: c.contacts.cart(1), ProductEssence),
        (lambda c: c.variables.list(), Variable),
        (lambda c: c.definitions.list(), Definition),
        (lambda c: c.products.list(), Product),
        (lambda c: c.channels.list(), ChannelDetails),
    ],
)
async def test_pages_decode_their_items(
    mock: respx.MockRouter, client: SmartSender, call: Call, page_type: type
) -> None:
    mock.get(url__regex=r".*").respond(json=PAGE)
    page = await call(client)
    assert isinstance(page, Page) and type(page.items[0]) is page_type
    assert page.response_info is not None


async def test_info_must_be_an_object(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/contacts/5/info").respond(json=[1, 2])
    with pytest.raises(ResponseDecodeError):
        await client.contacts.info(5)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.contacts.fire(5, "x"),
        lambda c: c.contacts.update(5, values={"a": "b"}),
        lambda c: c.contacts.add_tag(5, 7),
        lambda c: c.tags.delete(7),
        lambda c: c.operators.involve(3, False),
        lambda c: c.chats.read(9),
    ],
)
async def test_state_false_is_a_typed_error_with_the_body(
    mock: respx.MockRouter, client: SmartSender, call: Call
) -> None:
    answer = {"state": False, "message": "trigger not found"}
    mock.route().respond(json=answer)
    with pytest.raises(WriteRejectedError) as info:
        await call(client)
    assert info.value.body == answer
    assert "trigger not found" in info.value.raw_body
    assert isinstance(info.value, ResponseDecodeError)  # what other odd answers raise
    assert "tok-wire" not in repr(info.value.response.request.headers)  # type: ignore[union-attr]


@pytest.mark.parametrize("answer", [{}, [], {"state": "yes"}, {"state": 1}])
async def test_other_answers_to_a_write_are_decode_errors(
    mock: respx.MockRouter, client: SmartSender, answer: Any
) -> None:
    mock.post("/contacts/5/fire").respond(json=answer)
    with pytest.raises(ResponseDecodeError) as info:
        await client.contacts.fire(5, "x")
    assert not isinstance(info.value, WriteRejectedError)


async def test_fire_and_pay_are_not_retried(mock: respx.MockRouter) -> None:
    """A trigger or a payment that may have reached the server is never sent twice."""
    from smartsender_async import RetryPolicy

    mock.post("/contacts/5/fire").mock(side_effect=httpx.ReadError("reset"))
    mock.put("/contacts/5/invoices").mock(side_effect=httpx.ReadError("reset"))
    policy = RetryPolicy(max_attempts=4, backoff_base=0.0)
    async with SmartSender("t", retry=policy, rate_limit=None) as client:
        with pytest.raises(Exception):  # noqa: B017 - the type is checked elsewhere
            await client.contacts.fire(5, "x")
        with pytest.raises(Exception):  # noqa: B017
            await client.contacts.pay_invoice(
                5,
                order_id="u",
                essence_id=1,
                payment_system_id=1,
                amount=1,
                currency="usd",
                date="2026-01-01 00:00:00",
            )
    assert mock.calls.call_count == 2


async def test_product_update_sends_only_what_is_given(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    mock.put("/products/12").respond(json={"id": 12})
    await client.products.update(12, name="Tee", labels=(x for x in [3, 4]))
    assert json.loads(mock.calls.last.request.content) == {"name": "Tee", "labels": [3, 4]}
    mock.post("/products").respond(json={"id": 13})
    await client.products.create("Mug", essences=(e for e in [{"name": "S"}]))  # a generator
    assert json.loads(mock.calls.last.request.content) == {
        "name": "Mug",
        "essences": [{"name": "S"}],
    }


async def test_pay_accepts_a_date_and_a_decimal(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    from datetime import date
    from decimal import Decimal

    mock.put("/contacts/5/invoices").respond(json={"orderId": "u"})
    for amount, wire in ((Decimal("150"), 150), (Decimal("99.50"), 99.5)):
        await client.contacts.pay_invoice(
            5,
            order_id="u",
            essence_id=1,
            payment_system_id=1,
            amount=amount,  # type: ignore[arg-type]
            currency="uah",
            date=date(2026, 3, 18),
        )
        sent = json.loads(mock.calls.last.request.content)
        assert sent["amount"] == wire and sent["date"] == "2026-03-18 00:00:00"


async def test_aware_pay_date_goes_to_utc(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.put("/contacts/5/invoices").respond(json={"orderId": "u"})
    kyiv = timezone(timedelta(hours=2))
    await client.contacts.pay_invoice(
        5,
        order_id="u",
        essence_id=1,
        payment_system_id=1,
        amount=10,
        currency="Eur",
        date=datetime(2026, 1, 1, 1, 30, tzinfo=kyiv),
    )
    sent = json.loads(mock.calls.last.request.content)
    assert sent["date"] == "2025-12-31 23:30:00" and sent["currency"] == "eur"


async def test_string_ids_in_paths_are_escaped(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.route().respond(json=ACK)
    await client.contacts.subscribe(5, "a/b?c#d")
    assert mock.calls.last.request.url.raw_path == b"/v1/contacts/5/funnels/a%2Fb%3Fc%23d"
    assert fill("/x/{a}/y/{b}", (1, "z z")) == "/x/1/y/z%20z"
    with pytest.raises(ValueError):
        fill("/x/{a}", ())


# --------------------------------------------------------------------------- validation

BAD: list[tuple[str, Call, type[Exception]]] = [
    ("fire no name", lambda c: c.contacts.fire(5, ""), ValueError),
    ("fire name type", lambda c: c.contacts.fire(5, None), TypeError),  # type: ignore[arg-type]
    ("fire bad id", lambda c: c.contacts.fire(0, "x"), ValueError),
    ("fire bool id", lambda c: c.contacts.fire(True, "x"), TypeError),
    ("cart bad page", lambda c: c.contacts.cart(5, 0), ValueError),
    ("cart big page", lambda c: c.contacts.cart(5, 1, 21), ValueError),
    ("update nothing", lambda c: c.contacts.update(5), ValueError),
    ("update empty values", lambda c: c.contacts.update(5, values={}), ValueError),
    ("update values type", lambda c: c.contacts.update(5, values=[("a", 1)]), TypeError),  # type: ignore[arg-type]
    ("update value type", lambda c: c.contacts.update(5, values={"a": [1]}), TypeError),
    ("update value nan", lambda c: c.contacts.update(5, values={"a": float("nan")}), ValueError),
    ("update empty name", lambda c: c.contacts.update(5, values={"": 1}), ValueError),
    ("update name type", lambda c: c.contacts.update(5, values={1: 1}), TypeError),  # type: ignore[dict-item]
    ("update field type", lambda c: c.contacts.update(5, email={"a": 1}), TypeError),
    ("merge same", lambda c: c.contacts.merge(5, 5), ValueError),
    ("merge other", lambda c: c.contacts.merge(5, "x"), TypeError),  # type: ignore[arg-type]
    ("add_tag id", lambda c: c.contacts.add_tag(5, -1), ValueError),
    ("remove_tag id", lambda c: c.contacts.remove_tag(5, 1.5), TypeError),  # type: ignore[arg-type]
    ("subscribe empty", lambda c: c.contacts.subscribe(5, ""), ValueError),
    ("subscribe spaces", lambda c: c.contacts.subscribe(5, " k "), ValueError),
    ("subscribe type", lambda c: c.contacts.subscribe(5, None), TypeError),  # type: ignore[arg-type]
    ("unsubscribe bool", lambda c: c.contacts.unsubscribe(5, True), TypeError),
    ("add_group type", lambda c: c.contacts.add_group(5, [1]), TypeError),  # type: ignore[arg-type]
    ("invoice order", lambda c: c.contacts.invoice(5, ""), ValueError),
    (
        "create_invoice ids",
        lambda c: c.contacts.create_invoice(5, essence_id="x", payment_system_id=1),  # type: ignore[arg-type]
        TypeError,
    ),
    *[
        (
            f"pay_invoice {name}",
            (lambda kw: lambda c: c.contacts.pay_invoice(5, **kw))(
                {
                    "order_id": "u",
                    "essence_id": 1,
                    "payment_system_id": 1,
                    "amount": 1,
                    "currency": "UAH",
                    "date": "2026-01-01 00:00:00",
                    **bad,
                }
            ),
            exc,
        )
        for name, bad, exc in [
            ("amount zero", {"amount": 0}, ValueError),
            ("amount bool", {"amount": True}, TypeError),
            ("amount str", {"amount": "10"}, TypeError),
            ("amount inf", {"amount": float("inf")}, ValueError),
            ("currency long", {"currency": "UAHX"}, ValueError),
            ("currency digits", {"currency": "U4H"}, ValueError),
            ("currency type", {"currency": 980}, TypeError),
            ("date form", {"date": "2026-01-01T00:00:00"}, TypeError),
            ("date type", {"date": 1700000000}, TypeError),
            ("order empty", {"order_id": " "}, ValueError),
        ]
    ],
    ("tags.list term", lambda c: c.tags.list(""), ValueError),
    ("tags.list page", lambda c: c.tags.list(None, 0), ValueError),
    ("tags.create name", lambda c: c.tags.create(""), ValueError),
    ("tags.create color", lambda c: c.tags.create("x", color="red"), ValueError),
    ("tags.create color 3", lambda c: c.tags.create("x", color="#fff"), ValueError),
    ("tags.create color ##", lambda c: c.tags.create("x", color="##ff0000"), ValueError),
    ("tags.create color type", lambda c: c.tags.create("x", color=0xFF0000), TypeError),  # type: ignore[arg-type]
    ("tags.update nothing", lambda c: c.tags.update(1), ValueError),
    ("tags.delete id", lambda c: c.tags.delete("abc"), TypeError),  # type: ignore[arg-type]
    ("funnels.list term", lambda c: c.funnels.list(5), TypeError),  # type: ignore[arg-type]
    ("variables type", lambda c: c.variables.create("x", "text"), ValueError),
    ("variables enum needs", lambda c: c.variables.create("x", "enum"), ValueError),
    ("variables enum empty", lambda c: c.variables.create("x", "enum", choices=[]), ValueError),
    (
        "variables enum comma",
        lambda c: c.variables.create("x", "enum", choices=["a,b"]),
        ValueError,
    ),
    ("variables enum str", lambda c: c.variables.create("x", "enum", choices="ab"), TypeError),
    (
        "variables choices not enum",
        lambda c: c.variables.create("x", "string", choices=["a"]),
        ValueError,
    ),
    ("variables update name", lambda c: c.variables.update(1, name=""), ValueError),
    ("definitions value", lambda c: c.definitions.create("x", 1.5), TypeError),  # type: ignore[arg-type]
    ("definitions value bool", lambda c: c.definitions.create("x", True), TypeError),
    ("definitions update", lambda c: c.definitions.update(1, name="x", value=None), TypeError),  # type: ignore[arg-type]
    ("channels active", lambda c: c.channels.set_active(1, "no"), TypeError),  # type: ignore[arg-type]
    ("channels active int", lambda c: c.channels.set_active(1, 1), TypeError),  # type: ignore[arg-type]
    (
        "gate first name",
        lambda c: c.channels.create_gate(1, identifier="1", first_name=""),
        ValueError,
    ),
    (
        "gate long name",
        lambda c: c.channels.create_gate(1, identifier="1", first_name="x" * 256),
        ValueError,
    ),
    (
        "gate email",
        lambda c: c.channels.create_gate(1, identifier="1", first_name="A", email="nope"),
        ValueError,
    ),
    (
        "gate phone",
        lambda c: c.channels.create_gate(1, identifier="1", first_name="A", phone="0501112233"),
        ValueError,
    ),
    (
        "gate parameters",
        lambda c: c.channels.create_gate(1, identifier="1", first_name="A", parameters=[1]),  # type: ignore[arg-type]
        TypeError,
    ),
    (
        "gate identifier",
        lambda c: c.channels.create_gate(1, identifier=None, first_name="A"),
        TypeError,
    ),  # type: ignore[arg-type]
    ("products no essences", lambda c: c.products.create("x", essences=[]), ValueError),
    ("products essences dict", lambda c: c.products.create("x", essences={"a": 1}), TypeError),
    ("products essence type", lambda c: c.products.create("x", essences=[1]), TypeError),  # type: ignore[list-item]
    ("products labels", lambda c: c.products.create("x", essences=[{}], labels="1"), TypeError),  # type: ignore[arg-type]
    ("products update name", lambda c: c.products.update(1, name="", essences=[{}]), ValueError),
    ("products update nothing", lambda c: c.products.update(1), ValueError),
    ("products update no essence", lambda c: c.products.update(1, essences=[]), ValueError),
    ("products create essences", lambda c: c.products.create("x", essences=None), TypeError),  # type: ignore[arg-type]
    ("cashiers.get id", lambda c: c.cashiers.get(0), ValueError),
    ("involve enabled", lambda c: c.operators.involve(1, None), TypeError),  # type: ignore[arg-type]
    ("involve id", lambda c: c.operators.involve(None, True), TypeError),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("call", "exc"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_bad_arguments_fail_before_any_request(
    mock: respx.MockRouter, client: SmartSender, call: Call, exc: type[Exception]
) -> None:
    mock.route().respond(json=ACK)
    with pytest.raises(exc):
        await call(client)
    assert mock.calls.call_count == 0


STREAMS: list[tuple[str, Callable[[SmartSender], Any], str]] = [
    ("contacts.stream", lambda c: c.contacts.stream(), "/contacts"),
    ("contacts.stream_search", lambda c: c.contacts.stream_search("a"), "/contacts/search"),
    ("contacts.stream_tags", lambda c: c.contacts.stream_tags(5), "/contacts/5/tags"),
    ("contacts.stream_funnels", lambda c: c.contacts.stream_funnels(5), "/contacts/5/funnels"),
    ("contacts.stream_groups", lambda c: c.contacts.stream_groups(5), "/contacts/5/groups"),
    ("contacts.stream_gates", lambda c: c.contacts.stream_gates(5), "/contacts/5/gates"),
    ("contacts.stream_cart", lambda c: c.contacts.stream_cart(5), "/contacts/5/checkout"),
    ("contacts.stream_invoices", lambda c: c.contacts.stream_invoices(5), "/contacts/5/invoices"),
    ("tags.stream", lambda c: c.tags.stream("v"), "/tags"),
    ("funnels.stream", lambda c: c.funnels.stream(), "/funnels"),
    ("variables.stream", lambda c: c.variables.stream(), "/variables"),
    ("definitions.stream", lambda c: c.definitions.stream(), "/definitions"),
    ("channels.stream", lambda c: c.channels.stream(), "/channels"),
    ("products.stream", lambda c: c.products.stream(), "/products"),
    ("cashiers.stream", lambda c: c.cashiers.stream(), "/cashiers"),
    ("operators.stream", lambda c: c.operators.stream(), "/operators"),
]


def _paged(request: httpx.Request) -> httpx.Response:
    """Three pages of two items; ids repeat across pages 2 and 3 (a shifted list)."""
    page = int(request.url.params["page"])
    ids = {1: [1, 2], 2: [3, 4], 3: [4, 5]}[page]
    items = [{"id": i, "serviceKey": f"k{i}", "orderId": f"o{i}"} for i in ids]
    return httpx.Response(200, json={"cursor": {"page": page, "pages": 3}, "collection": items})


@pytest.mark.parametrize(("make", "path"), [s[1:] for s in STREAMS], ids=[s[0] for s in STREAMS])
async def test_streams_walk_every_page_concurrently_and_deduplicate(
    mock: respx.MockRouter, client: SmartSender, make: Callable[[SmartSender], Any], path: str
) -> None:
    route = mock.get(path=path).mock(side_effect=_paged)
    stream = make(client)
    seen = [item async for item in stream]
    assert [getattr(i, "id", None) for i in seen] == [1, 2, 3, 4, 5]
    pages = sorted(int(call.request.url.params["page"]) for call in route.calls)
    assert pages == [1, 2, 3]
    assert {call.request.url.params["limitation"] for call in route.calls} == {"20"}
    assert stream.duplicates == 1


async def test_items_without_an_id_are_never_taken_for_duplicates(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    lines = [{"name": "a"}, {"name": "a"}]
    mock.get("/contacts/5/checkout").respond(
        json={"cursor": {"page": 1, "pages": 1}, "collection": lines}
    )
    assert len([x async for x in client.contacts.stream_cart(5)]) == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda c: c.contacts.stream(concurrency=0),
        lambda c: c.contacts.stream(limit=-1),
        lambda c: c.contacts.stream_search(""),
        lambda c: c.contacts.stream_tags(0),
        lambda c: c.contacts.stream_cart("x"),
        lambda c: c.tags.stream(""),
        lambda c: c.funnels.stream(term=3),
        lambda c: c.channels.stream(concurrency=True),
    ],
)
async def test_bad_stream_arguments_fail_at_the_call(
    mock: respx.MockRouter, client: SmartSender, make: Callable[[SmartSender], Any]
) -> None:
    with pytest.raises((TypeError, ValueError)):
        make(client)
    assert mock.calls.call_count == 0


async def test_stream_limit_fetches_no_unneeded_page(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    route = mock.get("/tags").mock(side_effect=_paged)
    got = [t.id async for t in client.tags.stream(limit=2, concurrency=1)]
    assert got == [1, 2]
    assert route.call_count == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.contacts.unsubscribe(5, ".."),
        lambda c: c.contacts.unsubscribe(5, "."),
        lambda c: c.contacts.remove_group(5, "..."),
        lambda c: c.contacts.subscribe(5, ". ."),
        lambda c: c.contacts.invoice(5, ".."),
        lambda c: c.contacts.invoice(5, " u-1"),
        lambda c: c.contacts.pay_invoice(
            5,
            order_id="..",
            essence_id=1,
            payment_system_id=1,
            amount=1,
            currency="UAH",
            date="2026-01-01 00:00:00",
        ),
    ],
)
async def test_dot_segments_cannot_turn_a_call_into_another(
    mock: respx.MockRouter, client: SmartSender, call: Call
) -> None:
    """``DELETE /contacts/5/funnels/..`` would reach the server as ``DELETE /contacts/5``."""
    mock.route().respond(json=ACK)
    with pytest.raises((TypeError, ValueError)):
        await call(client)
    assert mock.calls.call_count == 0
    with pytest.raises(ValueError):
        fill("/contacts/{contactId}/funnels/{serviceKey}", (5, ".."))


async def test_which_writes_are_retried(mock: respx.MockRouter) -> None:
    """POST writes are sent once; create_gate (idempotent on the server) and PUT are retried."""
    from smartsender_async import APIConnectionError, RetryPolicy

    reset = httpx.ReadError("reset")
    gate = mock.post("/channels/2/gates").mock(
        side_effect=[reset, reset, httpx.Response(200, json={"id": 70})]
    )
    tag = mock.post("/contacts/5/tags/7").mock(side_effect=reset)
    update = mock.put("/contacts/5").mock(side_effect=[reset, httpx.Response(200, json=ACK)])
    policy = RetryPolicy(max_attempts=4, backoff_base=0.0)
    async with SmartSender("t", retry=policy, rate_limit=None) as client:
        assert (await client.channels.create_gate(2, identifier="1", first_name="A")).id == 70
        with pytest.raises(APIConnectionError):
            await client.contacts.add_tag(5, 7)
        await client.contacts.update(5, values={"a": "b"})
    assert (gate.call_count, tag.call_count, update.call_count) == (3, 1, 2)
