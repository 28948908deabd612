"""Decoding the models of the whole surface: both ProductEssence forms, both Invoice
essence forms, unknown fields kept, ``[]`` where an object belongs, hostile values."""

from __future__ import annotations

import pickle
from datetime import datetime, timezone
from typing import Any

import pytest

from smartsender_async import models as m
from smartsender_async._convert import DecodeError, converter, structure

UTC = timezone.utc

NESTED = {
    "id": 31,
    "name": "M",
    "product": {"id": 12, "name": "Tee"},
    "cash": {"amount": 150.5, "currency": "UAH"},
    "pivot": {"quantity": 2},
}
FLAT = {"id": 32, "name": "L", "price": 99, "amount": 99, "currency": "USD"}


def test_product_essence_nested_cash_form() -> None:
    e = structure(NESTED, m.ProductEssence)
    assert e.cash == m.Cash(amount=150.5, currency="UAH")
    assert e.product == m.ProductRef(id=12, name="Tee")
    assert e.quantity == 2
    assert e.cost == e.cash
    assert e.price is None and e.currency is None


def test_product_essence_top_level_form() -> None:
    e = structure(FLAT, m.ProductEssence)
    assert e.cash is None
    assert (e.price, e.amount, e.currency) == (99.0, 99.0, "USD")
    assert e.cost == m.Cash(amount=99.0, currency="USD")
    assert e.quantity is None


def test_product_essence_both_forms_at_once_prefers_cash() -> None:
    e = structure({**NESTED, "price": 1, "currency": "EUR"}, m.ProductEssence)
    assert e.cost == m.Cash(amount=150.5, currency="UAH")
    assert e.price == 1.0 and e.currency == "EUR"


@pytest.mark.parametrize(
    ("wire", "amount"),
    [({"amount": "12.5", "currency": "UAH"}, 12.5), ({"currency": "UAH"}, None)],
)
def test_product_essence_cost_from_partial_top_level(wire: dict[str, Any], amount: Any) -> None:
    e = structure(wire, m.ProductEssence)
    assert e.cost == m.Cash(amount=amount, currency="UAH")
    assert structure({}, m.ProductEssence).cost is None


@pytest.mark.parametrize(
    ("pivot", "quantity"),
    [
        ({"quantity": "3"}, 3),
        ({"quantity": 2.0}, 2),
        ({"quantity": True}, None),
        ([], None),
        (None, None),
    ],
)
def test_cart_quantity_tolerates_forms(pivot: Any, quantity: int | None) -> None:
    assert structure({"pivot": pivot}, m.ProductEssence).quantity == quantity


@pytest.mark.parametrize(
    ("essence", "ids"),
    [
        ({"id": 3, "name": "M"}, [3]),
        ([{"id": 3}, {"id": 4}], [3, 4]),
        ([], []),
        ({}, []),
        (None, []),
    ],
    ids=["object", "list", "empty list", "empty object", "null"],
)
def test_invoice_essence_object_or_list(essence: Any, ids: list[int]) -> None:
    wire = {"id": 1, "orderId": "0b0e", "essence": essence}
    invoice = structure(wire, m.Invoice)
    assert [e.id for e in invoice.essence] == ids
    assert all(isinstance(e, m.ProductEssence) for e in invoice.essence)


def test_invoice_essence_absent() -> None:
    assert structure({"orderId": "x"}, m.Invoice).essence == ()


@pytest.mark.parametrize("essence", ["x", 5, [1], ["x"], True])
def test_invoice_bad_essence_is_a_decode_error_naming_the_field(essence: Any) -> None:
    with pytest.raises(DecodeError) as info:
        structure({"orderId": "x", "essence": essence}, m.Invoice)
    assert info.value.path.startswith("essence")


INVOICE = {
    "id": 7,
    "orderId": "6f1c0f0e-8d4e-4b1e-9b8e-1f2d3c4b5a69",
    "checkoutUrl": "https://direct.smartsender.com/invoices/6f1c0f0e",
    "createdAt": "2026-03-18T16:40:12.000000Z",
    "logs": [
        {"state": False, "createdAt": "2026-03-18 16:41:00"},
        {"state": True, "createdAt": "2026-03-18T16:45:00Z", "gateway": "liqpay"},
    ],
    "essence": NESTED,
    "paymentSystem": {"id": 4, "name": "LiqPay", "kind": "card"},
    "unknownThing": {"a": 1},
}


