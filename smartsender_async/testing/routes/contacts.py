"""``/contacts`` and ``/contacts/{contactId}/…`` except chat, messages and send (reference
§1.4 and surface §2.1-§2.3)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from smartsender_async.testing._app import (
    Errors,
    Handler,
    Request,
    as_number,
    id_arg,
    invalid,
    not_found,
)
from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["routes"]

#: System fields ``PUT /contacts/{id}`` accepts besides ``values`` [INF from Contact].
SYSTEM_FIELDS = ("firstName", "lastName", "email", "phone")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+\d{7,15}$")
_DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
_CURRENCY = re.compile(r"^[a-z]{3}$")


def routes(ctx: Context) -> list[Route]:
    project = ctx.project

    def contact(req: Request) -> int:
        contact_id = id_arg(req.args[0])
        if not project.has_contact(contact_id):
            raise not_found()
        return contact_id

    def search(req: Request) -> list[dict[str, Any]]:
        errors = Errors()
        term = errors.string(req.query, "term", required=True)
        errors.raise_if_any()
        assert term is not None
        return [project.render_contact(cid) for cid in project.search(term)]

    def update(req: Request) -> None:
        contact_id = contact(req)
        body = req.body()
        errors = Errors()
        values = errors.mapping(body, "values")
        fields: dict[str, Any] = {}
        for name in SYSTEM_FIELDS:
            if name in body:
                pattern = EMAIL if name == "email" else PHONE if name == "phone" else None
                fields[name] = errors.text(body, name, max_length=255, pattern=pattern)
        errors.raise_if_any()
        overlay = project.overlay(contact_id)
        overlay.fields.update(fields)
        for name, value in (values or {}).items():
            # An empty value clears the variable (Laravel turns "" into null).
            overlay.values[str(name)] = None if value == "" else value

    def fire(req: Request) -> None:
        contact_id = contact(req)
        errors = Errors()
        name = errors.string(req.body(), "name", required=True)
        errors.raise_if_any()
        assert name is not None
        project.fire(contact_id, name)

    def merge(req: Request) -> None:
        contact_id = contact(req)
        target = id_arg(req.args[1])
        if not project.has_contact(target):
            raise not_found()
        if target == contact_id:
            raise invalid({"targetContactId": ["A contact cannot be merged with itself."]})
        project.merge(contact_id, target)

    def membership(
        path: str, key: Callable[[Request], Any], current: Callable[[int], list[Any]], field: str
    ) -> list[Route]:
        """``POST path`` adds ``key(req)`` to one of the contact's lists, ``DELETE path``
        drops it; adding one it has, or dropping one it lacks, changes nothing [UNK: the
        API may answer 422]."""

        def change(add: bool) -> Handler:
            def write(req: Request) -> None:
                contact_id = contact(req)
                item = key(req)
                have = current(contact_id)
                if add:
                    changed = have if item in have else [*have, item]
                else:
                    changed = [x for x in have if x != item]
                setattr(project.overlay(contact_id), field, changed)

            return shape.acknowledged(write)

        return [("POST", path, change(True)), ("DELETE", path, change(False))]

    def tag_id(req: Request) -> int:
        return int(shape.found(project.tags, req.args[1])["id"])

    def funnel_key(req: Request) -> str:
        key = req.args[1]
        if not any(str(f["serviceKey"]) == key for f in project.funnels):
            raise not_found()
        return key

    def group_key(req: Request) -> int | str:
        arg = req.args[1]
        service_id: int | str = int(arg) if arg.isdigit() else arg
        project.group(service_id)  # no API lists groups: any key names one
        return service_id

    def invoice(req: Request) -> dict[str, Any]:
        contact_id = contact(req)
        for item in project.invoices(contact_id):
            if item["orderId"] == req.args[1]:
                return item
        raise not_found()

    def purchase(errors: Errors, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        essence_id = errors.integer(body, "essenceId", required=True)
        cashier_id = errors.integer(body, "paymentSystemId", required=True)
        essence = project.essence(essence_id) if essence_id is not None else None
        if essence_id is not None and essence is None:
            errors.add("essenceId", "The selected essenceId is invalid.")
        if cashier_id is not None and project.cashiers.get(cashier_id) is None:
            errors.add("paymentSystemId", "The selected paymentSystemId is invalid.")
        errors.raise_if_any()
        assert essence is not None and cashier_id is not None
        return essence, cashier_id

    def create_invoice(req: Request) -> dict[str, Any]:
        contact_id = contact(req)
        essence, cashier_id = purchase(Errors(), req.body())
        return project.new_invoice(contact_id, essence, cashier_id, ctx.now())

    def pay_invoice(req: Request) -> dict[str, Any]:
        contact_id = contact(req)
        body = req.body()
        errors = Errors()
        errors.text(body, "date", required=True, pattern=_DATE)
        amount = body.get("amount")
        if amount in (None, ""):
            errors.add("amount", "The amount field is required.")
        elif as_number(amount) is None:
            errors.add("amount", "The amount field must be a number.")
        currency = errors.text(body, "currency", required=True, pattern=_CURRENCY)
        order_id = errors.string(body, "orderId", required=True)
        essence, cashier_id = purchase(errors, body)
        assert order_id is not None and currency is not None
        owner = project.find_invoice(order_id)
        if owner is not None and owner[0] != contact_id:
            raise invalid({"orderId": ["The orderId has already been taken."]})
        now = ctx.now()
        if owner is None:  # "creates and pays it when missing"
            item = project.new_invoice(contact_id, essence, cashier_id, now, order_id)
        else:
            item = owner[1]
        project.pay(contact_id, item, amount, currency, now)
        return item

    c = "/contacts/{contactId}"
    return [
        (
            "GET",
            "/contacts",
            shape.listing(lambda req: project.contact_ids(), project.render_contact),
        ),
        ("GET", "/contacts/search", shape.listing(search)),
        ("GET", c, shape.getter(lambda req: project.render_contact(contact(req)))),
        ("PUT", c, shape.acknowledged(update)),
        ("GET", f"{c}/info", shape.getter(lambda req: project.render_info(contact(req)))),
        ("GET", f"{c}/gates", shape.listing(lambda req: project.contact_gates(contact(req)))),
        ("POST", f"{c}/fire", shape.acknowledged(fire)),
        ("POST", f"{c}/unite/{{targetContactId}}", shape.acknowledged(merge)),
        (
            "GET",
            f"{c}/tags",
            shape.listing(lambda req: project.render_contact(contact(req))["tags"]),
        ),
        *membership(f"{c}/tags/{{tagId}}", tag_id, project.contact_tag_ids, "tags"),
        (
            "GET",
            f"{c}/funnels",
            shape.listing(
                lambda req: [
                    f
                    for key in project.contact_funnel_keys(contact(req))
                    for f in project.funnels
                    if f["serviceKey"] == key
                ]
            ),
        ),
        *membership(
            f"{c}/funnels/{{serviceKey}}", funnel_key, project.contact_funnel_keys, "funnels"
        ),
        (
            "GET",
            f"{c}/groups",
            shape.listing(
                lambda req: [project.group(g) for g in project.contact_groups(contact(req))]
            ),
        ),
        *membership(f"{c}/groups/{{serviceId}}", group_key, project.contact_groups, "groups"),
        ("GET", f"{c}/checkout", shape.listing(lambda req: project.render_cart(contact(req)))),
        ("GET", f"{c}/invoices", shape.listing(lambda req: project.invoices(contact(req)))),
        ("GET", f"{c}/invoices/{{orderId}}", shape.getter(invoice)),
        ("POST", f"{c}/invoices", shape.created(create_invoice)),
        ("PUT", f"{c}/invoices", shape.created(pay_invoice)),
    ]
