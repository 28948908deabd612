"""The emulator's routes beyond chats (surface reference §0-§2), over plain HTTP: each write
shows in the reads that follow, unknown ids are 404, bad bodies are 422."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from smartsender_async.testing import Emulator, FakeClock


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(seed=3, chats=12, messages_per_chat=40, rate_limit=None, clock=FakeClock())


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with emulator.http_client() as client:
        yield client


async def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def problems(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.text
    description: dict[str, list[str]] = response.json()["error"]["description"]
    return description


ACK = {"state": True}


@pytest.fixture
def cid(emulator: Emulator) -> int:
    return emulator.contact_ids()[0]


# ---------------------------------------------------------------------- contacts


async def test_update_values_and_fields_show_in_info_and_get(
    http: httpx.AsyncClient, emulator: Emulator, cid: int
) -> None:
    body = {"values": {"city": "Lviv", "myVar": 7}, "firstName": "Ola", "email": "o@x.io"}
    assert await ok(await http.put(f"/contacts/{cid}", json=body)) == ACK
    info = await ok(await http.get(f"/contacts/{cid}/info"))
    assert (info["city"], info["myVar"], info["firstName"], info["email"]) == (
        "Lviv",
        7,
        "Ola",
        "o@x.io",
    )
    assert info["fullName"].startswith("Ola ")
    contact = await ok(await http.get(f"/contacts/{cid}"))
    assert {"name": "city", "value": "Lviv"} in contact["variables"]
    assert emulator.contact_info(cid)["myVar"] == 7
    # An empty value clears the variable.
    await ok(await http.put(f"/contacts/{cid}", json={"values": {"city": ""}}))
    assert (await ok(await http.get(f"/contacts/{cid}/info")))["city"] is None
    # The new e-mail is searchable.
    found = await ok(await http.get("/contacts/search", params={"term": "o@x.io"}))
    assert [c["id"] for c in found["collection"]] == [cid]


async def test_update_validation(http: httpx.AsyncClient, cid: int) -> None:
    assert await problems(await http.put(f"/contacts/{cid}", json={"values": "x"})) == {
        "values": ["The values field must be an array."]
    }
    assert await problems(await http.put(f"/contacts/{cid}", json={"email": "nope"})) == {
        "email": ["The email field format is invalid."]
    }
    assert (await http.put("/contacts/5", json={"values": {}})).status_code == 404


async def test_fire_in_the_body_or_the_query_is_recorded(
    http: httpx.AsyncClient, emulator: Emulator, cid: int
) -> None:
    assert await ok(await http.post(f"/contacts/{cid}/fire", json={"name": "Paid"})) == ACK
    # The legacy form: ?name= with a PHP "[]" body.
    response = await http.post(
        f"/contacts/{cid}/fire?name=later",
        content=b"[]",
        headers={"content-type": "application/json"},
    )
    assert await ok(response) == ACK
    assert emulator.fired(cid) == ["Paid", "later"]
    assert await problems(await http.post(f"/contacts/{cid}/fire", json={})) == {
        "name": ["The name field is required."]
    }
    assert emulator.fired(cid) == ["Paid", "later"]
    assert (await http.post("/contacts/1/fire", json={"name": "x"})).status_code == 404
    with pytest.raises(KeyError):
        emulator.fired(1)


async def test_tags_attach_detach_show_in_both_reads(
    http: httpx.AsyncClient, emulator: Emulator, cid: int
) -> None:
    tag = await ok(await http.post("/tags", json={"name": "hot lead", "color": "ff0000"}))
    assert (tag["name"], tag["color"]) == ("hot lead", "FF0000")
    empty = await http.post(
        f"/contacts/{cid}/tags/{tag['id']}",
        content=b"[]",
        headers={"content-type": "application/json"},
    )
    assert await ok(empty) == ACK
    listed = await ok(await http.get(f"/contacts/{cid}/tags"))
    assert {"id": tag["id"], "name": "hot lead"} in listed["collection"]
    assert {"id": tag["id"], "name": "hot lead"} in emulator.contact(cid)["tags"]
    # A rename shows on the contact; attaching twice is acknowledged and lists it once.
    assert await ok(await http.put(f"/tags/{tag['id']}", json={"name": "warm"})) == ACK
    await ok(await http.post(f"/contacts/{cid}/tags/{tag['id']}"))
    names = [t["name"] for t in (await ok(await http.get(f"/contacts/{cid}")))["tags"]]
    assert names.count("warm") == 1
    assert await ok(await http.delete(f"/contacts/{cid}/tags/{tag['id']}")) == ACK
    assert tag["id"] not in [t["id"] for t in emulator.contact(cid)["tags"]]
    assert (await http.post(f"/contacts/{cid}/tags/999")).status_code == 404


async def test_tag_catalogue(http: httpx.AsyncClient, emulator: Emulator, cid: int) -> None:
    found = await ok(await http.get("/tags", params={"term": "VI"}))
    assert [t["name"] for t in found["collection"]] == ["vip"]
    assert set(found["collection"][0]) >= {"id", "name", "color", "createdAt"}
    assert await problems(await http.post("/tags", json={"name": "vip"})) == {
        "name": ["The name has already been taken."]
    }
    assert await problems(await http.post("/tags", json={"name": "x", "color": "#FF0000"})) == {
        "color": ["The color field format is invalid."]
    }
    assert await problems(await http.post("/tags", json={})) == {
        "name": ["The name field is required."]
    }
    made = await ok(await http.post("/tags", json={"name": "gone"}))
    await ok(await http.post(f"/contacts/{cid}/tags/{made['id']}"))
    assert await ok(await http.delete(f"/tags/{made['id']}")) == ACK
    assert "gone" not in [t["name"] for t in emulator.contact(cid)["tags"]]
    assert (await http.delete(f"/tags/{made['id']}")).status_code == 404
    assert (await http.put("/tags/abc", json={"name": "y"})).status_code == 404


async def test_funnels_subscribe_and_unsubscribe(
    http: httpx.AsyncClient, emulator: Emulator, cid: int
) -> None:
    funnels = (await ok(await http.get("/funnels", params={"term": "cart"})))["collection"]
    assert [f["serviceKey"] for f in funnels] == ["cart_recovery"]
    key = funnels[0]["serviceKey"]
    await ok(await http.delete(f"/contacts/{cid}/funnels/{key}"))
    assert key not in [f["serviceKey"] for f in emulator.contact(cid)["funnels"]]
    assert await ok(await http.post(f"/contacts/{cid}/funnels/{key}", json=[])) == ACK
    listed = (await ok(await http.get(f"/contacts/{cid}/funnels")))["collection"]
    assert key in [f["serviceKey"] for f in listed]
    assert {"name": "Abandoned cart", "serviceKey": key} in emulator.contact(cid)["funnels"]
    assert (await http.post(f"/contacts/{cid}/funnels/nope")).status_code == 404


async def test_groups(http: httpx.AsyncClient, cid: int) -> None:
    assert await ok(await http.post(f"/contacts/{cid}/groups/77")) == ACK
    groups = (await ok(await http.get(f"/contacts/{cid}/groups")))["collection"]
    assert 77 in [g["serviceId"] for g in groups]
    assert await ok(await http.delete(f"/contacts/{cid}/groups/77")) == ACK
    groups = (await ok(await http.get(f"/contacts/{cid}/groups")))["collection"]
    assert 77 not in [g["serviceId"] for g in groups]


async def test_merge(http: httpx.AsyncClient, emulator: Emulator) -> None:
    first, second = emulator.contact_ids()[:2]
    tag = await ok(await http.post("/tags", json={"name": "merged-in"}))
    await ok(await http.post(f"/contacts/{second}/tags/{tag['id']}"))
    assert await ok(await http.post(f"/contacts/{first}/unite/{second}")) == ACK
    assert tag["id"] in [t["id"] for t in emulator.contact(first)["tags"]]
    assert emulator.merges() == [(first, second)]
    assert (await http.post(f"/contacts/{first}/unite/1")).status_code == 404
    assert (await http.post(f"/contacts/{first}/unite/{first}")).status_code == 422


# ---------------------------------------------------------------------- cart and invoices


async def test_cart_invoice_and_payment(
    http: httpx.AsyncClient, emulator: Emulator, cid: int
) -> None:
    product = (await ok(await http.get("/products")))["collection"][0]
    essence = product["essences"][0]
    emulator.set_cart(cid, {essence["id"]: 2})
    cart = (await ok(await http.get(f"/contacts/{cid}/checkout")))["collection"]
    assert [(line["id"], line["pivot"]["quantity"]) for line in cart] == [(essence["id"], 2)]
    assert set(cart[0]["cash"]) == {"amount", "currency"}
    assert cart[0]["product"] == {"id": product["id"], "name": product["name"]}
    cashier = (await ok(await http.get("/cashiers")))["collection"][0]
    invoice = await ok(
        await http.post(
            f"/contacts/{cid}/invoices",
            json={"essenceId": essence["id"], "paymentSystemId": cashier["id"]},
        )
    )
    order = invoice["orderId"]
    assert invoice["checkoutUrl"] == f"https://direct.smartsender.com/invoices/{order}"
    assert invoice["logs"] == [] and invoice["essence"]["id"] == essence["id"]
    assert await ok(await http.get(f"/contacts/{cid}/invoices/{order}")) == invoice
    listed = (await ok(await http.get(f"/contacts/{cid}/invoices")))["collection"]
    assert [i["orderId"] for i in listed] == [order]
    pay = {
        "orderId": order,
        "essenceId": essence["id"],
        "paymentSystemId": cashier["id"],
        "amount": 100,
        "currency": "uah",
        "date": "2026-03-18 12:00:00",
    }
    paid = await ok(await http.put(f"/contacts/{cid}/invoices", json=pay))
    assert paid["orderId"] == order and paid["logs"][-1]["state"] is True
    assert (await ok(await http.get(f"/contacts/{cid}/checkout")))["collection"] == []
    # Paying an unknown order creates it, paid.
    fresh = await ok(await http.put(f"/contacts/{cid}/invoices", json={**pay, "orderId": "o-2"}))
    assert fresh["orderId"] == "o-2" and len(fresh["logs"]) == 1
    assert len(emulator.invoices(cid)) == 2
    assert (await http.get(f"/contacts/{cid}/invoices/missing")).status_code == 404


async def test_invoice_validation(http: httpx.AsyncClient, cid: int) -> None:
    assert await problems(await http.post(f"/contacts/{cid}/invoices", json={})) == {
        "essenceId": ["The essenceId field is required."],
        "paymentSystemId": ["The paymentSystemId field is required."],
    }
    bad = await problems(
        await http.post(f"/contacts/{cid}/invoices", json={"essenceId": 1, "paymentSystemId": 99})
    )
    assert set(bad) == {"essenceId", "paymentSystemId"}
    pay = {
        "orderId": "o",
        "essenceId": 701,
        "paymentSystemId": 1,
        "amount": "ten",
        "currency": "UAH",
        "date": "18.03.2026",
    }
    assert set(await problems(await http.put(f"/contacts/{cid}/invoices", json=pay))) == {
        "amount",
        "currency",
        "date",
    }


# ---------------------------------------------------------------------- variables, definitions


async def test_variables(http: httpx.AsyncClient, emulator: Emulator, cid: int) -> None:
    assert await problems(await http.post("/variables", json={"name": "size", "type": "enum"})) == {
        "values": ["The values field is required."]
    }
    assert await problems(await http.post("/variables", json={"name": "x", "type": "blob"})) == {
        "type": ["The selected type is invalid."]
    }
    made = await ok(
        await http.post("/variables", json={"name": "size", "type": "enum", "values": "S,M,L"})
    )
    assert (made["name"], made["type"], made["values"]) == ("size", "enum", "S,M,L")
    found = (await ok(await http.get("/variables", params={"term": "siz"})))["collection"]
    assert [v["id"] for v in found] == [made["id"]]
    assert await ok(await http.put(f"/variables/{made['id']}", json={"name": "sz"})) == ACK
    city = next(
        v for v in (await ok(await http.get("/variables")))["collection"] if v["name"] == "city"
    )
    assert await ok(await http.delete(f"/variables/{city['id']}")) == ACK
    assert "city" not in emulator.contact_info(cid)
    assert (await http.delete(f"/variables/{city['id']}")).status_code == 404


async def test_definitions(http: httpx.AsyncClient) -> None:
    made = await ok(await http.post("/definitions", json={"name": "greeting", "value": "hi"}))
    one = f"/definitions/{made['id']}"
    assert await ok(await http.get(one)) == {"id": made["id"], "name": "greeting", "value": "hi"}
    assert await ok(await http.put(one, json={"name": "greeting", "value": 5})) == ACK
    assert (await ok(await http.get(one)))["value"] == 5
    assert await problems(await http.post("/definitions", json={"name": "greeting"})) == {
        "name": ["The name has already been taken."]
    }
    assert await ok(await http.delete(one)) == ACK
    assert (await http.get(one)).status_code == 404


# ---------------------------------------------------------------------- channels, products


async def test_channels_active_and_idempotent_gate(
    http: httpx.AsyncClient, emulator: Emulator
) -> None:
    channels = (await ok(await http.get("/channels")))["collection"]
    wa = next(c for c in channels if c["type"] == "whatsapp")
    tg = next(c for c in channels if c["type"] == "telegram")
    assert await ok(await http.put(f"/channels/{tg['id']}", json={"state": False})) == ACK
    assert (await ok(await http.get(f"/channels/{tg['id']}")))["active"] is False
    assert await problems(await http.put(f"/channels/{tg['id']}", json={})) == {
        "state": ["The state field is required."]
    }
    body = {"identifier": "380501112233", "firstName": "Ira", "parameters": {"city": "Kyiv"}}
    gate = await ok(await http.post(f"/channels/{wa['id']}/gates", json=body))
    again = await ok(
        await http.post(f"/channels/{wa['id']}/gates", json={**body, "firstName": "Other"})
    )
    assert again["id"] == gate["id"] and again["contact"]["id"] == gate["contact"]["id"]
    contact_id = gate["contact"]["id"]
    assert contact_id in emulator.contact_ids()
    assert emulator.contact_info(contact_id)["city"] == "Kyiv"
    gates = (await ok(await http.get(f"/contacts/{contact_id}/gates")))["collection"]
    assert [g["id"] for g in gates] == [gate["id"]]
    assert await problems(await http.post(f"/channels/{wa['id']}/gates", json={})) == {
        "identifier": ["The identifier field is required."],
        "firstName": ["The firstName field is required."],
    }
    assert set(await problems(await http.post(f"/channels/{tg['id']}/gates", json=body))) == {
        "channelId"
    }
    assert (await http.post("/channels/9/gates", json=body)).status_code == 404


async def test_products(http: httpx.AsyncClient) -> None:
    assert await problems(await http.post("/products", json={"name": "Cap"})) == {
        "essences": ["The essences field is required."]
    }
    body = {"name": "Cap", "essences": [{"name": "Red", "cash": {"amount": 99, "currency": "uah"}}]}
    made = await ok(await http.post("/products", json={**body, "paymentSystems": [1]}))
    assert made["essences"][0]["cash"] == {"amount": 99, "currency": "UAH"}
    assert made["essences"][0]["price"] == 99
    assert made["paymentSystems"][0]["id"] == 1
    changed = await ok(await http.put(f"/products/{made['id']}", json={"name": "Hat"}))
    assert changed["name"] == "Hat" and changed["essences"] == made["essences"]
    listed = (await ok(await http.get("/products")))["collection"]
    assert "Hat" in [p["name"] for p in listed]
    assert await ok(await http.delete(f"/products/{made['id']}")) == ACK
    assert (await http.put(f"/products/{made['id']}", json={"name": "x"})).status_code == 404


async def test_cashiers_and_me(http: httpx.AsyncClient) -> None:
    cashiers = (await ok(await http.get("/cashiers")))["collection"]
    assert await ok(await http.get(f"/cashiers/{cashiers[0]['id']}")) == cashiers[0]
    assert (await http.get("/cashiers/99")).status_code == 404
    assert {"name", "photo"} <= set(await ok(await http.get("/me")))


# ---------------------------------------------------------------------- fidelity fixes


ROUTES_WITH_BODIES = [
    ("POST", "/chats/{chat}/forward/101"),
    ("POST", "/contacts/{contact}/tags/11"),
    ("POST", "/contacts/{contact}/funnels/onboarding_v2"),
    ("DELETE", "/contacts/{contact}/tags/11"),
    ("PUT", "/contacts/{contact}"),
    ("PUT", "/chats/{chat}/read"),
    ("PUT", "/products/601"),
    ("PUT", "/tags/11"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES_WITH_BODIES)
async def test_an_empty_php_array_body_reads_as_no_parameters(
    http: httpx.AsyncClient, emulator: Emulator, method: str, path: str
) -> None:
    chat = emulator.chat_ids()[0]
    url = path.format(chat=chat, contact=emulator.contact_id_of(chat))
    response = await http.request(
        method, url, content=b"[]", headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text


async def test_a_non_empty_list_body_is_still_refused(http: httpx.AsyncClient, cid: int) -> None:
    response = await http.put(f"/contacts/{cid}", json=[1])
    assert response.status_code == 422


@pytest.mark.parametrize("status", [401, 403])
async def test_bad_token_status_option(status: int) -> None:
    emulator = Emulator(chats=2, bad_token_status=status)
    async with emulator.http_client(token="wrong") as http:
        response = await http.get("/me")
    assert (response.status_code, response.json()) == (
        status,
        {"error": {"code": status, "message": "Unauthenticated"}},
    )


async def test_message_limitation_100_is_an_option(emulator: Emulator) -> None:
    chat = emulator.chat_ids()[0]
    async with emulator.http_client() as http:
        assert (
            await http.get(f"/chats/{chat}/messages", params={"limitation": 100})
        ).status_code == 422
    wide = Emulator(chats=2, messages_per_chat=120, rate_limit=None, message_limitation_max=100)
    chat = wide.chat_ids()[0]
    async with wide.http_client() as http:
        body = await ok(await http.get(f"/chats/{chat}/messages", params={"limitation": 100}))
        assert len(body["collection"]) == 100
        contact = wide.contact_id_of(chat)
        assert (
            await http.get(f"/contacts/{contact}/messages", params={"limitation": 101})
        ).status_code == 422
        # Other lists keep the documented 20.
        assert (await http.get("/chats", params={"limitation": 21})).status_code == 422


@pytest.mark.parametrize(
    ("form", "expected"),
    [("seconds", int), ("milliseconds", int), ("iso", str)],
)
async def test_deleted_message_is_transient_with_a_timestamp_in_the_chosen_form(
    form: str, expected: type
) -> None:
    clock = FakeClock()
    emulator = Emulator(chats=3, rate_limit=None, clock=clock, transient_timestamp=form)
    chat = emulator.chat_ids()[0]
    mid = emulator.message_ids(chat)[0]
    original = emulator.message(mid)
    clock.advance(30)
    async with emulator.http_client() as http:
        gate = original["gate"]["id"]
        await ok(
            await http.request("DELETE", f"/gates/{gate}/messages", json={"messageIds": [mid]})
        )
        listed = await ok(await http.get(f"/chats/{chat}/messages", params={"activities": 1}))
        # Deleting it again changes nothing.
        await ok(
            await http.request("DELETE", f"/gates/{gate}/messages", json={"messageIds": [mid]})
        )
    first = listed["collection"][0]
    assert first["id"] == mid
    params = first["content"]["resource"]["parameters"]
    assert first["content"]["type"] == "transient"
    assert params["original"] == original["content"]
    stamp = params["context"]["timestamp"]
    assert isinstance(stamp, expected)
    epoch = int(emulator.store.epoch) + 30
    assert stamp == {"seconds": epoch, "milliseconds": epoch * 1000}.get(form, emulator.now())
    assert emulator.message(mid)["content"] == first["content"]


def test_options_are_checked() -> None:
    for kwargs in (
        {"bad_token_status": 404},
        {"message_limitation_max": 101},
        {"message_limitation_max": 10},
        {"transient_timestamp": "minutes"},
    ):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            Emulator(chats=1, **kwargs)


@pytest.mark.parametrize(("form", "expected"), [("seconds", int), ("iso", str)])
def test_generated_transient_messages_use_the_chosen_form(form: str, expected: type) -> None:
    emulator = Emulator(chats=1, messages_per_chat=40, transient_timestamp=form)
    chat = emulator.chat_ids()[0]
    transients = [
        m
        for m in map(emulator.message, emulator.message_ids(chat))
        if m["content"]["type"] == "transient"
    ]
    assert transients
    for message in transients:
        stamp = message["content"]["resource"]["parameters"]["context"]["timestamp"]
        assert isinstance(stamp, expected)