def test_invoice_full() -> None:
    invoice = structure(INVOICE, m.Invoice)
    assert invoice.order_id == INVOICE["orderId"]
    assert invoice.checkout_url.endswith("6f1c0f0e")  # type: ignore[union-attr]
    assert invoice.created_at == datetime(2026, 3, 18, 16, 40, 12, tzinfo=UTC)
    assert invoice.paid is True
    assert invoice.logs[0].created_at == datetime(2026, 3, 18, 16, 41, tzinfo=UTC)
    assert invoice.logs[1].extra == {"gateway": "liqpay"}
    assert invoice.payment_system == m.Cashier(id=4, name="LiqPay", extra={"kind": "card"})
    assert invoice.payment_system.extra == {"kind": "card"}  # type: ignore[union-attr]
    assert invoice.extra == {"unknownThing": {"a": 1}}
    assert invoice.essence[0].cash.amount == 150.5  # type: ignore[union-attr]


def test_invoice_unpaid_and_empty_objects_as_lists() -> None:
    invoice = structure(
        {"orderId": "x", "logs": [{"state": False}], "paymentSystem": []}, m.Invoice
    )
    assert invoice.paid is False
    assert invoice.payment_system is None


def test_empty_list_where_objects_belong() -> None:
    e = structure({"cash": [], "product": [], "pivot": []}, m.ProductEssence)
    assert e.cash is None and e.product is None and not e.pivot
    p = structure({"id": 1, "category": [], "essences": [], "labels": []}, m.Product)
    assert not p.category and p.essences == () and p.labels == ()


PRODUCT = {
    "id": 12,
    "name": "Tee",
    "labels": [{"id": 1, "name": "new"}],
    "category": {"id": 9, "name": "Clothes"},
    "essences": [NESTED, FLAT],
    "paymentSystems": [{"id": 4, "name": "LiqPay"}],
    "createdAt": "2019-08-05 13:49:46",
    "sku": "T-1",
}


def test_product() -> None:
    p = structure(PRODUCT, m.Product)
    assert [e.id for e in p.essences] == [31, 32]
    assert p.essences[1].cost == m.Cash(99.0, "USD")
    assert p.labels == ({"id": 1, "name": "new"},)
    assert p.category == {"id": 9, "name": "Clothes"}
    assert p.payment_systems == (m.Cashier(id=4, name="LiqPay"),)
    assert p.created_at == datetime(2019, 8, 5, 13, 49, 46, tzinfo=UTC)
    assert p.extra == {"sku": "T-1"}


def test_product_page_and_round_trip() -> None:
    wire = {"cursor": {"page": 1, "pages": 1}, "collection": [PRODUCT]}
    page = structure(wire, m.Page[m.Product])
    again = converter.unstructure(page.items[0])
    assert again["sku"] == "T-1" and again["essences"][0]["cash"] == NESTED["cash"]
    assert structure(again, m.Product) == page.items[0]


