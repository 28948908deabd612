"""`client.products`: the shop's products (list, stream, create, update, delete)."""

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
    """At least one variant: a `ProductEssence` or its wire dict each."""
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
    """The fields given (`None` is left out), checked."""
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
    """Products: `/products` and `/products/{productId}`, reached as `client.products`.

    `list()` and `stream()` read the shop's products.

    Example:
        ```python
        async for product in client.products.stream():
            print(product.id, product.name, len(product.essences))
        ```
    """

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
        """Create a product (`POST /products`).

        Args:
            name: unique in the project.
            essences: at least one variant, as [ProductEssence][smartsender_async.ProductEssence] or
                wire dicts (`{"name": "M", "cash": {"amount": 100, "currency": "UAH"}}`). The
                documentation asks for them "without temporary values", a term it does not explain.
            labels: label ids.
            payment_systems: payment-system (cashier) ids.
            category_id: the category.

        Returns:
            The created product.

        Raises:
            TypeError: `name` is not a str, `essences` is missing or not a list of variants, or an
                id is not an int (no request is sent).
            ValueError: `name` is empty, `essences` is empty, or an id is not positive (no request
                is sent).
            UnprocessableEntityError: the server refused the product.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            product = await client.products.create(
                "T-shirt",
                essences=[{"name": "M", "cash": {"amount": 100, "currency": "UAH"}}],
            )
            print(product.id)
            ```
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
        """Change a product (`PUT /products/{productId}`); the answer is the product.

        Only the fields given are sent. The documentation gives update the same rules as `create`
        (`name` and at least one variant), a third-party catalog makes every field optional: send
        the whole product if the server refuses a part.

        Args:
            product_id: the product's id.
            name: the new name.
            essences: the variants, as for `create`.
            labels: label ids.
            payment_systems: payment-system (cashier) ids.
            category_id: the category.

        Returns:
            The product as changed.

        Raises:
            TypeError: `product_id` is not an int or a string of ASCII digits, or a field has the
                wrong type (no request is sent).
            ValueError: no field given, `essences` empty, or an id not positive (no request is
                sent).
            NotFoundError: no product has this id.
            UnprocessableEntityError: the server refused the change.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            product = await client.products.update(41, name="T-shirt, organic")
            ```
        """
        ids = (check_id("product_id", product_id),)
        body = _product_body(name, essences, labels, payment_systems, category_id)
        if not body:
            raise ValueError("nothing to update: pass name=, essences= or another field")
        template = "/products/{productId}"
        return await self._create(Product, "PUT", "products.update", template, ids, body)

    async def delete(self, product_id: int) -> None:
        """Delete a product (`DELETE /products/{productId}`).

        Args:
            product_id: the product's id.

        Raises:
            TypeError: `product_id` is not an int or a string of ASCII digits (no request is sent).
            ValueError: `product_id` is not positive (no request is sent).
            WriteRejectedError: the server answered `{"state": false}`.
            NotFoundError: no product has this id.
            APIError: any other error answer (a subclass per status, such as `AuthenticationError`).
            APIConnectionError: the server could not be reached (after the retries).
            ResponseDecodeError: the answer is not the JSON the SDK expects.

        Example:
            ```python
            await client.products.delete(41)
            ```
        """
        ids = (check_id("product_id", product_id),)
        await self._ack("DELETE", "products.delete", "/products/{productId}", ids)
