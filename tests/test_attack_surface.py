"""Hostile acceptance tests for issue 16, written from the surface reference and the issue's
words (not from our own tests): the wire form of every §0 operation, validation before I/O,
acknowledgements, the emulator's state after writes, the five fidelity fixes and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner

from smartsender_async import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    SmartSender,
    SmartSenderError,
)
from smartsender_async.models import (
    Cashier,
    Channel,
    Definition,
    Funnel,
    Gate,
    Group,
    Invoice,
    Product,
    ProductEssence,
    Project,
    Tag,
    Variable,
)
from smartsender_async.testing import Emulator

BASE = "https://api.smartsender.com/v1"
TOKEN = "tok-ATTACK-1234567890"
ACK: dict[str, Any] = {"state": True}


def page(*items: Any) -> dict[str, Any]:
    return {"cursor": {"page": 1, "pages": 1}, "collection": list(items)}


TAG = {"id": 55, "name": "vip", "color": "FF0000", "createdAt": "2026-03-18T12:00:00.000000Z"}
FUNNEL = {"id": 3, "name": "Welcome", "serviceKey": "abc123"}
VARIABLE = {"id": 4, "name": "city", "type": "string", "description": None}
DEFINITION = {"id": 7, "name": "rate", "value": 42}
CHANNEL = {"id": 9, "name": "Shop", "type": "whatsapp", "active": True}
GATE = {"id": 7712409, "subscribed": True, "channel": {"type": "whatsapp", "name": "Shop"}}
GROUP = {"id": 11, "name": "Group A"}
ESSENCE = {
    "id": 1,
    "name": "Large",
    "product": {"id": 2, "name": "Pizza"},
    "cash": {"amount": 199.5, "currency": "UAH"},
    "pivot": {"quantity": 2},
}
INVOICE = {
    "id": 1,
    "orderId": "3f2a6c1e-1b2c-4d5e-8f90-0123456789ab",
    "checkoutUrl": "https://direct.smartsender.com/invoices/3f2a6c1e-1b2c-4d5e-8f90-0123456789ab",
    "createdAt": "2026-03-18T12:00:00.000000Z",
    "logs": [{"state": True, "createdAt": "2026-03-18T12:01:00.000000Z"}],
    "essence": ESSENCE,
}
PRODUCT = {"id": 2, "name": "Pizza", "labels": [], "category": None, "essences": [ESSENCE]}
CASHIER = {"id": 3, "name": "LiqPay"}
CONTACT = {"id": 5, "fullName": "Ann B", "tags": [{"id": 55, "name": "vip"}]}
CHAT = {"id": 48213, "name": "Ann B", "contact": {"originalId": 5, "fullName": "Ann B"}}
OPERATOR = {"id": 101, "info": {"email": "a@b.c", "fullName": "Op"}}


@pytest.fixture
def mock() -> respx.MockRouter:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[SmartSender]:
    async with SmartSender(TOKEN, retry=None, rate_limit=None) as c:
        yield c


def only_request(mock: respx.MockRouter) -> httpx.Request:
    assert len(mock.calls) == 1, [str(c.request.url) for c in mock.calls]
    return mock.calls[0].request


def body_of(request: httpx.Request) -> Any:
    raw = request.content
    return json.loads(raw) if raw else None


# (id, call, method, path, query (None: not checked beyond equality with {}), body, response)
Call = Callable[[SmartSender], Awaitable[Any]]
P = {"page": "2", "limitation": "5"}
UUID = INVOICE["orderId"]

WIRE: list[tuple[str, Call, str, str, dict[str, str], Any, Any]] = [
    # 1-5 contacts reads
    (
        "list",
        lambda c: c.contacts.list(page=2, limitation=5),
        "GET",
        "/contacts",
        P,
        None,
        page(CONTACT),
    ),
    (
        "search",
        lambda c: c.contacts.search("ann@b.c", page=2, limitation=5),
        "GET",
        "/contacts/search",
        {**P, "term": "ann@b.c"},
        None,
        page(CONTACT),
    ),
    ("get", lambda c: c.contacts.get(5), "GET", "/contacts/5", {}, None, CONTACT),
    (
        "info",
        lambda c: c.contacts.info(5),
        "GET",
        "/contacts/5/info",
        {},
        None,
        {"id": 5, "city": "Kyiv"},
    ),
    ("chat", lambda c: c.contacts.chat(5), "GET", "/contacts/5/chat", {}, None, CHAT),
    (
        "gates",
        lambda c: c.contacts.gates(5, page=2, limitation=5),
        "GET",
        "/contacts/5/gates",
        P,
        None,
        page(GATE),
    ),
    # 6 update
    (
        "update",
        lambda c: c.contacts.update(5, values={"city": "Odesa", "orders": None}, firstName="Ann"),
        "PUT",
        "/contacts/5",
        {},
        {"values": {"city": "Odesa", "orders": ""}, "firstName": "Ann"},
        ACK,
    ),
    (
        "update-values-only",
        lambda c: c.contacts.update(5, values={"n": 3}),
        "PUT",
        "/contacts/5",
        {},
        {"values": {"n": 3}},
        ACK,
    ),
    # 7 fire, 8 merge
    (
        "fire",
        lambda c: c.contacts.fire(5, "Paid"),
        "POST",
        "/contacts/5/fire",
        {},
        {"name": "Paid"},
        ACK,
    ),
    ("merge", lambda c: c.contacts.merge(5, 6), "POST", "/contacts/5/unite/6", {}, "EMPTY", ACK),
    # 10-12 contact tags
    (
        "tags",
        lambda c: c.contacts.tags(5, page=2, limitation=5),
        "GET",
        "/contacts/5/tags",
        P,
        None,
        page(TAG),
    ),
    (
        "add_tag",
        lambda c: c.contacts.add_tag(5, 55),
        "POST",
        "/contacts/5/tags/55",
        {},
        "EMPTY",
        ACK,
    ),
    (
        "remove_tag",
        lambda c: c.contacts.remove_tag(5, 55),
        "DELETE",
        "/contacts/5/tags/55",
        {},
        "EMPTY",
        ACK,
    ),
    # 13-15 contact funnels
    (
        "funnels",
        lambda c: c.contacts.funnels(5, page=2, limitation=5),
        "GET",
        "/contacts/5/funnels",
        P,
        None,
        page(FUNNEL),
    ),
    (
        "subscribe",
        lambda c: c.contacts.subscribe(5, "abc123"),
        "POST",
        "/contacts/5/funnels/abc123",
        {},
        "EMPTY",
        ACK,
    ),
    (
        "subscribe-int",
        lambda c: c.contacts.subscribe(5, 77),
        "POST",
        "/contacts/5/funnels/77",
        {},
        "EMPTY",
        ACK,
    ),
    (
        "unsubscribe",
        lambda c: c.contacts.unsubscribe(5, "abc123"),
        "DELETE",
        "/contacts/5/funnels/abc123",
        {},
        "EMPTY",
        ACK,
    ),
    # 16-17 groups
    (
        "groups",
        lambda c: c.contacts.groups(5, page=2, limitation=5),
        "GET",
        "/contacts/5/groups",
        P,
        None,
        page(GROUP),
    ),
    (
        "add_group",
        lambda c: c.contacts.add_group(5, 11),
        "POST",
        "/contacts/5/groups/11",
        {},
        "EMPTY",
        ACK,
    ),
    (
        "remove_group",
        lambda c: c.contacts.remove_group(5, 11),
        "DELETE",
        "/contacts/5/groups/11",
        {},
        "EMPTY",
        ACK,
    ),
    # 18-22 cart and invoices
    (
        "cart",
        lambda c: c.contacts.cart(5, page=2, limitation=5),
        "GET",
        "/contacts/5/checkout",
        P,
        None,
        page(ESSENCE),
    ),
    (
        "invoices",
        lambda c: c.contacts.invoices(5, page=2, limitation=5),
        "GET",
        "/contacts/5/invoices",
        P,
        None,
        page(INVOICE),
    ),
    (
        "invoice",
        lambda c: c.contacts.invoice(5, UUID),
        "GET",
        f"/contacts/5/invoices/{UUID}",
        {},
        None,
        INVOICE,
    ),
    (
        "create_invoice",
        lambda c: c.contacts.create_invoice(5, essence_id=1, payment_system_id=3),
        "POST",
        "/contacts/5/invoices",
        {},
        {"essenceId": 1, "paymentSystemId": 3},
        INVOICE,
    ),
    (
        "pay_invoice",
        lambda c: c.contacts.pay_invoice(
            5,
            order_id=UUID,
            essence_id=1,
            payment_system_id=3,
            amount=199.5,
            currency="UAH",
            date=dt.datetime(2026, 3, 18, 12, 30, 5),
        ),
        "PUT",
        "/contacts/5/invoices",
        {},
        {
            "orderId": UUID,
            "essenceId": 1,
            "paymentSystemId": 3,
            "amount": 199.5,
            "currency": "uah",
            "date": "2026-03-18 12:30:05",
        },
        INVOICE,
    ),
    # 23-26 tags
    (
        "tags.list",
        lambda c: c.tags.list("vip", page=2, limitation=5),
        "GET",
        "/tags",
        {**P, "term": "vip"},
        None,
        page(TAG),
    ),
    (
        "tags.list-noterm",
        lambda c: c.tags.list(),
        "GET",
        "/tags",
        {"page": "1", "limitation": "20"},
        None,
        page(TAG),
    ),
    (
        "tags.create",
        lambda c: c.tags.create("vip", color="#FF0000"),
        "POST",
        "/tags",
        {},
        {"name": "vip", "color": "FF0000"},
        TAG,
    ),
    (
        "tags.create-nocolor",
        lambda c: c.tags.create("vip"),
        "POST",
        "/tags",
        {},
        {"name": "vip"},
        TAG,
    ),
    (
        "tags.update",
        lambda c: c.tags.update(55, name="VIP", color="00FF00"),
        "PUT",
        "/tags/55",
        {},
        {"name": "VIP", "color": "00FF00"},
        ACK,
    ),
    (
        "tags.update-name",
        lambda c: c.tags.update(55, name="VIP"),
        "PUT",
        "/tags/55",
        {},
        {"name": "VIP"},
        ACK,
    ),
    ("tags.delete", lambda c: c.tags.delete(55), "DELETE", "/tags/55", {}, "EMPTY", ACK),
    # 27 funnels
    (
        "funnels.list",
        lambda c: c.funnels.list("Wel", page=2, limitation=5),
        "GET",
        "/funnels",
        {**P, "term": "Wel"},
        None,
        page(FUNNEL),
    ),
    # 28-31 variables
    (
        "variables.list",
        lambda c: c.variables.list("ci", page=2, limitation=5),
        "GET",
        "/variables",
        {**P, "term": "ci"},
        None,
        page(VARIABLE),
    ),
    (
        "variables.create",
        lambda c: c.variables.create("city", "string", description="Where"),
        "POST",
        "/variables",
        {},
        {"name": "city", "type": "string", "description": "Where"},
        VARIABLE,
    ),
    (
        "variables.create-enum",
        lambda c: c.variables.create("size", "enum", choices=["S", "M", "L"]),
        "POST",
        "/variables",
        {},
        {"name": "size", "type": "enum", "values": "S,M,L"},
        {**VARIABLE, "type": "enum"},
    ),
    (
        "variables.update",
        lambda c: c.variables.update(4, name="town", description="d"),
        "PUT",
        "/variables/4",
        {},
        {"name": "town", "description": "d"},
        ACK,
    ),
    (
        "variables.update-name",
        lambda c: c.variables.update(4, name="town"),
        "PUT",
        "/variables/4",
        {},
        {"name": "town"},
        ACK,
    ),
    (
        "variables.delete",
        lambda c: c.variables.delete(4),
        "DELETE",
        "/variables/4",
        {},
        "EMPTY",
        ACK,
    ),
    # 32-36 definitions
    (
        "definitions.list",
        lambda c: c.definitions.list("ra", page=2, limitation=5),
        "GET",
        "/definitions",
        {**P, "term": "ra"},
        None,
        page(DEFINITION),
    ),
    (
        "definitions.create",
        lambda c: c.definitions.create("rate", 42),
        "POST",
        "/definitions",
        {},
        {"name": "rate", "value": 42},
        DEFINITION,
    ),
    (
        "definitions.get",
        lambda c: c.definitions.get(7),
        "GET",
        "/definitions/7",
        {},
        None,
        DEFINITION,
    ),
    (
        "definitions.update",
        lambda c: c.definitions.update(7, name="rate", value="41.5"),
        "PUT",
        "/definitions/7",
        {},
        {"name": "rate", "value": "41.5"},
        ACK,
    ),
    (
        "definitions.delete",
        lambda c: c.definitions.delete(7),
        "DELETE",
        "/definitions/7",
        {},
        "EMPTY",
        ACK,
    ),
    # 37-40 channels
    (
        "channels.list",
        lambda c: c.channels.list(page=2, limitation=5),
        "GET",
        "/channels",
        P,
        None,
        page(CHANNEL),
    ),
    ("channels.get", lambda c: c.channels.get(9), "GET", "/channels/9", {}, None, CHANNEL),
    (
        "channels.set_active",
        lambda c: c.channels.set_active(9, False),
        "PUT",
        "/channels/9",
        {},
        {"state": False},
        ACK,
    ),
    (
        "channels.create_gate",
        lambda c: c.channels.create_gate(
            9,
            identifier="380501234567",
            first_name="Ann",
            last_name="B",
            email="ann@b.c",
            phone="+380501234567",
            parameters={"city": "Kyiv"},
        ),
        "POST",
        "/channels/9/gates",
        {},
        {
            "identifier": "380501234567",
            "firstName": "Ann",
            "lastName": "B",
            "email": "ann@b.c",
            "phone": "+380501234567",
            "parameters": {"city": "Kyiv"},
        },
        GATE,
    ),
    (
        "channels.create_gate-min",
        lambda c: c.channels.create_gate(9, identifier="380501234567", first_name="Ann"),
        "POST",
        "/channels/9/gates",
        {},
        {"identifier": "380501234567", "firstName": "Ann"},
        GATE,
    ),
    # 41-44 products
    (
        "products.list",
        lambda c: c.products.list(page=2, limitation=5),
        "GET",
        "/products",
        P,
        None,
        page(PRODUCT),
    ),
    (
        "products.create",
        lambda c: c.products.create(
            "Pizza",
            essences=[{"name": "Large", "price": 199.5, "currency": "UAH"}],
            labels=[1, 2],
            payment_systems=[3],
            category_id=4,
        ),
        "POST",
        "/products",
        {},
        {
            "name": "Pizza",
            "essences": [{"name": "Large", "price": 199.5, "currency": "UAH"}],
            "labels": [1, 2],
            "paymentSystems": [3],
            "categoryId": 4,
        },
        PRODUCT,
    ),
    (
        "products.update",
        lambda c: c.products.update(2, name="Pizza XL"),
        "PUT",
        "/products/2",
        {},
        {"name": "Pizza XL"},
        PRODUCT,
    ),
    ("products.delete", lambda c: c.products.delete(2), "DELETE", "/products/2", {}, "EMPTY", ACK),
    # 45-46 cashiers
    (
        "cashiers.list",
        lambda c: c.cashiers.list(page=2, limitation=5),
        "GET",
        "/cashiers",
        P,
        None,
        page(CASHIER),
    ),
    ("cashiers.get", lambda c: c.cashiers.get(3), "GET", "/cashiers/3", {}, None, CASHIER),
    # 48 operators
    (
        "operators.list",
        lambda c: c.operators.list(page=2, limitation=5),
        "GET",
        "/operators",
        P,
        None,
        page(OPERATOR),
    ),
    (
        "operators.involve",
        lambda c: c.operators.involve(101, True),
        "PUT",
        "/operators/101/involve",
        {},
        {"state": True},
        ACK,
    ),
    # 49 me
    ("me", lambda c: c.me(), "GET", "/me", {}, None, {"name": "Shop", "photo": "https://x/p.png"}),
]


@pytest.mark.parametrize(
    ("name", "call", "method", "path", "query", "body", "response"), WIRE, ids=[w[0] for w in WIRE]
)
async def test_wire_form(
    mock: respx.MockRouter,
    client: SmartSender,
    name: str,
    call: Call,
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
    response: Any,
) -> None:
    mock.route().mock(return_value=httpx.Response(200, json=response))
    result = await call(client)
    request = only_request(mock)
    assert request.method == method
    assert request.url.path == "/v1" + path
    assert dict(request.url.params) == query
    if method == "GET":
        assert request.content in (b"", None)
    elif body == "EMPTY":
        assert body_of(request) in (None, {}), request.content
    elif body is not None:
        assert body_of(request) == body
    if response is ACK:
        assert result is None


async def test_typed_results(mock: respx.MockRouter, client: SmartSender) -> None:
    routes = {
        "/v1/tags": page(TAG),
        "/v1/funnels": page(FUNNEL),
        "/v1/variables": page(VARIABLE),
        "/v1/definitions/7": DEFINITION,
        "/v1/channels": page(CHANNEL),
        "/v1/contacts/5/groups": page(GROUP),
        "/v1/contacts/5/checkout": page(ESSENCE),
        "/v1/contacts/5/invoices/x-1": INVOICE,
        "/v1/products": page(PRODUCT),
        "/v1/cashiers/3": CASHIER,
        "/v1/me": {"name": "Shop", "photo": "https://x/p.png", "newField": 1},
        "/v1/contacts/5/info": {"id": 5, "city": "Kyiv", "system_city": "Lviv"},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=routes[request.url.path])

    mock.route().mock(side_effect=handler)
    tag = (await client.tags.list()).items[0]
    assert isinstance(tag, Tag) and tag.id == 55 and tag.name == "vip"
    assert tag.created_at is not None and tag.created_at.year == 2026
    funnel = (await client.funnels.list()).items[0]
    assert isinstance(funnel, Funnel) and funnel.service_key in ("abc123",)
    assert isinstance((await client.variables.list()).items[0], Variable)
    d = await client.definitions.get(7)
    assert isinstance(d, Definition) and d.value == 42
    assert isinstance((await client.channels.list()).items[0], Channel)
    assert isinstance((await client.contacts.groups(5)).items[0], Group)
    line = (await client.contacts.cart(5)).items[0]
    assert isinstance(line, ProductEssence)
    inv = await client.contacts.invoice(5, "x-1")
    assert isinstance(inv, Invoice) and inv.order_id == UUID and inv.logs[0].state is True
    assert isinstance((await client.products.list()).items[0], Product)
    assert isinstance(await client.cashiers.get(3), Cashier)
    me = await client.me()
    assert isinstance(me, Project) and me.name == "Shop" and me.photo == "https://x/p.png"
    assert me.extra.get("newField") == 1
    info = await client.contacts.info(5)
    assert info["city"] == "Kyiv" and info["system_city"] == "Lviv"


async def test_invoice_essence_list_and_legacy_essence(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    legacy = {"id": 1, "name": "L", "price": 10, "amount": 10, "currency": "USD"}
    mock.get("/contacts/5/invoices/a").mock(
        return_value=httpx.Response(200, json={**INVOICE, "essence": [ESSENCE, legacy]})
    )
    mock.get("/contacts/5/checkout").mock(return_value=httpx.Response(200, json=page(legacy)))
    inv = await client.contacts.invoice(5, "a")
    assert inv.essence is not None
    line = (await client.contacts.cart(5)).items[0]
    assert line.currency == "USD" and line.price == 10


async def test_gate_returned_is_typed(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.post("/channels/9/gates").mock(return_value=httpx.Response(200, json=GATE))
    gate = await client.channels.create_gate(9, identifier="1", first_name="A")
    assert isinstance(gate, Gate) and gate.id == 7712409


# ---------------------------------------------------------------- acks

ACKED: list[tuple[str, Call]] = [
    ("update", lambda c: c.contacts.update(5, values={"a": 1})),
    ("fire", lambda c: c.contacts.fire(5, "x")),
    ("merge", lambda c: c.contacts.merge(5, 6)),
    ("add_tag", lambda c: c.contacts.add_tag(5, 1)),
    ("remove_tag", lambda c: c.contacts.remove_tag(5, 1)),
    ("subscribe", lambda c: c.contacts.subscribe(5, "k")),
    ("unsubscribe", lambda c: c.contacts.unsubscribe(5, "k")),
    ("add_group", lambda c: c.contacts.add_group(5, 1)),
    ("remove_group", lambda c: c.contacts.remove_group(5, 1)),
    ("tags.update", lambda c: c.tags.update(1, name="a")),
    ("tags.delete", lambda c: c.tags.delete(1)),
    ("variables.update", lambda c: c.variables.update(1, name="a")),
    ("variables.delete", lambda c: c.variables.delete(1)),
    ("definitions.update", lambda c: c.definitions.update(1, name="a", value=1)),
    ("definitions.delete", lambda c: c.definitions.delete(1)),
    ("channels.set_active", lambda c: c.channels.set_active(1, True)),
    ("products.delete", lambda c: c.products.delete(1)),
    ("operators.involve", lambda c: c.operators.involve(1, False)),
]


@pytest.mark.parametrize(("name", "call"), ACKED, ids=[a[0] for a in ACKED])
async def test_state_false_raises_with_body(
    mock: respx.MockRouter, client: SmartSender, name: str, call: Call
) -> None:
    body = {"state": False, "why": "nope"}
    mock.route().mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(SmartSenderError) as info:
        await call(client)
    assert getattr(info.value, "body", None) == body


@pytest.mark.parametrize(("name", "call"), ACKED, ids=[a[0] for a in ACKED])
async def test_state_true_is_none(
    mock: respx.MockRouter, client: SmartSender, name: str, call: Call
) -> None:
    mock.route().mock(return_value=httpx.Response(200, json={"state": True}))
    assert await call(client) is None


# ---------------------------------------------------------------- validation before I/O

BAD: list[tuple[str, Call, type[Exception]]] = [
    ("search-empty", lambda c: c.contacts.search(""), ValueError),
    ("search-blank", lambda c: c.contacts.search("   "), ValueError),
    ("get-zero", lambda c: c.contacts.get(0), ValueError),
    ("get-neg", lambda c: c.contacts.get(-3), ValueError),
    ("get-bool", lambda c: c.contacts.get(True), TypeError),
    ("get-float", lambda c: c.contacts.get(5.0), TypeError),  # type: ignore[arg-type]
    ("info-str", lambda c: c.contacts.info("5/../x"), (TypeError, ValueError)),  # type: ignore[arg-type]
    ("update-nothing", lambda c: c.contacts.update(5), ValueError),
    ("update-values-not-map", lambda c: c.contacts.update(5, values=["a"]), TypeError),  # type: ignore[arg-type]
    ("update-values-badkey", lambda c: c.contacts.update(5, values={3: "a"}), TypeError),  # type: ignore[dict-item]
    (
        "update-field-twice",
        lambda c: c.contacts.update(5, first_name="A", firstName="B"),
        ValueError,
    ),
    ("update-field-odd", lambda c: c.contacts.update(5, _x=1), ValueError),
    ("update-field-dunder", lambda c: c.contacts.update(5, first__name=1), ValueError),
    ("fire-empty", lambda c: c.contacts.fire(5, ""), ValueError),
    ("fire-notstr", lambda c: c.contacts.fire(5, 3), TypeError),  # type: ignore[arg-type]
    ("merge-self", lambda c: c.contacts.merge(5, 5), ValueError),
    ("merge-bad", lambda c: c.contacts.merge(5, 0), ValueError),
    ("add_tag-bad", lambda c: c.contacts.add_tag(5, -1), ValueError),
    ("remove_tag-bool", lambda c: c.contacts.remove_tag(5, False), TypeError),
    ("subscribe-empty", lambda c: c.contacts.subscribe(5, ""), ValueError),
    ("subscribe-none", lambda c: c.contacts.subscribe(5, None), TypeError),  # type: ignore[arg-type]
    ("add_group-bad", lambda c: c.contacts.add_group(5, 0), ValueError),
    ("invoice-empty", lambda c: c.contacts.invoice(5, ""), ValueError),
    (
        "create_invoice-bad",
        lambda c: c.contacts.create_invoice(5, essence_id=0, payment_system_id=1),
        ValueError,
    ),
    (
        "pay_invoice-currency",
        lambda c: c.contacts.pay_invoice(
            5,
            order_id="a",
            essence_id=1,
            payment_system_id=1,
            amount=1,
            currency="hryvnia",
            date="2026-03-18 12:00:00",
        ),
        ValueError,
    ),
    (
        "pay_invoice-neg",
        lambda c: c.contacts.pay_invoice(
            5,
            order_id="a",
            essence_id=1,
            payment_system_id=1,
            amount=-1,
            currency="uah",
            date="2026-03-18 12:00:00",
        ),
        ValueError,
    ),
    (
        "pay_invoice-date",
        lambda c: c.contacts.pay_invoice(
            5,
            order_id="a",
            essence_id=1,
            payment_system_id=1,
            amount=1,
            currency="uah",
            date="yesterday",
        ),
        (TypeError, ValueError),
    ),
    ("tags.create-empty", lambda c: c.tags.create(""), ValueError),
    ("tags.create-color", lambda c: c.tags.create("a", color="red"), ValueError),
    ("tags.create-color5", lambda c: c.tags.create("a", color="#FFFFF"), ValueError),
    ("tags.create-color7", lambda c: c.tags.create("a", color="FFFFFFF"), ValueError),
    ("tags.update-nothing", lambda c: c.tags.update(1), ValueError),
    ("tags.update-color", lambda c: c.tags.update(1, color="zzzzzz"), ValueError),
    ("tags.list-page0", lambda c: c.tags.list(page=0), ValueError),
    ("tags.list-lim21", lambda c: c.tags.list(limitation=21), ValueError),
    ("variables.create-enum", lambda c: c.variables.create("s", "enum"), ValueError),
    (
        "variables.create-enum-empty",
        lambda c: c.variables.create("s", "enum", choices=[]),
        ValueError,
    ),
    ("variables.create-type", lambda c: c.variables.create("s", "blob"), ValueError),
    (
        "variables.create-comma",
        lambda c: c.variables.create("s", "enum", choices=["a,b", "c"]),
        ValueError,
    ),
    (
        "variables.create-choices-str",
        lambda c: c.variables.create("s", "enum", choices="abc"),
        TypeError,
    ),
    (
        "variables.create-choice-space",
        lambda c: c.variables.create("s", "enum", choices=[" x", "y"]),
        ValueError,
    ),
    (
        "variables.create-choice-dup",
        lambda c: c.variables.create("s", "enum", choices=["x", "x"]),
        ValueError,
    ),
    (
        "pay_invoice-calendar",
        lambda c: c.contacts.pay_invoice(
            5,
            order_id="a",
            essence_id=1,
            payment_system_id=1,
            amount=1,
            currency="uah",
            date="2026-13-45 99:00:00",
        ),
        ValueError,
    ),
    ("variables.update-empty", lambda c: c.variables.update(1, name=""), ValueError),
    ("definitions.create-empty", lambda c: c.definitions.create("", 1), ValueError),
    ("definitions.create-val", lambda c: c.definitions.create("a", [1]), TypeError),  # type: ignore[arg-type]
    ("definitions.create-bool", lambda c: c.definitions.create("a", True), TypeError),
    ("channels.set_active-str", lambda c: c.channels.set_active(1, "yes"), TypeError),  # type: ignore[arg-type]
    ("channels.set_active-int", lambda c: c.channels.set_active(1, 1), TypeError),  # type: ignore[arg-type]
    (
        "create_gate-noname",
        lambda c: c.channels.create_gate(1, identifier="1", first_name=""),
        ValueError,
    ),
    (
        "create_gate-noid",
        lambda c: c.channels.create_gate(1, identifier="", first_name="A"),
        ValueError,
    ),
    (
        "create_gate-long",
        lambda c: c.channels.create_gate(1, identifier="1", first_name="A" * 256),
        ValueError,
    ),
    (
        "create_gate-phone",
        lambda c: c.channels.create_gate(1, identifier="1", first_name="A", phone="0501"),
        ValueError,
    ),
    (
        "create_gate-email",
        lambda c: c.channels.create_gate(1, identifier="1", first_name="A", email="nope"),
        ValueError,
    ),
    ("products.create-noess", lambda c: c.products.create("P", essences=[]), ValueError),
    (
        "products.create-noname",
        lambda c: c.products.create("", essences=[{"name": "a"}]),
        ValueError,
    ),
    ("operators.involve-int", lambda c: c.operators.involve(1, 1), TypeError),  # type: ignore[arg-type]
    ("operators.involve-none", lambda c: c.operators.involve(1, None), TypeError),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("name", "call", "exc"), BAD, ids=[b[0] for b in BAD])
async def test_validation_before_io(
    mock: respx.MockRouter, client: SmartSender, name: str, call: Call, exc: Any
) -> None:
    route = mock.route().mock(return_value=httpx.Response(200, json=ACK))
    with pytest.raises(exc):
        await call(client)
    assert not route.called


async def test_pay_invoice_takes_string_and_date(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    route = mock.put("/contacts/5/invoices").mock(return_value=httpx.Response(200, json=INVOICE))
    await client.contacts.pay_invoice(
        5,
        order_id="a",
        essence_id=1,
        payment_system_id=2,
        amount=10,
        currency="usd",
        date="2026-03-18 12:00:00",
    )
    await client.contacts.pay_invoice(
        5,
        order_id="a",
        essence_id=1,
        payment_system_id=2,
        amount=10,
        currency="EUR",
        date=dt.date(2026, 3, 18),
    )
    bodies = [json.loads(c.request.content) for c in route.calls]
    assert bodies[0]["date"] == "2026-03-18 12:00:00" and bodies[0]["currency"] == "usd"
    assert bodies[1]["date"].startswith("2026-03-18") and bodies[1]["currency"] == "eur"
    assert bodies[1]["amount"] == 10


async def test_aware_datetime_sent_as_is_or_utc(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    """An aware datetime in +02:00 must not be sent as its wall time without saying so."""
    route = mock.put("/contacts/5/invoices").mock(return_value=httpx.Response(200, json=INVOICE))
    when = dt.datetime(2026, 3, 18, 14, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    await client.contacts.pay_invoice(
        5, order_id="a", essence_id=1, payment_system_id=2, amount=10, currency="usd", date=when
    )
    sent = json.loads(route.calls[0].request.content)["date"]
    # Either the UTC reading or the wall reading is defensible; it must be one of them.
    assert sent in ("2026-03-18 12:00:00", "2026-03-18 14:00:00")


async def test_stream_term_is_sent(mock: respx.MockRouter, client: SmartSender) -> None:
    route = mock.get("/tags").mock(return_value=httpx.Response(200, json=page(TAG)))
    got = [t async for t in client.tags.stream("vip")]
    assert [t.id for t in got] == [55]
    assert route.calls[0].request.url.params["term"] == "vip"


async def test_contacts_stream_all(mock: respx.MockRouter, client: SmartSender) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params["page"])
        return httpx.Response(
            200,
            json={
                "cursor": {"page": n, "pages": 3},
                "collection": [{"id": n * 10}, {"id": n * 10 + 1}],
            },
        )

    mock.get("/contacts").mock(side_effect=handler)
    ids = sorted([c.id async for c in client.contacts.stream()])
    assert ids == [10, 11, 20, 21, 30, 31]


async def test_permission_denied_hints_token(mock: respx.MockRouter, client: SmartSender) -> None:
    mock.get("/me").mock(
        return_value=httpx.Response(403, json={"error": {"code": 403, "message": "Forbidden"}})
    )
    with pytest.raises(PermissionDeniedError) as info:
        await client.me()
    assert "token" in str(info.value).lower()
    assert TOKEN not in str(info.value)


# ---------------------------------------------------------------- the emulator's state


@pytest.fixture
async def emu_client() -> AsyncIterator[tuple[Emulator, SmartSender]]:
    emu = Emulator(chats=6, messages_per_chat=5, rate_limit=None)
    async with emu.client() as c:
        yield emu, c


async def test_emulator_tag_shows_everywhere(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, c = emu_client
    cid = emu.contact_ids()[0]
    tag = await c.tags.create("attack-tag", color="#00AA00")
    assert tag.name == "attack-tag" and (tag.color or "").upper() == "00AA00"
    assert [t.id for t in await c.tags.list("attack-tag")] == [tag.id]
    await c.contacts.add_tag(cid, tag.id)
    assert tag.id in [t.id for t in await c.contacts.tags(cid)]
    assert tag.id in [t.id for t in (await c.contacts.get(cid)).tags]
    await c.contacts.remove_tag(cid, tag.id)
    assert tag.id not in [t.id for t in await c.contacts.tags(cid)]
    assert tag.id not in [t.id for t in (await c.contacts.get(cid)).tags]
    await c.tags.update(tag.id, name="attack-2")
    assert [t.name for t in await c.tags.list("attack-2")] == ["attack-2"]
    await c.tags.delete(tag.id)
    assert [t for t in await c.tags.list("attack-2")] == []
    with pytest.raises(NotFoundError):
        await c.tags.delete(tag.id)
    with pytest.raises(NotFoundError):
        await c.contacts.add_tag(cid, tag.id)


async def test_emulator_deleted_tag_leaves_contacts(
    emu_client: tuple[Emulator, SmartSender],
) -> None:
    emu, c = emu_client
    cid = emu.contact_ids()[0]
    tag = await c.tags.create("doomed")
    await c.contacts.add_tag(cid, tag.id)
    await c.tags.delete(tag.id)
    assert tag.id not in [t.id for t in await c.contacts.tags(cid)]
    assert tag.id not in [t.id for t in (await c.contacts.get(cid)).tags]


async def test_emulator_renamed_tag_renames_on_contacts(
    emu_client: tuple[Emulator, SmartSender],
) -> None:
    emu, c = emu_client
    cid = emu.contact_ids()[0]
    tag = await c.tags.create("old-name")
    await c.contacts.add_tag(cid, tag.id)
    await c.tags.update(tag.id, name="new-name")
    assert "new-name" in [t.name for t in await c.contacts.tags(cid)]
    assert "new-name" in [t.name for t in (await c.contacts.get(cid)).tags]


async def test_emulator_duplicate_tag_name_refused(
    emu_client: tuple[Emulator, SmartSender],
) -> None:
    _, c = emu_client
    await c.tags.create("unique-one")
    with pytest.raises(SmartSenderError):
        await c.tags.create("unique-one")


async def test_emulator_update_values_and_fields(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, c = emu_client
    cid = emu.contact_ids()[1]
    await c.contacts.update(cid, values={"city": "Odesa", "score": 7})
    info = await c.contacts.info(cid)
    assert info["city"] == "Odesa" and info["score"] in (7, "7")
    await c.contacts.update(cid, values={"city": None})
    info = await c.contacts.info(cid)
    assert info.get("city") in (None, "")
    await c.contacts.update(cid, firstName="Zed")
    assert (await c.contacts.get(cid)).first_name == "Zed"
    with pytest.raises(NotFoundError):
        await c.contacts.update(10**9, values={"a": 1})


async def test_emulator_fire_recorded(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, c = emu_client
    cid = emu.contact_ids()[2]
    await c.contacts.fire(cid, "paid")
    await c.contacts.fire(cid, "Paid")
    assert emu.fired(cid) == ["paid", "Paid"]
    with pytest.raises(NotFoundError):
        await c.contacts.fire(10**9, "x")


async def test_emulator_fire_legacy_query_form(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, _ = emu_client
    cid = emu.contact_ids()[2]
    async with emu.http_client() as h:
        r = await h.post(f"/contacts/{cid}/fire", params={"name": "legacy"})
        assert r.status_code == 200 and r.json() == {"state": True}
        r = await h.post(
            f"/contacts/{cid}/fire?name=php",
            content=b"[]",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
    assert emu.fired(cid) == ["legacy", "php"]


async def test_emulator_funnels_and_groups(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, c = emu_client
    cid = emu.contact_ids()[0]
    funnel = (await c.funnels.list()).items[0]
    await c.contacts.subscribe(cid, funnel.service_key)  # type: ignore[arg-type]
    assert funnel.service_key in [f.service_key for f in await c.contacts.funnels(cid)]
    assert funnel.service_key in [f.service_key for f in (await c.contacts.get(cid)).funnels]
    await c.contacts.unsubscribe(cid, funnel.service_key)  # type: ignore[arg-type]
    assert funnel.service_key not in [f.service_key for f in await c.contacts.funnels(cid)]
    with pytest.raises(NotFoundError):
        await c.contacts.subscribe(cid, "no-such-key-xyz")
    groups = await c.contacts.groups(cid)
    assert [g.id for g in groups.items]


async def test_emulator_invoices_and_cart(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, c = emu_client
    cid = emu.contact_ids()[0]
    product = (await c.products.list()).items[0]
    essence = product.essences[0]
    cashier = (await c.cashiers.list()).items[0]
    emu.set_cart(cid, {essence.id: 2})
    cart = await c.contacts.cart(cid)
    assert [line.id for line in cart.items] == [essence.id]
    before = len((await c.contacts.invoices(cid)).items)
    inv = await c.contacts.create_invoice(cid, essence_id=essence.id, payment_system_id=cashier.id)
    assert inv.order_id
    assert len((await c.contacts.invoices(cid)).items) == before + 1
    got = await c.contacts.invoice(cid, inv.order_id)
    assert got.order_id == inv.order_id
    assert not any(log.state for log in got.logs)
    paid = await c.contacts.pay_invoice(
        cid,
        order_id=inv.order_id,
        essence_id=essence.id,
        payment_system_id=cashier.id,
        amount=1,
        currency="UAH",
        date="2026-03-18 12:00:00",
    )
    assert paid.order_id == inv.order_id
    assert any(log.state for log in (await c.contacts.invoice(cid, inv.order_id)).logs)
    assert list((await c.contacts.cart(cid)).items) == []  # a successful payment empties the cart
    # paying a missing order creates and pays it
    fresh = await c.contacts.pay_invoice(
        cid,
        order_id="11111111-2222-3333-4444-555555555555",
        essence_id=essence.id,
        payment_system_id=cashier.id,
        amount=5,
        currency="usd",
        date="2026-03-18 12:00:00",
    )
    assert fresh.order_id == "11111111-2222-3333-4444-555555555555"
    assert any(log.state for log in fresh.logs)
    assert len((await c.contacts.invoices(cid)).items) == before + 2
    with pytest.raises(NotFoundError):
        await c.contacts.invoice(cid, "no-such-order")
    with pytest.raises(NotFoundError):
        await c.contacts.cart(10**9)
    with pytest.raises(NotFoundError):
        await c.contacts.invoices(10**9)
    with pytest.raises((NotFoundError, SmartSenderError)):
        await c.contacts.create_invoice(cid, essence_id=10**9, payment_system_id=cashier.id)
    with pytest.raises((NotFoundError, SmartSenderError)):
        await c.contacts.create_invoice(cid, essence_id=essence.id, payment_system_id=10**9)


async def test_emulator_invoice_of_another_contact_is_404(
    emu_client: tuple[Emulator, SmartSender],
) -> None:
    emu, c = emu_client
    a, b = emu.contact_ids()[:2]
    product = (await c.products.list()).items[0]
    cashier = (await c.cashiers.list()).items[0]
    inv = await c.contacts.create_invoice(
        a, essence_id=product.essences[0].id, payment_system_id=cashier.id
    )
    with pytest.raises(NotFoundError):
        await c.contacts.invoice(b, inv.order_id)


async def test_emulator_channels_and_gates(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, c = emu_client
    channels = (await c.channels.list()).items
    assert channels
    ch = channels[0]
    await c.channels.set_active(ch.id, False)
    assert (await c.channels.get(ch.id)).active is False
    await c.channels.set_active(ch.id, True)
    assert (await c.channels.get(ch.id)).active is True
    with pytest.raises(NotFoundError):
        await c.channels.get(10**9)
    with pytest.raises(NotFoundError):
        await c.channels.set_active(10**9, True)
    whatsapp = [x for x in channels if x.type == "whatsapp"]
    assert whatsapp, "the emulator must offer a WhatsApp channel for create_gate"
    wa = whatsapp[0]
    n = len(emu.contact_ids())
    g1 = await c.channels.create_gate(
        wa.id, identifier="380501112233", first_name="New", parameters={"city": "Kyiv"}
    )
    assert len(emu.contact_ids()) == n + 1  # the contact is auto-created
    g2 = await c.channels.create_gate(wa.id, identifier="380501112233", first_name="Other")
    assert g2.id == g1.id  # idempotent
    assert len(emu.contact_ids()) == n + 1
    with pytest.raises(NotFoundError):
        await c.channels.create_gate(10**9, identifier="1", first_name="A")
    others = [x for x in channels if x.type != "whatsapp"]
    if others:
        with pytest.raises(SmartSenderError):
            await c.channels.create_gate(others[0].id, identifier="9", first_name="A")
    new_cid = next(i for i in emu.contact_ids() if emu.contact_info(i).get("city") == "Kyiv")
    assert g1.id in [g.id for g in await c.contacts.gates(new_cid)]


async def test_emulator_variables_definitions_products(
    emu_client: tuple[Emulator, SmartSender],
) -> None:
    _, c = emu_client
    v = await c.variables.create("shoe_size", "enum", choices=["40", "41"])
    assert v.name == "shoe_size"
    await c.variables.update(v.id, name="shoe", description="EU")
    assert [x.name for x in await c.variables.list("shoe")] == ["shoe"]
    await c.variables.delete(v.id)
    assert [x for x in await c.variables.list("shoe")] == []
    with pytest.raises(NotFoundError):
        await c.variables.delete(v.id)
    d = await c.definitions.create("vat", 20)
    assert (await c.definitions.get(d.id)).value == 20
    await c.definitions.update(d.id, name="vat", value="21")
    assert (await c.definitions.get(d.id)).value in ("21", 21)
    await c.definitions.delete(d.id)
    with pytest.raises(NotFoundError):
        await c.definitions.get(d.id)
    p = await c.products.create("Attack", essences=[{"name": "One", "price": 1, "currency": "UAH"}])
    assert p.name == "Attack" and len(p.essences) == 1
    p2 = await c.products.update(
        p.id, name="Attack 2", essences=[{"name": "One", "price": 2, "currency": "UAH"}]
    )
    assert p2.name == "Attack 2"
    await c.products.delete(p.id)
    with pytest.raises(NotFoundError):
        await c.products.delete(p.id)
    with pytest.raises(NotFoundError):
        await c.cashiers.get(10**9)


async def test_emulator_merge_recorded(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, c = emu_client
    a, b = emu.contact_ids()[:2]
    await c.contacts.merge(a, b)
    assert (a, b) in emu.merges()
    with pytest.raises(NotFoundError):
        await c.contacts.merge(a, 10**9)


async def test_emulator_operators_involve(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, c = emu_client
    op = (await c.operators.list()).items[0].id
    await c.operators.involve(op, False)
    assert emu.operator_involved(op) is False
    await c.operators.involve(op, True)
    assert emu.operator_involved(op) is True
    with pytest.raises(NotFoundError):
        await c.operators.involve(10**9, True)


async def test_emulator_me(emu_client: tuple[Emulator, SmartSender]) -> None:
    _, c = emu_client
    me = await c.me()
    assert me.name


# ---------------------------------------------------------------- fidelity fixes


@pytest.mark.parametrize(
    ("method", "path_of"),
    [
        ("POST", lambda cid, tag, key, chat, op: f"/contacts/{cid}/tags/{tag}"),
        ("DELETE", lambda cid, tag, key, chat, op: f"/contacts/{cid}/tags/{tag}"),
        ("POST", lambda cid, tag, key, chat, op: f"/contacts/{cid}/funnels/{key}"),
        ("POST", lambda cid, tag, key, chat, op: f"/chats/{chat}/forward/{op}"),
        ("PUT", lambda cid, tag, key, chat, op: f"/chats/{chat}/read"),
        ("PUT", lambda cid, tag, key, chat, op: f"/chats/{chat}/close"),
    ],
)
async def test_empty_array_body_is_empty_input(
    emu_client: tuple[Emulator, SmartSender], method: str, path_of: Any
) -> None:
    emu, c = emu_client
    cid = emu.contact_ids()[0]
    tag = (await c.tags.list()).items[0].id
    key = (await c.funnels.list()).items[0].service_key
    chat = emu.chat_ids()[0]
    op = emu.operator_ids()[0]
    async with emu.http_client() as h:
        r = await h.request(
            method,
            path_of(cid, tag, key, chat, op),
            content=b"[]",
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 200, r.text
    assert r.json() == {"state": True}


async def test_delete_keeps_transient(emu_client: tuple[Emulator, SmartSender]) -> None:
    emu, c = emu_client
    chat = emu.chat_ids()[0]
    msgs = (await c.chats.messages(chat, activities=True)).items
    target = next(
        m for m in msgs if m.gate is not None and m.content.type not in ("transient", "action")
    )
    original_type = target.content.type
    assert target.gate is not None
    await c.gates.delete_messages(target.gate.id, [target.id])
    after = {m.id: m for m in (await c.chats.messages(chat, activities=True)).items}
    assert target.id in after, "the deleted message must stay in the history"
    content = after[target.id].content
    assert content.type == "transient"
    assert isinstance(content.timestamp, dt.datetime)
    assert content.original is not None
    assert getattr(content.original, "type", None) in (original_type, None) or original_type in str(
        content.original
    )


@pytest.mark.parametrize("form", ["seconds", "milliseconds", "iso"])
async def test_transient_timestamp_tolerant(
    mock: respx.MockRouter, client: SmartSender, form: str
) -> None:
    when = dt.datetime(2026, 3, 18, 12, 0, 0, tzinfo=dt.timezone.utc)
    ts: Any = {
        "seconds": int(when.timestamp()),
        "milliseconds": int(when.timestamp()) * 1000,
        "iso": "2026-03-18T12:00:00.000000Z",
    }[form]
    msg = {
        "id": 1,
        "content": {
            "type": "transient",
            "resource": {
                "parameters": {
                    "original": {"type": "text", "resource": {"parameters": {"content": "hi"}}},
                    "context": {"timestamp": ts},
                }
            },
        },
    }
    mock.get("/chats/1/messages").mock(return_value=httpx.Response(200, json=page(msg)))
    m = (await client.chats.messages(1)).items[0]
    assert m.content.type == "transient"
    got = m.content.timestamp  # type: ignore[union-attr]
    assert isinstance(got, dt.datetime)
    assert got == when


async def test_transient_timestamp_hostile(mock: respx.MockRouter, client: SmartSender) -> None:
    for ts in ("garbage", None, [1], 10**30, -1, True, 1e308):
        msg = {
            "id": 1,
            "content": {
                "type": "transient",
                "resource": {"parameters": {"context": {"timestamp": ts}}},
            },
        }
        mock.get("/chats/1/messages").mock(return_value=httpx.Response(200, json=page(msg)))
        try:
            m = (await client.chats.messages(1)).items[0]
        except SmartSenderError:
            continue  # a typed error is fine
        assert getattr(m.content, "timestamp", None) is None or isinstance(
            m.content.timestamp, dt.datetime
        )  # type: ignore[union-attr]


@pytest.mark.parametrize("form", ["seconds", "milliseconds", "iso"])
async def test_emulator_transient_forms_decode(form: str) -> None:
    emu = Emulator(chats=2, messages_per_chat=5, rate_limit=None, transient_timestamp=form)
    async with emu.client() as c:
        chat = emu.chat_ids()[0]
        target = next(m for m in (await c.chats.messages(chat)).items if m.gate is not None)
        assert target.gate is not None
        await c.gates.delete_messages(target.gate.id, [target.id])
        m = next(m for m in (await c.chats.messages(chat)).items if m.id == target.id)
        assert isinstance(m.content.timestamp, dt.datetime)  # type: ignore[union-attr]
        assert (
            abs(
                (
                    m.content.timestamp
                    - dt.datetime.fromisoformat(emu.now().replace("Z", "+00:00"))
                ).total_seconds()
            )
            < 5
        )  # type: ignore[union-attr]


async def test_bad_token_401_default_and_403_option() -> None:
    emu = Emulator(chats=2, rate_limit=None)
    async with SmartSender(
        "wrong-token-xyz-123",
        transport=emu.transport(),
        base_url=emu.base_url,
        retry=None,
        rate_limit=None,
    ) as c:
        with pytest.raises(AuthenticationError):
            await c.me()
    emu = Emulator(chats=2, rate_limit=None, bad_token_status=403)
    async with SmartSender(
        "wrong-token-xyz-123",
        transport=emu.transport(),
        base_url=emu.base_url,
        retry=None,
        rate_limit=None,
    ) as c:
        with pytest.raises(PermissionDeniedError) as info:
            await c.me()
    assert "token" in str(info.value).lower()
    assert info.value.status_code == 403
    async with emu.http_client() as h:
        r = await h.get("/me", headers={"authorization": ""})
        assert r.status_code == 403 and r.json()["error"]["code"] == 403


async def test_message_limitation_100_option() -> None:
    emu = Emulator(chats=2, messages_per_chat=60, rate_limit=None)
    chat = emu.chat_ids()[0]
    cid = emu.contact_id_of(chat)
    async with emu.http_client() as h:
        r = await h.get(f"/chats/{chat}/messages", params={"page": 1, "limitation": 100})
        assert r.status_code == 422
    emu = Emulator(chats=2, messages_per_chat=60, rate_limit=None, message_limitation_max=100)
    async with emu.http_client() as h:
        r = await h.get(f"/chats/{chat}/messages", params={"page": 1, "limitation": 100})
        assert r.status_code == 200 and len(r.json()["collection"]) > 20
        r = await h.get(f"/contacts/{cid}/messages", params={"page": 1, "limitation": 100})
        assert r.status_code == 200
        r = await h.get(f"/chats/{chat}/messages", params={"page": 1, "limitation": 101})
        assert r.status_code == 422
        r = await h.get("/tags", params={"page": 1, "limitation": 100})
        assert r.status_code == 422  # only message lists take the wider page


# ---------------------------------------------------------------- CLI


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    from smartsender_async.cli._app import cli

    result = CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)
    return result.exit_code, result.stdout


@pytest.fixture
def served() -> Any:
    emu = Emulator(chats=8, messages_per_chat=3, rate_limit=None)
    with emu.serve() as url:
        yield emu, ["--base-url", url, "--token", emu.token, "--quota", "off"]


def test_cli_contacts_on_demo() -> None:
    code, out = run_cli("contacts")
    assert code == 0 and out.strip()
    code, out = run_cli("contacts", "--json")
    assert code == 0
    rows = (
        [json.loads(line) for line in out.splitlines() if line.strip()]
        if not out.lstrip().startswith("[")
        else json.loads(out)
    )
    assert rows and "id" in rows[0]
    code, out = run_cli("contacts", "a")
    assert code == 0


def test_cli_contact_commands_on_demo() -> None:
    code, out = run_cli("contacts", "--json")
    first = out.lstrip()
    rows = (
        json.loads(first)
        if first.startswith("[")
        else [json.loads(x) for x in out.splitlines() if x.strip()]
    )
    cid = str(rows[0]["id"])
    for args in (
        ("contact", cid),
        ("contact", "set", cid, "city=Kyiv", "note="),
        ("contact", "fire", cid, "paid"),
    ):
        code, out = run_cli(*args)
        assert code == 0, (args, out)


def test_cli_state_against_served(served: Any) -> None:
    emu, g = served
    cid = emu.contact_ids()[0]
    code, out = run_cli(*g, "contact", "set", str(cid), "city=Kyiv", "score=7")
    assert code == 0, out
    assert emu.contact_info(cid)["city"] == "Kyiv"
    code, out = run_cli(*g, "contact", str(cid))
    assert code == 0 and "Kyiv" in out
    code, out = run_cli(*g, "contact", "set", str(cid), "city=")
    assert code == 0 and emu.contact_info(cid).get("city") in (None, "")
    code, out = run_cli(*g, "contact", "set", str(cid), "city=a=b")
    assert code == 0 and emu.contact_info(cid)["city"] == "a=b"
    code, out = run_cli(*g, "contact", "set", str(cid), "novalue")
    assert code != 0
    code, out = run_cli(*g, "contact", "fire", str(cid), "Paid")
    assert code == 0 and emu.fired(cid) == ["Paid"]

    tags = emu.tags()
    by_name = tags[0]
    code, out = run_cli(*g, "contact", "tag", str(cid), by_name["name"])
    assert code == 0, out
    assert by_name["id"] in [t["id"] for t in emu.contact(cid)["tags"]]
    code, out = run_cli(*g, "contact", "untag", str(cid), by_name["name"])
    assert code == 0, out
    assert by_name["id"] not in [t["id"] for t in emu.contact(cid)["tags"]]
    code, out = run_cli(*g, "contact", "tag", str(cid), str(by_name["id"]))
    assert code == 0 and by_name["id"] in [t["id"] for t in emu.contact(cid)["tags"]]
    code, out = run_cli(*g, "contact", "tag", str(cid), "no-such-tag-name-xyz")
    assert code != 0
    code, out = run_cli(*g, "contacts", "--json")
    assert code == 0 and str(cid) in out


def test_cli_tag_exact_name_not_partial(served: Any) -> None:
    emu, g = served
    cid = emu.contact_ids()[1]
    # two tags whose names share a prefix: the exact one must be chosen, the prefix refused
    emu_tags = {t["name"] for t in emu.tags()}
    assert "zq" not in emu_tags and "zq-gold" not in emu_tags
    import asyncio

    async def make() -> tuple[int, int]:
        async with emu.client() as c:
            a = await c.tags.create("zq-gold")
            b = await c.tags.create("zq")
            return a.id, b.id

    gold, vip = asyncio.run(make())
    code, out = run_cli(*g, "contact", "tag", str(cid), "zq")
    assert code == 0, out
    ids = [t["id"] for t in emu.contact(cid)["tags"]]
    assert vip in ids and gold not in ids
    code, out = run_cli(*g, "contact", "tag", str(cid), "zq-g")
    assert code != 0


def test_cli_numeric_tag_name(served: Any) -> None:
    """A tag named "2026" given as "2026": an id lookup must not silently attach another tag."""
    emu, g = served
    cid = emu.contact_ids()[2]
    import asyncio

    async def make() -> int:
        async with emu.client() as c:
            return (await c.tags.create("2026")).id

    tid = asyncio.run(make())
    code, _out = run_cli(*g, "contact", "tag", str(cid), "2026")
    # either attaches the named tag, or refuses as ambiguous; never attaches some other tag silently
    ids = [t["id"] for t in emu.contact(cid)["tags"]]
    if code == 0:
        assert tid in ids or 2026 in ids


def test_emulator_serve_epoch() -> None:
    now = dt.datetime.now(dt.timezone.utc)
    for epoch, at in (
        ("2030-06-15T03:04:05Z", dt.datetime(2030, 6, 15, 3, 4, 5, tzinfo=dt.timezone.utc)),
        ("now", now),
    ):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smartsender_async.cli",
                "emulator",
                "serve",
                "--chats",
                "2",
                "--epoch",
                epoch,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1"), url
            r = httpx.get(
                url + "/chats", headers={"authorization": "Bearer emulator-token"}, timeout=10
            )
            assert r.status_code == 200
            stamps = [
                dt.datetime.fromisoformat(c["updatedAt"].replace("Z", "+00:00"))
                for c in r.json()["collection"]
            ]
            assert stamps
            # the newest activity is shortly before the epoch, never after it (1 h slack for "now")
            newest = max(stamps)
            assert at - dt.timedelta(days=60) <= newest <= at + dt.timedelta(hours=1), (
                epoch,
                newest,
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_emulator_serve_epoch_bad() -> None:
    code, _out = run_cli("emulator", "serve", "--epoch", "yesterday-ish")
    assert code != 0


# ---------------------------------------------------------------- coverage table


def test_coverage_table_lists_every_operation() -> None:
    import pathlib
    import re

    ref = pathlib.Path("/work/shared/reference/smartsender-api-surface.md").read_text()
    index = ref.split("## 0. Operation index")[1].split("## 1.")[0]
    numbers = [int(m) for m in re.findall(r"^\| (\d+) \|", index, re.M)]
    assert numbers == list(range(1, 50))
    docs = pathlib.Path(__file__).resolve().parent.parent / "docs"
    text = "\n".join(p.read_text() for p in docs.rglob("*.md"))
    for path in (
        "/contacts/{contactId}/fire",
        "/contacts/{contactId}/checkout",
        "/contacts/{contactId}/unite/{targetContactId}",
        "/channels/{channelId}/gates",
        "/operators/{id}/involve",
        "/me",
    ):
        assert path in text or path.replace("{contactId}", "{id}") in text, path


async def test_string_path_keys_are_one_segment(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    """A funnel key or order id with '/', '?' or '#' must stay one path segment."""
    mock.route().mock(return_value=httpx.Response(200, json=ACK))
    await client.contacts.subscribe(5, "../../me")
    await client.contacts.unsubscribe(5, "a?b=1")
    mock.route().mock(return_value=httpx.Response(200, json=INVOICE))
    await client.contacts.invoice(5, "a/../b#c")
    raw = [c.request.url.raw_path for c in mock.calls]
    assert raw == [
        b"/v1/contacts/5/funnels/..%2F..%2Fme",
        b"/v1/contacts/5/funnels/a%3Fb%3D1",
        b"/v1/contacts/5/invoices/a%2F..%2Fb%23c",
    ]


INFERRED_ACKS: list[tuple[str, Call]] = [
    ("tags.update", lambda c: c.tags.update(1, name="a")),
    ("tags.delete", lambda c: c.tags.delete(1)),
    ("add_group", lambda c: c.contacts.add_group(5, 1)),
    ("remove_group", lambda c: c.contacts.remove_group(5, 1)),
    ("operators.involve", lambda c: c.operators.involve(1, False)),
    ("merge", lambda c: c.contacts.merge(5, 6)),
]


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(204),
        httpx.Response(200, content=b""),
        httpx.Response(200, json={}),
        httpx.Response(200, json={"id": 1, "name": "a"}),
        httpx.Response(200, json=[]),
    ],
    ids=["204", "empty", "{}", "object", "[]"],
)
@pytest.mark.parametrize(("name", "call"), INFERRED_ACKS, ids=[a[0] for a in INFERRED_ACKS])
async def test_inferred_ack_is_tolerant(
    mock: respx.MockRouter, client: SmartSender, name: str, call: Call, answer: httpx.Response
) -> None:
    """The reference lost these answers' blocks ({"state": true} is [INF]/[3P]): a 2xx
    answer without a state must not raise after a write that went through."""
    mock.route().mock(return_value=answer)
    assert await call(client) is None


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={}),
        httpx.Response(204),
        httpx.Response(200, json={"state": "true"}),
    ],
    ids=["{}", "204", "state-str"],
)
async def test_documented_ack_stays_strict(
    mock: respx.MockRouter, client: SmartSender, answer: httpx.Response
) -> None:
    """Documented acks ({"state": true} is DOC/CODE) keep refusing other answers."""
    from smartsender_async import ResponseDecodeError

    mock.route().mock(return_value=answer)
    with pytest.raises(ResponseDecodeError):
        await client.contacts.fire(5, "x")
    mock.route().mock(return_value=httpx.Response(200, json={"state": "true"}))
    with pytest.raises(ResponseDecodeError):
        await client.tags.delete(1)  # a state that is there but not true is never success


async def test_pay_invoice_refuses_iso_text(mock: respx.MockRouter, client: SmartSender) -> None:
    """The API's form is Y-m-d H:i:s; ISO text is refused before I/O (a datetime converts)."""
    route = mock.put("/contacts/5/invoices").mock(return_value=httpx.Response(200, json=INVOICE))
    for text in ("2026-03-18T12:00:00", "2026-03-18T14:00:00+02:00", "2026-03-18 12:00"):
        with pytest.raises((TypeError, ValueError)):
            await client.contacts.pay_invoice(
                5,
                order_id="a",
                essence_id=1,
                payment_system_id=2,
                amount=1,
                currency="uah",
                date=text,
            )
    assert not route.called


