"""The project-level state beyond chats: tags, funnels, variables, definitions, channels,
products, cashiers, and what each contact gained from writes (surface reference §2).

Generated contacts stay pure functions of ``(seed, index)`` in :class:`~._data.Store`;
a write to one records an *overlay* here (its fields, tags, funnels, groups, variable
values, cart, invoices, fired events), and :meth:`Project.render_contact` lays the overlay
over the generated body, so every read after a write shows it.  Contacts created by
``POST /channels/{channelId}/gates`` live here only: they have gates but no chat.

Project-level objects are kept in :class:`Catalog` tables (id → JSON object), rendered
by reference: a renamed tag is renamed on every contact carrying it, a deleted one
disappears from them.  Like the store, nothing here knows about HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs

from smartsender_async.testing._data import CONTACT_ID_BASE, Store, _h, iso

__all__ = ["Catalog", "Overlay", "Project"]

#: Ids of contacts created through gates start here (far above any generated contact).
CREATED_CONTACT_BASE = CONTACT_ID_BASE + 9_000_000
#: Ids of gates created through ``POST /channels/{id}/gates``.
CREATED_GATE_BASE = 50_000_000

_TAG_COLORS = ("E53935", "8E24AA", "43A047", "FB8C00")
_GROUPS = ((1, "Customers"), (2, "Partners"), (3, "Newsletter"))
_VARIABLES = (("city", "string", "City of delivery"), ("orders", "number", "Orders placed"))
_DEFINITIONS = (("support_phone", "+380441234567"), ("free_shipping_from", 1500))
#: (type, name, link) of the project's channels: the WhatsApp one (the only type that
#: takes gate creation) first, then the generated gates' four.
_CHANNELS = (
    ("whatsapp", "Shop Helper WA", "https://wa.me/380441234567"),
    ("telegram", "shop_helper_bot", "https://t.me/shop_helper_bot"),
    ("viber", "Shop Helper", "viber://pa?chatURI=shophelper"),
    ("instagram", "shop.helper", "https://instagram.com/shop.helper"),
    ("facebook", "Shop Helper Page", "https://m.me/shophelper"),
)
_CASHIERS = ((1, "LiqPay", "liqpay"), (2, "Monobank", "monobank"), (3, "Cash on delivery", "cash"))
#: (name, [(variant, amount, currency)]) of the generated products.
_PRODUCTS = (
    ("T-shirt", (("S", 450, "UAH"), ("M", 450, "UAH"), ("L", 490, "UAH"))),
    ("Mug", (("White", 250, "UAH"),)),
    ("Gift card", (("500 UAH", 500, "UAH"), ("50 EUR", 50, "EUR"))),
)


class Catalog:
    """An id-keyed table of JSON objects, ids ascending from ``first_id``."""

    def __init__(self, first_id: int) -> None:
        self.items: dict[int, dict[str, Any]] = {}
        self._next = first_id

    def add(self, item: dict[str, Any]) -> dict[str, Any]:
        """Give ``item`` the next id (first key) and store it."""
        item = {"id": self._next, **item}
        self.items[self._next] = item
        self._next += 1
        return item

    def get(self, item_id: int) -> dict[str, Any] | None:
        return self.items.get(item_id)

    def rows(self) -> list[dict[str, Any]]:
        return list(self.items.values())

    def taken(self, field: str, value: Any, *, besides: int | None = None) -> bool:
        """Whether another item already has ``field == value`` (the unique-name rule)."""
        return any(
            item.get(field) == value and item_id != besides for item_id, item in self.items.items()
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.items.values())


@attrs.define
class Overlay:
    """What writes changed on one contact; ``None`` means "as generated"."""

    fields: dict[str, Any] = attrs.field(factory=dict)
    tags: list[int] | None = None
    funnels: list[str] | None = None
    groups: list[int | str] | None = None
    #: variable name -> value, over the generated ``variables``; ``None`` is a cleared value.
    values: dict[str, Any] = attrs.field(factory=dict)
    #: ``[essence id, quantity]`` lines; ``None``: the generated cart.
    cart: list[tuple[int, int]] | None = None
    invoices: list[dict[str, Any]] = attrs.field(factory=list)
    fired: list[str] = attrs.field(factory=list)


class Project:
    """Everything of reference §2 that is not a chat or a message."""

    def __init__(self, store: Store, *, seed: int, epoch: int) -> None:
        self.store = store
        self.epoch = epoch
        self._sk = _h(seed, 0x9E07, 5)
        created = iso(epoch - 400 * 86400)
        self.tags = Catalog(11)
        for n, name in enumerate(("vip", "wholesale", "new", "returns")):
            self.tags.add({"name": name, "color": _TAG_COLORS[n], "createdAt": created})
        self.funnels = Catalog(21)
        for name, key in (("Onboarding", "onboarding_v2"), ("Abandoned cart", "cart_recovery")):
            self.funnels.add({"name": name, "serviceKey": key})
        self.groups: dict[int | str, dict[str, Any]] = {
            gid: {"id": gid, "serviceId": gid, "name": name} for gid, name in _GROUPS
        }
        self.variables = Catalog(31)
        for name, kind, description in _VARIABLES:
            self.variables.add(
                {
                    "name": name,
                    "type": kind,
                    "description": description,
                    "createdAt": created,
                    "updatedAt": created,
                }
            )
        self.definitions = Catalog(41)
        for name, value in _DEFINITIONS:
            self.definitions.add({"name": name, "value": value})
        self.channels = Catalog(201)
        for kind, name, link in _CHANNELS:
            self.channels.add(
                {
                    "name": name,
                    "type": kind,
                    "app": None,
                    "link": link,
                    "active": True,
                    "occupied": False,
                    "referrer": None,
                    "createdAt": created,
                    "updatedAt": created,
                }
            )
        self.cashiers = Catalog(1)
        for _, name, kind in _CASHIERS:
            self.cashiers.add({"name": name, "type": kind, "createdAt": created})
        self.products = Catalog(601)
        self._next_essence = 701
        for name, variants in _PRODUCTS:
            product = self.products.add(
                {
                    "name": name,
                    "labels": [],
                    "category": None,
                    "essences": [],
                    "paymentSystems": [self.cashier_summary(1), self.cashier_summary(2)],
                    "createdAt": created,
                }
            )
            product["essences"] = [
                self.new_essence(product, {"name": v, "cash": {"amount": a, "currency": c}})
                for v, a, c in variants
            ]
        self._overlays: dict[int, Overlay] = {}
        self._created: dict[int, dict[str, Any]] = {}  # contact id -> base body
        self._created_gates: dict[int, list[dict[str, Any]]] = {}  # contact id -> gates
        # (channel id, identifier) -> (contact id, gate)
        self._gates_by_identifier: dict[tuple[int, str], tuple[int, dict[str, Any]]] = {}
        self._next_gate = CREATED_GATE_BASE
        self._invoice_count = 0
        self.deleted_variables: set[str] = set()
        #: ``(contactId, targetContactId)`` of every merge, in order.
        self.merges: list[tuple[int, int]] = []

    # ------------------------------------------------------------------ products, cashiers

    def cashier_summary(self, cashier_id: int) -> dict[str, Any]:
        cashier = self.cashiers.items[cashier_id]
        return {"id": cashier["id"], "name": cashier["name"]}

    def new_essence(self, product: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        """A product variant with a fresh id, its price both as ``cash`` and, like older
        answers, as top-level ``price``/``amount``/``currency``."""
        cash = given.get("cash") or {}
        amount = cash.get("amount", given.get("price", given.get("amount", 0)))
        currency = str(cash.get("currency", given.get("currency", "UAH"))).upper()
        essence = {
            "id": self._next_essence,
            "name": given.get("name") or product["name"],
            "product": {"id": product["id"], "name": product["name"]},
            "cash": {"amount": amount, "currency": currency},
            "price": amount,
            "amount": amount,
            "currency": currency,
        }
        self._next_essence += 1
        return essence

    def essence(self, essence_id: int) -> dict[str, Any] | None:
        for product in self.products:
            essences: list[dict[str, Any]] = product["essences"]
            for essence in essences:
                if essence["id"] == essence_id:
                    return essence
        return None

    # ------------------------------------------------------------------ contacts

    def contact_ids(self) -> Sequence[int]:
        """Every contact id, generated ones first, then those created through gates (a
        ``range`` while there are none, so paging 100,000 contacts builds no list)."""
        generated = range(CONTACT_ID_BASE, CONTACT_ID_BASE + self.store.n)
        return [*generated, *self._created] if self._created else generated

    def has_contact(self, contact_id: int) -> bool:
        return self.store.contact_index(contact_id) is not None or contact_id in self._created

    def overlay(self, contact_id: int) -> Overlay:
        """The contact's overlay, created on first write."""
        found = self._overlays.get(contact_id)
        if found is None:
            found = self._overlays[contact_id] = Overlay()
        return found

    def _base(self, contact_id: int) -> dict[str, Any]:
        i = self.store.contact_index(contact_id)
        if i is not None:
            return self.store.render_contact(i)
        return {**self._created[contact_id], "variables": []}

    def render_contact(self, contact_id: int) -> dict[str, Any]:
        """``GET /contacts/{contactId}``: the generated body with every write laid over it."""
        contact = self._base(contact_id)
        overlay = self._overlays.get(contact_id)
        tag_ids = [t["id"] for t in contact["tags"]]
        keys = [f["serviceKey"] for f in contact["funnels"]]
        values: dict[str, Any] = {
            v["name"]: v["value"]
            for v in contact["variables"]
            if v["name"] not in self.deleted_variables
        }
        if overlay is not None:
            if overlay.fields:
                contact.update(overlay.fields)
                contact["fullName"] = " ".join(
                    p for p in (contact.get("firstName"), contact.get("lastName")) if p
                )
            tag_ids = overlay.tags if overlay.tags is not None else tag_ids
            keys = overlay.funnels if overlay.funnels is not None else keys
            values.update(overlay.values)
        tags = self.tags.items
        contact["tags"] = [{"id": t, "name": tags[t]["name"]} for t in tag_ids if t in tags]
        by_key = {f["serviceKey"]: f for f in self.funnels}
        contact["funnels"] = [
            {"name": by_key[k]["name"], "serviceKey": k} for k in keys if k in by_key
        ]
        contact["variables"] = [{"name": k, "value": v} for k, v in values.items()]
        return contact

    def render_info(self, contact_id: int) -> dict[str, Any]:
        """``GET /contacts/{contactId}/info``: variables as flat top-level keys."""
        contact = self.render_contact(contact_id)
        for var in contact.pop("variables"):
            contact[var["name"]] = var["value"]
        return contact

    def search(self, term: str) -> list[int]:
        """Contact ids whose name, e-mail or phone contains ``term`` (case-insensitive)."""
        changed = {
            cid for cid, overlay in self._overlays.items() if overlay.fields
        } | self._created.keys()
        found = {
            self.store.contact_id(i)
            for i in self.store.search_contacts(term)
            if self.store.contact_id(i) not in changed
        }
        needle = term.lower()
        for cid in changed:
            contact = self.render_contact(cid)
            hay = "\x00".join(str(contact.get(k) or "") for k in ("fullName", "email", "phone"))
            if needle in hay.lower():
                found.add(cid)
        return sorted(found)

    def contact_tag_ids(self, contact_id: int) -> list[int]:
        return [t["id"] for t in self.render_contact(contact_id)["tags"]]

    def contact_funnel_keys(self, contact_id: int) -> list[str]:
        return [f["serviceKey"] for f in self.render_contact(contact_id)["funnels"]]

    def contact_groups(self, contact_id: int) -> list[int | str]:
        overlay = self._overlays.get(contact_id)
        if overlay is not None and overlay.groups is not None:
            return overlay.groups
        i = self.store.contact_index(contact_id)
        if i is None:
            return []
        h = _h(self._sk, i, 16)
        return [gid for j, (gid, _) in enumerate(_GROUPS) if (h >> (2 * j)) & 3 == 0]

    def group(self, service_id: int | str) -> dict[str, Any]:
        """The group ``service_id``; an unknown one is made up (no API lists groups)."""
        found = self.groups.get(service_id)
        if found is None:
            found = self.groups[service_id] = {
                "id": service_id,
                "serviceId": service_id,
                "name": f"Group {service_id}",
            }
        return found

    def cart(self, contact_id: int) -> list[tuple[int, int]]:
        overlay = self._overlays.get(contact_id)
        if overlay is not None and overlay.cart is not None:
            return overlay.cart
        i = self.store.contact_index(contact_id)
        if i is None:
            return []
        h = _h(self._sk, i, 17)
        if h & 3:  # 1 in 4 contacts has something in the cart
            return []
        first = next(iter(self.products), None)
        if first is None or not first["essences"]:
            return []
        essence = first["essences"][(h >> 2) % len(first["essences"])]
        return [(essence["id"], 1 + (h >> 8) % 3)]

    def render_cart(self, contact_id: int) -> list[dict[str, Any]]:
        lines = []
        for essence_id, quantity in self.cart(contact_id):
            essence = self.essence(essence_id)
            if essence is not None:
                lines.append({**essence, "pivot": {"quantity": quantity}})
        return lines

    def fire(self, contact_id: int, name: str) -> None:
        self.overlay(contact_id).fired.append(name)

    def fired(self, contact_id: int) -> list[str]:
        overlay = self._overlays.get(contact_id)
        return list(overlay.fired) if overlay is not None else []

    def merge(self, contact_id: int, target_id: int) -> None:
        """Copy the target's tags, funnels, groups and unset variables onto the contact."""
        target = self.render_contact(target_id)
        survivor = self.render_contact(contact_id)
        overlay = self.overlay(contact_id)
        overlay.tags = _union(self.contact_tag_ids(contact_id), self.contact_tag_ids(target_id))
        overlay.funnels = _union(
            self.contact_funnel_keys(contact_id), self.contact_funnel_keys(target_id)
        )
        overlay.groups = _union(self.contact_groups(contact_id), self.contact_groups(target_id))
        have = {v["name"] for v in survivor["variables"] if v["value"] not in (None, "")}
        for var in target["variables"]:
            if var["name"] not in have:
                overlay.values[var["name"]] = var["value"]
        self.merges.append((contact_id, target_id))

    def delete_variable(self, name: str) -> None:
        self.deleted_variables.add(name)
        for overlay in self._overlays.values():
            overlay.values.pop(name, None)

    # ------------------------------------------------------------------ invoices

    def invoices(self, contact_id: int) -> list[dict[str, Any]]:
        overlay = self._overlays.get(contact_id)
        return overlay.invoices if overlay is not None else []

    def find_invoice(self, order_id: str) -> tuple[int, dict[str, Any]] | None:
        for contact_id, overlay in self._overlays.items():
            for invoice in overlay.invoices:
                if invoice["orderId"] == order_id:
                    return contact_id, invoice
        return None

    def new_invoice(
        self,
        contact_id: int,
        essence: dict[str, Any],
        cashier_id: int,
        now: int,
        order_id: str | None = None,
    ) -> dict[str, Any]:
        self._invoice_count += 1
        n = self._invoice_count
        if order_id is None:
            order_id = str(uuid.UUID(int=(_h(self._sk, n, 18) << 64) | n, version=4))
        invoice = {
            "id": 9000 + n,
            "orderId": order_id,
            "checkoutUrl": f"https://direct.smartsender.com/invoices/{order_id}",
            "createdAt": iso(now),
            "logs": [],
            "essence": essence,
            "paymentSystem": self.cashier_summary(cashier_id),
        }
        self.overlay(contact_id).invoices.append(invoice)
        return invoice

    def pay(
        self, contact_id: int, invoice: dict[str, Any], amount: Any, currency: str, now: int
    ) -> None:
        """Record a successful payment and empty the contact's cart."""
        invoice["logs"].append(
            {"state": True, "amount": amount, "currency": currency, "createdAt": iso(now)}
        )
        self.overlay(contact_id).cart = []

    # ------------------------------------------------------------------ gates

    def contact_gates(self, contact_id: int) -> list[dict[str, Any]]:
        i = self.store.contact_index(contact_id)
        gates = [self.store.render_gate(g) for g in self.store.gates(i)] if i is not None else []
        return gates + self._created_gates.get(contact_id, [])

    def create_gate(
        self, channel: dict[str, Any], identifier: str, person: dict[str, Any], now: int
    ) -> dict[str, Any]:
        """The gate of ``identifier`` on ``channel``: the existing one, or a new gate with a
        new contact (``person``: firstName, lastName, email, phone, parameters)."""
        key = (channel["id"], identifier)
        found = self._gates_by_identifier.get(key)
        if found is not None:
            contact_id, gate = found
        else:
            contact_id = CREATED_CONTACT_BASE + len(self._created)
            first, last = person.get("firstName") or "", person.get("lastName") or ""
            self._created[contact_id] = {
                "id": contact_id,
                "fullName": " ".join(p for p in (first, last) if p),
                "firstName": first,
                "lastName": last or None,
                "email": person.get("email"),
                "phone": person.get("phone"),
                "photo": None,
                "createdAt": iso(now),
                "tags": [],
                "funnels": [],
                "notes": [],
            }
            parameters = person.get("parameters") or {}
            if parameters:
                self.overlay(contact_id).values.update(parameters)
            gate = {
                "id": self._next_gate,
                "subscribed": True,
                "channel": {"type": channel["type"], "name": channel["name"]},
                "unreadMessages": 0,
                "identifier": identifier,
            }
            self._next_gate += 1
            self._gates_by_identifier[key] = (contact_id, gate)
            self._created_gates.setdefault(contact_id, []).append(gate)
        return {**gate, "contact": self.render_contact(contact_id)}


def _union(first: Iterable[Any], second: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys([*first, *second]))
