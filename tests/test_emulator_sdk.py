"""Every operation of the surface reference through the SDK against the emulator: the
SDK's wire forms are what the emulator takes, and each write shows in the next read."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from smartsender_async.errors import NotFoundError, SmartSenderError
from smartsender_async.testing import Emulator, FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=9, chats=30, messages_per_chat=36, rate_limit=None, clock=FakeClock())


async def test_contacts_writes_show_in_reads(emulator: Emulator) -> None:
    cid = emulator.contact_ids()[2]
    async with emulator.client() as client:
        await client.contacts.update(cid, values={"city": "Lviv", "coupon": None}, first_name="Ola")
        info = await client.contacts.info(cid)
        assert (info["city"], info["coupon"], info["firstName"]) == ("Lviv", None, "Ola")
        await client.contacts.fire(cid, "OrderPaid")
        assert emulator.fired(cid) == ["OrderPaid"]

        tag = await client.tags.create("hot", color="#00ff00")
        assert tag.id is not None
        await client.contacts.add_tag(cid, tag.id)
        assert tag.id in [t.id for t in (await client.contacts.tags(cid)).items]
        assert tag.id in [t.id for t in (await client.contacts.get(cid)).tags]
        await client.contacts.remove_tag(cid, tag.id)
        assert tag.id not in [t.id for t in (await client.contacts.get(cid)).tags]
        await client.tags.update(tag.id, name="warm")
        assert [t.name for t in (await client.tags.list(term="warm")).items] == ["warm"]
        await client.tags.delete(tag.id)

        funnel = (await client.funnels.list(term="Onboarding")).items[0]
        assert funnel.service_key is not None
        await client.contacts.subscribe(cid, funnel.service_key)
        keys = [f.service_key for f in (await client.contacts.funnels(cid)).items]
        assert funnel.service_key in keys
        await client.contacts.unsubscribe(cid, funnel.service_key)
        assert funnel.service_key not in [
            f.service_key for f in (await client.contacts.get(cid)).funnels
        ]

        await client.contacts.add_group(cid, 2)
        assert 2 in [g.extra["serviceId"] for g in (await client.contacts.groups(cid)).items]
        await client.contacts.remove_group(cid, 2)

        other = emulator.contact_ids()[3]
        await client.contacts.merge(cid, other)
        assert emulator.merges() == [(cid, other)]
        gates = await client.contacts.gates(cid)
        assert len(gates.items) >= 1
        with pytest.raises(NotFoundError):
            await client.contacts.fire(12345, "x")


async def test_cart_invoices_and_products(emulator: Emulator) -> None:
    cid = emulator.contact_ids()[0]
    async with emulator.client() as client:
        product = await client.products.create(
            "Cap", essences=[{"name": "Red", "cash": {"amount": 99, "currency": "UAH"}}]
        )
        assert product.id is not None and product.essences
        essence = product.essences[0]
        assert essence.id is not None
        emulator.set_cart(cid, {essence.id: 3})
        cart = (await client.contacts.cart(cid)).items
        assert [line.id for line in cart] == [essence.id]
        cashier = (await client.cashiers.list()).items[0]
        assert cashier.id is not None
        assert (await client.cashiers.get(cashier.id)).id == cashier.id
        invoice = await client.contacts.create_invoice(
            cid, essence_id=essence.id, payment_system_id=cashier.id
        )
        assert invoice.order_id is not None
        assert (await client.contacts.invoice(cid, invoice.order_id)).order_id == invoice.order_id
        paid = await client.contacts.pay_invoice(
            cid,
            order_id=invoice.order_id,
            essence_id=essence.id,
            payment_system_id=cashier.id,
            amount=99,
            currency="UAH",
            date=datetime(2026, 3, 18, 12, 0, tzinfo=timezone.utc),
        )
        assert paid.logs and paid.logs[-1].state is True
        assert (await client.contacts.cart(cid)).items == ()
        assert [i.order_id for i in (await client.contacts.invoices(cid)).items] == [
            invoice.order_id
        ]
        await client.products.update(
            product.id, name="Hat", essences=[{"name": "Blue", "price": 10, "currency": "EUR"}]
        )
        assert "Hat" in [p.name for p in (await client.products.list()).items]
        await client.products.delete(product.id)


async def test_variables_definitions_channels_operators_me(emulator: Emulator) -> None:
    async with emulator.client() as client:
        variable = await client.variables.create("size", "enum", choices=["S", "M"])
        assert variable.id is not None
        await client.variables.update(variable.id, name="sz", description="Size")
        assert [v.name for v in (await client.variables.list(term="sz")).items] == ["sz"]
        await client.variables.delete(variable.id)

        definition = await client.definitions.create("greeting", "hi")
        assert definition.id is not None
        await client.definitions.update(definition.id, name="greeting", value=5)
        assert (await client.definitions.get(definition.id)).value == 5
        await client.definitions.delete(definition.id)
        with pytest.raises(NotFoundError):
            await client.definitions.get(definition.id)

        channels = (await client.channels.list()).items
        wa = next(c for c in channels if c.type == "whatsapp")
        assert wa.id is not None
        await client.channels.set_active(wa.id, False)
        assert (await client.channels.get(wa.id)).active is False
        first = await client.channels.create_gate(
            wa.id, identifier="380501112233", first_name="Ira"
        )
        again = await client.channels.create_gate(
            wa.id, identifier="380501112233", first_name="Ira"
        )
        assert first.id == again.id
        telegram = next(c for c in channels if c.type == "telegram")
        assert telegram.id is not None
        with pytest.raises(SmartSenderError):
            await client.channels.create_gate(telegram.id, identifier="1", first_name="X")

        operator = emulator.operator_ids()[0]
        await client.operators.involve(operator, False)
        assert emulator.operator_involved(operator) is False
        assert (await client.me()).name