async def test_group_service_id_round_trip(emu_client: tuple[Emulator, SmartSender]) -> None:
    """The group paths take a serviceId; a listed group must say which one to pass."""
    emu, c = emu_client
    cid = emu.contact_ids()[0]
    await c.contacts.add_group(cid, 77)
    group = next(g for g in (await c.contacts.groups(cid)).items if g.service_id == 77)
    assert group.service_id is not None
    await c.contacts.remove_group(cid, group.service_id)
    assert 77 not in [g.service_id for g in (await c.contacts.groups(cid)).items]


async def test_write_rejected_pickles_with_its_body(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    import pickle

    from smartsender_async import WriteRejectedError

    mock.route().mock(return_value=httpx.Response(200, json={"state": False, "reason": "locked"}))
    with pytest.raises(WriteRejectedError) as info:
        await client.contacts.fire(5, "x")
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is WriteRejectedError
    assert again.body == {"state": False, "reason": "locked"}
    assert TOKEN not in repr(again.__dict__)


async def test_cart_line_sent_back_as_a_variant(
    mock: respx.MockRouter, client: SmartSender
) -> None:
    """A ProductEssence read from the cart carries pivot (quantity) and product: not sent."""
    mock.get("/contacts/5/checkout").mock(return_value=httpx.Response(200, json=page(ESSENCE)))
    route = mock.post("/products").mock(return_value=httpx.Response(200, json=PRODUCT))
    line = (await client.contacts.cart(5)).items[0]
    await client.products.create("Pizza", essences=[line])
    (sent,) = json.loads(route.calls[0].request.content)["essences"]
    assert "pivot" not in sent and "product" not in sent
    assert sent["name"] == "Large" and sent["cash"] == {"amount": 199.5, "currency": "UAH"}


async def test_order_id_may_be_a_uuid(mock: respx.MockRouter, client: SmartSender) -> None:
    import uuid

    route = mock.get(f"/contacts/5/invoices/{UUID}").mock(
        return_value=httpx.Response(200, json=INVOICE)
    )
    await client.contacts.invoice(5, uuid.UUID(UUID))
    assert route.called


CREATES: list[tuple[str, Call]] = [
    ("tags.create", lambda c: c.tags.create("a")),
    ("create_gate", lambda c: c.channels.create_gate(1, identifier="1", first_name="A")),
    ("create_invoice", lambda c: c.contacts.create_invoice(5, essence_id=1, payment_system_id=2)),
    (
        "pay_invoice",
        lambda c: c.contacts.pay_invoice(
            5,
            order_id="a",
            essence_id=1,
            payment_system_id=2,
            amount=1,
            currency="uah",
            date="2026-03-18 12:00:00",
        ),
    ),
    ("products.create", lambda c: c.products.create("P", essences=[{"name": "x"}])),
    ("products.update", lambda c: c.products.update(1, name="x")),
    ("definitions.create", lambda c: c.definitions.create("a", 1)),
    ("variables.create", lambda c: c.variables.create("a", "string")),
]


@pytest.mark.parametrize(("name", "call"), CREATES, ids=[a[0] for a in CREATES])
async def test_create_answered_state_false_raises(
    mock: respx.MockRouter, client: SmartSender, name: str, call: Call
) -> None:
    """Every field of the created models is optional, so {"state": false} used to decode
    into an empty model: a failed write that looked like a success."""
    from smartsender_async import WriteRejectedError

    mock.route().mock(return_value=httpx.Response(200, json={"state": False, "message": "no"}))
    with pytest.raises(WriteRejectedError) as info:
        await call(client)
    assert info.value.body == {"state": False, "message": "no"}


def test_cli_tag_other_scripts_digits_are_not_an_id(served: Any) -> None:
    """int("١٢") is 12: Arabic-Indic digits must not attach tag 12."""
    emu, g = served
    cid = emu.contact_ids()[3]
    have = {t["id"] for t in emu.contact(cid)["tags"]}
    tag = next(t["id"] for t in emu.tags() if t["id"] not in have)
    arabic = "".join(chr(0x0660 + int(d)) for d in str(tag))
    code, _ = run_cli(*g, "contact", "tag", str(cid), arabic)
    assert code != 0
    assert tag not in [t["id"] for t in emu.contact(cid)["tags"]]
