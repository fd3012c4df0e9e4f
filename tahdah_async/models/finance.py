"""Finance ledger entries (REFERENCE 2.8; documented from the Ledger Entry Created example).

The integer codes ``entity_type``, ``item_type``, ``payment_method`` and ``payment_status`` have
no documented meanings, so they stay open integers.
"""

from __future__ import annotations

import datetime as dt

import attrs

from ._base import Model, wire

__all__ = [
    "Currency",
    "Entity",
    "InvoiceAddress",
    "InvoiceDetail",
    "InvoiceItem",
    "LedgerEntry",
    "LedgerHeader",
    "PaymentDetail",
    "PaymentItem",
]


@attrs.frozen(kw_only=True, repr=False)
class Entity(Model):
    """A party to a ledger entry."""

    name: str | None = None
    id: int | None = None
    entity_type: int | None = None


@attrs.frozen(kw_only=True, repr=False)
class InvoiceAddress(Model):
    """An invoice address; every wire name is lower case, and the town is ``t``."""

    name: str | None = None
    address1: str | None = None
    address2: str | None = None
    address3: str | None = None
    town: str | None = attrs.field(default=None, metadata=wire("t"))
    county: str | None = None
    postcode: str | None = None
    country: str | None = None
    company_number: str | None = attrs.field(default=None, metadata=wire("companynumber"))
    charity_number: str | None = attrs.field(default=None, metadata=wire("charitynumber"))
    vat_number: str | None = attrs.field(default=None, metadata=wire("vatnumber"))
    website: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class LedgerHeader(Model):
    """Who an entry is between, and its dates."""

    beneficiary: Entity | None = None
    payer: Entity | None = None
    posted_by: Entity | None = None
    beneficiary_address: InvoiceAddress | None = None
    payer_address: InvoiceAddress | None = None
    invoice_logo: str | None = None
    invoice_payment_text: str | None = None
    created_date: dt.datetime | None = None
    due_date: dt.datetime | None = None
    posting_date: dt.datetime | None = None
    notes: str | None = None
    description: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class InvoiceItem(Model):
    """One line of an invoice."""

    id: int | None = None
    description: str | None = None
    amount: float | None = None
    unit_cost: float | None = None
    quantity: float | None = None
    nominal_code: str | None = None
    tax: float | None = None
    tax_name: str | None = None
    item_type: int | None = None
    item_type_name: str | None = None
    date_sent: dt.datetime | None = None
    date_cancelled: dt.datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class PaymentItem(Model):
    """A payment allocated to an invoice."""

    id: int | None = None
    description: str | None = None
    notes: str | None = None
    allocated_at: dt.datetime | None = None
    credit: float | None = None
    payment_method: int | None = None
    payment_status: int | None = None
    payment_reference: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class InvoiceDetail(Model):
    """The invoice behind a ledger entry."""

    number: str | None = None
    po_number: str | None = None
    po_document_url: str | None = None
    items: tuple[InvoiceItem, ...] | None = None
    payments: tuple[PaymentItem, ...] | None = None


@attrs.frozen(kw_only=True, repr=False)
class PaymentDetail(Model):
    """How an entry is paid."""

    payment_method: int | None = None
    payment_status: int | None = None
    payment_reference: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class Currency(Model):
    """A currency."""

    id: int | None = None
    name: str | None = None
    symbol: str | None = None
    iso_code: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class LedgerEntry(Model):
    """A finance ledger entry: an invoice or a payment."""

    header: LedgerHeader | None = None
    item_type: int | None = None
    invoice_detail: InvoiceDetail | None = None
    payment_detail: PaymentDetail | None = None
    currency: Currency | None = None
    credit: float | None = None
    debit: float | None = None
