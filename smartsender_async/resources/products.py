"""``client.products``: the shop's products (list, stream, create, update, delete)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from smartsender_async._convert import unstructure_record
from smartsender_async.models.products import Product, ProductEssence
from smartsender_async.resources._base import check_id, check_text
from smartsender_async.resources._shapes import Listing

__all__ = ["ProductsResource"]


def _check_ids(name: str, values: Any) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be an iterable of ids, got {values!r}")
    return [check_id(f"{name}[]", v) for v in values]


_READ_ONLY_ESSENCE_KEYS = frozenset({"pivot", "product"})


def _check_essences(essences: Any) -> list[dict[str, Any]]:
    """At least one variant: a :class:`ProductEssence` or its wire dict each."""
    if isinstance(essences, (str, bytes, Mapping)) or not isinstance(essences, Iterable):
        raise TypeError(f"essences must be a list of ProductEssence or dicts, got {essences!r}")
    out = []
    for item in essences:
        if isinstance(item, ProductEssence):
            # A variant read back (a cart line, an invoice's essence) also carries its
            # cart context (pivot: the quantity) and its owner (product): those are not the
            # variant's own values, so they are not sent back ("without temporary values").
            wire = {
                k: v
                for k, v in unstructure_record(item).items()
                if v is not None and k not in _READ_ONLY_ESSENCE_KEYS
            }
        elif isinstance(item, Mapping):
            wire = dict(item)
        else:
            raise TypeError(f"essences[] must be a ProductEssence or a dict, got {item!r}")
        out.append(wire)
    if not out:
        raise ValueError("essences must hold at least one variant")
    return out


def _product_body(
    name: Any, essences: Any, labels: Any, payment_systems: Any, category_id: Any
) -> dict[str, Any]:
    """The fields given (``None`` is left out), checked."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = check_text("name", name)
    if essences is not None:
        body["essences"] = _check_essences(essences)
    if labels is not None:
        body["labels"] = _check_ids("labels", labels)
    if payment_systems is not None:
        body["paymentSystems"] = _check_ids("payment_systems", payment_systems)
    if category_id is not None:
        body["categoryId"] = check_id("category_id", category_id)
    return body


class ProductsResource(Listing[Product], area="products"):
    """Products: ``/products`` and ``/products/{productId}``."""

    __slots__ = ()

    async def create(
        self,
        name: str,
        *,
        essences: Iterable[ProductEssence | Mapping[str, Any]],
        labels: Iterable[int] | None = None,
        payment_systems: Iterable[int] | None = None,
        category_id: int | None = None,
    ) -> Product:
        """Create a product (``POST /products``).

        Args:
            name: unique in the project.
            essences: at least one variant, as :class:`ProductEssence` or wire dicts
                (``{"name": "M", "cash": {"amount": 100, "currency": "UAH"}}``).  The
                documentation asks for them "without temporary values", a term it does
                not explain.
            labels: label ids.
            payment_systems: payment-system (cashier) ids.
            category_id: the category.
        """
        name = check_text("name", name)
        if essences is None:
            raise TypeError("essences is required: at least one variant")
        body = _product_body(name, essences, labels, payment_systems, category_id)
        return await self._create(Product, "POST", "products.create", "/products", (), body)

    async def update(
        self,
        product_id: int,
        *,
        name: str | None = None,
        essences: Iterable[ProductEssence | Mapping[str, Any]] | None = None,
        labels: Iterable[int] | None = None,
        payment_systems: Iterable[int] | None = None,
        category_id: int | None = None,
    ) -> Product:
        """Change a product (``PUT /products/{productId}``); the answer is the product.

        Only the fields given are sent.  The documentation gives update the same rules as
        :meth:`create` (``name`` and at least one variant), a third-party catalog makes
        every field optional: send the whole product if the server refuses a part.

        Raises:
            ValueError: no field given, or ``essences`` empty (no request is sent).
        """
        ids = (check_id("product_id", product_id),)
        body = _product_body(name, essences, labels, payment_systems, category_id)
        if not body:
            raise ValueError("nothing to update: pass name=, essences= or another field")
        template = "/products/{productId}"
        return await self._create(Product, "PUT", "products.update", template, ids, body)

    async def delete(self, product_id: int) -> None:
        """Delete a product (``DELETE /products/{productId}``)."""
        ids = (check_id("product_id", product_id),)
        await self._ack("DELETE", "products.delete", "/products/{productId}", ids)
