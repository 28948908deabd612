"""Shop objects: :class:`Product`, :class:`ProductEssence` (a product variant, also a cart
line), :class:`Cash`, :class:`Invoice`, :class:`InvoiceLog` and :class:`Cashier`.

Most of these models are documented only in part: fields marked "not documented" are
assumed, and anything else the server sends is kept in ``extra``.
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
    """A price: ``amount`` (a number) in ``currency`` (upper-case ISO code, ``UAH``)."""

    amount: float | None = None
    currency: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class ProductRef:
    """The product a variant belongs to, as embedded in it (``essence.product``)."""

    id: int | None = None
    name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class ProductEssence:
    """A product variant: an item of ``product.essences``, a line of a contact's cart
    (``contacts.cart``) and what an invoice is for.

    Two forms are seen.  Current integrations read the nested ``cash`` (``amount`` and
    ``currency``); older ones read ``price``, ``amount`` and ``currency`` at the top level
    (maybe legacy aliases).  Both are decoded as sent; :attr:`cost` gives the price
    whichever form came.  In a cart, ``pivot`` holds the line's ``quantity``.
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
        """The price: ``cash``, else one made of the top-level ``price`` (or ``amount``)
        and ``currency``; ``None`` when neither form was sent."""
        if self.cash is not None:
            return self.cash
        amount = self.price if self.price is not None else self.amount
        if amount is None and self.currency is None:
            return None
        return Cash(amount=amount, currency=self.currency)

    @property
    def quantity(self) -> int | None:
        """How many of it are in the cart (``pivot.quantity``), when the server says."""
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
    """A payment system (``client.cashiers``; ``product.payment_systems``).

    Not documented: ``id`` and ``name`` are assumed; the rest is in ``extra``.
    """

    id: int | None = None
    name: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)
    response_info: ResponseInfo | None = attrs.field(default=None, init=False, eq=False, repr=False)


@attrs.frozen
class Product:
    """A product of the shop (``client.products``).

    ``labels`` and ``category`` are kept as the server's dicts (their models are not
    documented); ``essences`` are its variants.
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
    """One payment attempt of an invoice: ``state`` is whether it succeeded.

    Only ``state`` and ``created_at`` are known; the rest is in ``extra``.
    """

    state: bool | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=EMPTY, repr=False, hash=False)


@attrs.frozen
class Invoice:
    """An invoice of a contact (``contacts.invoices``, ``contacts.invoice``).

    ``order_id`` (a UUID string) is its key in the API.  ``essence`` is always a tuple:
    the documentation shows it both as one object and as a list, and both decode here
    (``[]`` or ``{}`` gives an empty tuple).  ``logs`` are the payment attempts;
    :attr:`paid` tells whether one succeeded.
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
        """Whether a payment attempt succeeded (a log with ``state`` true)."""
        return any(log.state is True for log in self.logs)
