"""The resources end to end against the emulator, under asyncio and under trio: each write
shows in the reads that follow, unknown ids are typed 404s, streams see every item."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from smartsender_async import NotFoundError, SmartSender
from smartsender_async.testing import Emulator


async def scenario(emulator: Emulator, client: SmartSender) -> dict[str, Any]:
    contact = (await client.contacts.list(limitation=1)).items[0]
    cid = contact.id
    out: dict[str, Any] = {}

    await client.contacts.fire(cid, "paid")
    await client.contacts.fire(cid, "Paid")
    out["fired"] = emulator.fired(cid)

    out["cart"] = len(await client.contacts.cart(cid))

    await client.contacts.update(cid, values={"city": "Odesa", "orders": None})
    info = await client.contacts.info(cid)
    out["city"], out["orders"] = info["city"], info.get("orders")

    tag = next(t for t in await client.tags.list("wholesale") if t.name == "wholesale")
    await client.contacts.add_tag(cid, tag.id)
    out["tags"] = [t.name for t in await client.contacts.tags(cid)]
    out["get_tags"] = [t.name for t in (await client.contacts.get(cid)).tags]
    await client.contacts.remove_tag(cid, tag.id)
    out["tags_after"] = [t.name async for t in client.contacts.stream_tags(cid)]

    funnel = (await client.funnels.list()).items[0]
    await client.contacts.subscribe(cid, funnel.service_key)  # type: ignore[arg-type]
    out["funnels"] = [f.service_key for f in await client.contacts.funnels(cid)]

    await client.operators.involve((await client.operators.list()).items[0].id, False)

    out["contacts"] = len([c async for c in client.contacts.stream(concurrency=3)])
    out["me"] = (await client.me()).name

    for call in (
        lambda: client.contacts.fire(10**9, "x"),
        lambda: client.contacts.cart(10**9),
        lambda: client.tags.delete(10**9),
        lambda: client.channels.get(10**9),
    ):
        try:
            await call()
        except NotFoundError:
            out.setdefault("not_found", 0)
            out["not_found"] += 1
    return out


def check(out: dict[str, Any], emulator: Emulator) -> None:
    assert out["fired"] == ["paid", "Paid"]
    assert out["cart"] == 0
    assert out["city"] == "Odesa" and out["orders"] in (None, "")
    assert "wholesale" in out["tags"] and "wholesale" in out["get_tags"]
    assert "wholesale" not in out["tags_after"]
    assert out["funnels"]
    assert out["contacts"] == len(emulator.project.contact_ids())
    assert out["me"]
    assert out["not_found"] == 4


async def test_under_asyncio() -> None:
    emulator = Emulator(rate_limit=None)
    async with emulator.client() as client:
        out = await scenario(emulator, client)
    check(out, emulator)


def test_under_trio() -> None:
    pytest.importorskip("trio")
    emulator = Emulator(rate_limit=None)

    async def main() -> dict[str, Any]:
        async with emulator.client() as client:
            return await scenario(emulator, client)

    check(anyio.run(main, backend="trio"), emulator)
