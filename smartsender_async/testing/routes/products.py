"""``/products`` (surface reference §2.8): list, create, update, delete."""

from __future__ import annotations

from typing import Any

from smartsender_async.testing._app import Errors, Request, as_number
from smartsender_async.testing._data import iso
from smartsender_async.testing.routes import _shapes as shape
from smartsender_async.testing.routes._shapes import Context, Route

__all__ = ["routes"]


def routes(ctx: Context) -> list[Route]:
    project = ctx.project
    products = project.products

    def fields(req: Request, besides: int | None = None) -> dict[str, Any]:
        """The checked body; on update every field is optional [3P], checked when given."""
        body = req.body()
        creating = besides is None
        errors = Errors()
        name = errors.text(body, "name", required=creating, max_length=255)
        essences = body.get("essences")
        if essences in (None, "", []):
            if creating:
                errors.add("essences", "The essences field is required.")
            essences = None
        elif not isinstance(essences, list):
            errors.add("essences", "The essences field must be an array.")
        else:
            for n, essence in enumerate(essences):
                if not isinstance(essence, dict):
                    errors.add(f"essences.{n}", f"The essences.{n} field must be an array.")
                    continue
                cash = essence.get("cash")
                price = cash.get("amount") if isinstance(cash, dict) else essence.get("price")
                if price is not None and as_number(price) is None:
                    errors.add(f"essences.{n}.price", f"The essences.{n}.price must be a number.")
        labels = errors.integers(body, "labels")
        cashiers = errors.integers(body, "paymentSystems")
        for n, cashier_id in enumerate(cashiers or ()):
            if project.cashiers.get(cashier_id) is None:
                errors.add(f"paymentSystems.{n}", f"The selected paymentSystems.{n} is invalid.")
        category = errors.integer(body, "categoryId")
        errors.raise_if_any()
        shape.unique(products, name, besides)
        return shape.present(
            name=name,
            essences=essences,
            labels=None if labels is None else [{"id": label} for label in labels],
            paymentSystems=None
            if cashiers is None
            else [project.cashier_summary(c) for c in cashiers],
            category=None if category is None else {"id": category},
        )

    def save(product: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        essences = given.pop("essences", None)
        product.update(given)
        if essences is not None:
            product["essences"] = [project.new_essence(product, e) for e in essences]
        return product

    def create(req: Request) -> dict[str, Any]:
        given = fields(req)
        product = products.add(
            {
                "name": given["name"],
                "labels": [],
                "category": None,
                "essences": [],
                "paymentSystems": [],
                "createdAt": iso(ctx.now()),
            }
        )
        return save(product, given)

    def update(req: Request) -> dict[str, Any]:
        product = shape.found(products, req.args[0])
        return save(product, fields(req, product["id"]))

    def delete(req: Request) -> None:
        del products.items[shape.found(products, req.args[0])["id"]]

    one = "/products/{productId}"
    return [
        ("GET", "/products", shape.listing(lambda req: products.rows())),
        ("POST", "/products", shape.created(create)),
        ("PUT", one, shape.created(update)),
        ("DELETE", one, shape.acknowledged(delete)),
    ]
