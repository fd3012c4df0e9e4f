"""Finance ledger entries (REFERENCE 2.8; documented from the Ledger Entry Created example).

The integer codes ``entity_type``, ``item_type``, ``payment_method`` and ``payment_status`` have
no documented meanings, so they stay open integers.
"""

from __future__ import annotations

import datetime as dt

import attrs

from .._types import UNSET, Maybe
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


@attrs.frozen(kw_only=True)
class Entity(Model):
    """A party to a ledger entry."""

    name: Maybe[str] = UNSET
    id: Maybe[int] = UNSET
    entity_type: Maybe[int] = UNSET


@attrs.frozen(kw_only=True)
class InvoiceAddress(Model):
    """An invoice address; every wire name is lower case, and the town is ``t``."""

    name: Maybe[str] = UNSET
    address1: Maybe[str] = UNSET
    address2: Maybe[str] = UNSET
    address3: Maybe[str] = UNSET
    town: Maybe[str] = attrs.field(default=UNSET, metadata=wire("t"))
    county: Maybe[str] = UNSET
    postcode: Maybe[str] = UNSET
    country: Maybe[str] = UNSET
    company_number: Maybe[str] = attrs.field(default=UNSET, metadata=wire("companynumber"))
    charity_number: Maybe[str] = attrs.field(default=UNSET, metadata=wire("charitynumber"))
    vat_number: Maybe[str] = attrs.field(default=UNSET, metadata=wire("vatnumber"))
    website: Maybe[str] = UNSET


@attrs.frozen(kw_only=True)
class LedgerHeader(Model):
    """Who an entry is between, and its dates."""

    beneficiary: Maybe[Entity] = UNSET
    payer: Maybe[Entity] = UNSET
    posted_by: Maybe[Entity] = UNSET
    beneficiary_address: Maybe[InvoiceAddress] = UNSET
    payer_address: Maybe[InvoiceAddress] = UNSET
    invoice_logo: Maybe[str] = UNSET
    invoice_payment_text: Maybe[str] = UNSET
    created_date: Maybe[dt.datetime] = UNSET
    due_date: Maybe[dt.datetime] = UNSET
    posting_date: Maybe[dt.datetime] = UNSET
    notes: Maybe[str] = UNSET
    description: Maybe[str] = UNSET


@attrs.frozen(kw_only=True)
class InvoiceItem(Model):
    """One line of an invoice."""

    id: Maybe[int] = UNSET
    description: Maybe[str] = UNSET
    amount: Maybe[float] = UNSET
    unit_cost: Maybe[float] = UNSET
    quantity: Maybe[float] = UNSET
    nominal_code: Maybe[str] = UNSET
    tax: Maybe[float] = UNSET
    tax_name: Maybe[str] = UNSET
    item_type: Maybe[int] = UNSET
    item_type_name: Maybe[str] = UNSET
    date_sent: Maybe[dt.datetime] = UNSET
    date_cancelled: Maybe[dt.datetime] = UNSET


@attrs.frozen(kw_only=True)
class PaymentItem(Model):
    """A payment allocated to an invoice."""

    id: Maybe[int] = UNSET
    description: Maybe[str] = UNSET
    notes: Maybe[str] = UNSET
    allocated_at: Maybe[dt.datetime] = UNSET
    credit: Maybe[float] = UNSET
    payment_method: Maybe[int] = UNSET
    payment_status: Maybe[int] = UNSET
    payment_reference: Maybe[str] = UNSET


@attrs.frozen(kw_only=True)
class InvoiceDetail(Model):
    """The invoice behind a ledger entry."""

    number: Maybe[str] = UNSET
    po_number: Maybe[str] = UNSET
    po_document_url: Maybe[str] = UNSET
    items: Maybe[tuple[InvoiceItem, ...]] = UNSET
    payments: Maybe[tuple[PaymentItem, ...]] = UNSET


@attrs.frozen(kw_only=True)
class PaymentDetail(Model):
    """How an entry is paid."""

    payment_method: Maybe[int] = UNSET
    payment_status: Maybe[int] = UNSET
    payment_reference: Maybe[str] = UNSET


@attrs.frozen(kw_only=True)
class Currency(Model):
    """A currency."""

    id: Maybe[int] = UNSET
    name: Maybe[str] = UNSET
    symbol: Maybe[str] = UNSET
    iso_code: Maybe[str] = UNSET


@attrs.frozen(kw_only=True)
class LedgerEntry(Model):
    """A finance ledger entry: an invoice or a payment."""

    header: Maybe[LedgerHeader] = UNSET
    item_type: Maybe[int] = UNSET
    invoice_detail: Maybe[InvoiceDetail] = UNSET
    payment_detail: Maybe[PaymentDetail] = UNSET
    currency: Maybe[Currency] = UNSET
    credit: Maybe[float] = UNSET
    debit: Maybe[float] = UNSET