@pytest.mark.parametrize(
    ("cls", "wire", "checks"),
    [
        (
            m.Tag,
            {"id": "55", "name": "VIP", "color": "FF0000", "createdAt": "2025-01-02T03:04:05Z"},
            {"id": 55, "color": "FF0000", "created_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)},
        ),
        (
            m.Funnel,
            {"name": "Onboarding", "serviceKey": 123, "id": 9},
            {"service_key": "123", "id": 9},
        ),
        (
            m.Variable,
            {"id": 8, "name": "city", "type": "string", "description": "Town"},
            {"type": "string", "description": "Town", "value": None},
        ),
        (m.Definition, {"id": 3, "name": "promo", "value": 10}, {"value": 10}),
        (m.Definition, {"id": 3, "name": "promo", "value": "X"}, {"value": "X"}),
        (m.Group, {"id": 2, "name": "Buyers"}, {"name": "Buyers"}),
        (m.Cashier, {"id": 4, "name": "LiqPay"}, {"name": "LiqPay"}),
        (m.Project, {"name": "Shop", "photo": "p.png"}, {"name": "Shop", "id": None}),
        (m.InvoiceLog, {"state": 1}, {"state": True}),
    ],
)
def test_models_decode_and_keep_unknown_fields(
    cls: type, wire: dict[str, Any], checks: dict[str, Any]
) -> None:
    obj = structure({**wire, "brandNew": [1, {"x": 2}]}, cls)
    for name, value in checks.items():
        assert getattr(obj, name) == value
    assert obj.extra == {"brandNew": [1, {"x": 2}]}
    assert pickle.loads(pickle.dumps(obj)) == obj
    assert converter.unstructure(obj)["brandNew"] == [1, {"x": 2}]


CHANNEL = {
    "id": 2,
    "name": "Shop",
    "type": "whatsapp",
    "app": "wa",
    "link": "https://wa.me/1",
    "active": True,
    "occupied": False,
    "referrer": "5",
    "createdAt": "2024-01-01T00:00:00Z",
    "updatedAt": None,
}


@pytest.mark.parametrize("cls", [m.Channel, m.ChannelDetails])
def test_channel_fields(cls: type) -> None:
    channel = structure(CHANNEL, cls)
    assert isinstance(channel, m.Channel)
    assert (channel.id, channel.type, channel.name) == (2, "whatsapp", "Shop")
    assert (channel.app, channel.link) == ("wa", "https://wa.me/1")
    assert channel.active is True and channel.occupied is False and channel.referrer == 5
    assert channel.created_at == datetime(2024, 1, 1, tzinfo=UTC) and channel.updated_at is None
    assert converter.unstructure(channel) == CHANNEL
    assert pickle.loads(pickle.dumps(channel)) == channel


def test_catalog_only_channel_fields_are_read_leniently() -> None:
    """Only a third-party catalog lists them: a surprise reads as None, the page still decodes."""
    odd = {"id": "two", "active": "maybe", "referrer": {"x": 1}, "createdAt": "soon", "type": "x"}
    page = structure(
        {"cursor": {"page": 1, "pages": 1}, "collection": [odd]}, m.Page[m.ChannelDetails]
    )
    channel = page.items[0]
    assert (channel.id, channel.active, channel.referrer, channel.created_at) == (None,) * 4
    assert channel.extra["referrer"] == {"x": 1} and channel.type == "x"


def test_contact_tags_and_funnels_keep_their_fields() -> None:
    contact = structure(
        {
            "id": 5,
            "tags": [{"id": 1, "name": "VIP", "createdAt": "2025-01-01T00:00:00Z"}],
            "funnels": [{"name": "F", "serviceKey": "k"}],
            "variables": [{"name": "city", "value": "Lviv"}],
        },
        m.Contact,
    )
    assert contact.tags[0].created_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert contact.funnels[0].service_key == "k"
    assert contact.variables[0] == m.Variable("city", "Lviv")


@pytest.mark.parametrize(
    ("cls", "wire"),
    [
        (m.Tag, {"id": "abc"}),
        (m.Product, {"essences": {"id": 1}}),
        (m.Product, {"paymentSystems": [5]}),
        (m.Invoice, {"logs": "paid"}),
        (m.Tag, []),
    ],
)
def test_hostile_payloads_are_decode_errors(cls: type, wire: Any) -> None:
    with pytest.raises(DecodeError):
        structure(wire, cls)


# --------------------------------------------------------------------------- transient


def transient(timestamp: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "content": {
            "type": "transient",
            "resource": {
                "parameters": {
                    "original": {"type": "text", "resource": {"parameters": {"content": "x"}}},
                    "context": {"timestamp": timestamp},
                }
            },
        },
    }


AT = datetime(2026, 3, 18, 16, 40, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1773852012, AT),  # seconds (the emulator's form)
        (1773852012000, AT),  # milliseconds (what a real client reads)
        (1773852012.5, AT.replace(microsecond=500000)),
        (1773852012123, AT.replace(microsecond=123000)),
        ("1773852012", AT),
        ("1773852012000", AT),
        ("2026-03-18T16:40:12.000000Z", AT),
        ("2026-03-18 16:40:12", AT),
        ("2026-03-18T18:40:12+02:00", AT),
        (None, None),
        ("yesterday", None),
        (True, None),
        ({"s": 1}, None),
        (10**30, None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_transient_timestamp_is_decoded_tolerantly(timestamp: Any, expected: Any) -> None:
    message = structure(transient(timestamp), m.Message)
    assert isinstance(message.content, m.TransientContent)
    assert message.content.timestamp == expected
    assert message.content.original == m.TextContent(content="x")
    # What the server sent is kept and re-encoded as sent.
    assert converter.unstructure(message)["content"] == transient(timestamp)["content"]


def test_transient_built_in_code_encodes_its_timestamp() -> None:
    content = m.TransientContent(timestamp=1773852012)
    assert content.timestamp == AT
    wire = converter.unstructure(m.Message(id=1, content=content))["content"]
    assert wire["resource"]["parameters"]["context"]["timestamp"] == "2026-03-18T16:40:12.000000Z"
    assert m.deletion_time(AT.replace(tzinfo=None)) == AT


def test_models_are_hashable_and_frozen() -> None:
    import attrs

    decoded = [
        structure(PRODUCT, m.Product),
        structure(INVOICE, m.Invoice),
        structure({"id": 1, "value": [1, 2]}, m.Definition),
        structure({"name": "x", "value": {"a": 1}}, m.Variable),
    ]
    assert len(set(decoded)) == 4
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        decoded[0].name = "other"  # type: ignore[misc]
