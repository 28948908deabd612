"""Shop objects: `Product`, `ProductEssence` (a product variant, also a cart
line), `Cash`, `Invoice`, `InvoiceLog` and `Cashier`.

Most of these models are documented only in part: fields marked "not documented" are
assumed, and anything else the server sends is kept in `extra`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from smartsender_async.models.common import EMPTY, ResponseInfo

__all__ = [
    "ONE_OR_MANY",
    "Cash",
    "Cashier",
    "Invoice",
    "InvoiceLog",
    "Product",
    "ProductEssence",
    "ProductRef",
]

#: Field metadata telling the converter that the wire holds one object or a list of them.
ONE_OR_MANY: Mapping[str, Any] = {"one_or_many": True}


@attrs.frozen
class Cash:
    """A price: `amount` (a number) in `currency` (upper-case ISO code, `UAH`).

    Attributes:
        amount: the amount.
        currency: the currency's ISO code.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
    """

    amount: float | None = None
    currency: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class ProductRef:
    """The product a variant belongs to, as embedded in it (`essence.product`)."""

    id: int | None = None
    name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class ProductEssence:
    """A product variant: in `product.essences`, a line of a cart, what an invoice is for.

    Two forms are seen. Current integrations read the nested `cash` (`amount` and `currency`);
    older ones read `price`, `amount` and `currency` at the top level (maybe legacy aliases).
    Both are decoded as sent; the `cost` property gives the price whichever form came, and
    `quantity` a cart line's count.

    Attributes:
        id: the variant's id (`essence_id` of `client.contacts.create_invoice`).
        name: its name.
        product: the product it belongs to (its `id` and `name`).
        cash: its price, in the nested form.
        price: its price, in the top-level form.
        amount: its amount, in the top-level form.
        currency: its currency, in the top-level form.
        pivot: in a cart, the line's data (its `quantity`).
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.

    Example:
        ```python
        async for line in client.contacts.stream_cart(5):
            print(line.name, line.quantity, line.cost)
        ```
    """

    id: int | None = None
    name: str | None = None
    product: ProductRef | None = None
    cash: Cash | None = None
    price: float | None = None
    amount: float | None = None
    currency: str | None = None
    pivot: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)

    @property
    def cost(self) -> Cash | None:
        """The price: `cash`, else one made of the top-level `price` (or `amount`)
        and `currency`; `None` when neither form was sent."""
        if self.cash is not None:
            return self.cash
        amount = self.price if self.price is not None else self.amount
        if amount is None and self.currency is None:
            return None
        return Cash(amount=amount, currency=self.currency)

    @property
    def quantity(self) -> int | None:
        """How many of it are in the cart (`pivot.quantity`), when the server says."""
        value = (self.pivot or EMPTY).get("quantity")
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            return int(value)
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return None


@attrs.frozen
class Cashier:
    """A payment system (`client.cashiers`; `product.payment_systems`).

    Not documented: `id` and `name` are assumed; the rest is in `extra`.

    Attributes:
        id: the payment system's id (`payment_system_id` of the invoice calls).
        name: its name.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.
    """

    id: int | None = None
    name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class Product:
    """A product of the shop (`client.products`).

    Attributes:
        id: the product's id.
        name: its name.
        labels: kept as the server's dicts (their model is not documented).
        category: kept as the server's dict.
        essences: its variants ([ProductEssence][smartsender_async.ProductEssence]).
        payment_systems: the payment systems it can be paid with.
        created_at: when it was created.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.
    """

    id: int | None = None
    name: str | None = None
    labels: tuple[Mapping[str, Any], ...] = attrs.field(default=(), hash=False)
    category: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    essences: tuple[ProductEssence, ...] = ()
    payment_systems: tuple[Cashier, ...] = ()
    created_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class InvoiceLog:
    """One payment attempt of an invoice: `state` is whether it succeeded.

    Only `state` and `created_at` are known; the rest is in `extra`.

    Attributes:
        state: whether the attempt succeeded.
        created_at: when it was made.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
    """

    state: bool | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Invoice:
    """An invoice of a contact (`client.contacts.invoices`, `client.contacts.invoice`).

    The `paid` property tells whether a payment attempt succeeded.

    Attributes:
        id: the invoice's id.
        order_id: its key in the API (a UUID string).
        checkout_url: where the contact pays it.
        created_at: when it was created.
        logs: the payment attempts ([InvoiceLog][smartsender_async.InvoiceLog]).
        essence: what it bills, always a tuple: the documentation shows it both as one object
            and as a list, and both decode here (`[]` or `{}` gives an empty tuple).
        payment_system: the payment system.
        extra: fields the server sent that are not mapped here, under their original (camelCase)
            names, so nothing is lost.
        response_info: how the response was obtained
            ([ResponseInfo][smartsender_async.ResponseInfo]); `None` on an object not returned
            by a client call.

    Example:
        ```python
        invoice = await client.contacts.create_invoice(5, essence_id=31, payment_system_id=2)
        print(invoice.checkout_url, invoice.paid)
        ```
    """

    id: int | None = None
    order_id: str | None = None
    checkout_url: str | None = None
    created_at: datetime | None = None
    logs: tuple[InvoiceLog, ...] = ()
    essence: tuple[ProductEssence, ...] = attrs.field(default=(), metadata=ONE_OR_MANY)
    payment_system: Cashier | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @property
    def paid(self) -> bool:
        """Whether a payment attempt succeeded (a log with `state` true)."""
        return any(log.state is True for log in self.logs)
