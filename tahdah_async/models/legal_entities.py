"""Legal entities and their people (REFERENCE 2.6)."""

from __future__ import annotations

import datetime as dt

import attrs

from ._base import Model

__all__ = ["LegalEntity", "Person", "Role"]


@attrs.frozen(kw_only=True, repr=False)
class LegalEntity(Model):
    """An organisation on Tahdah (documented fields, from the Legal Entity Created example)."""

    id: int | str | None = None
    """Not in the documented example; kept when a response carries it (provisional)."""
    added_at: dt.datetime | None = None
    name: str | None = None
    trading_name: str | None = None
    description: str | None = None
    logo_url: str | None = None
    public_website_address: str | None = None
    contact_email: str | None = None
    contact_us_link: str | None = None
    vat_number: str | None = None
    charity_number: str | None = None
    child_age_limit: int | None = None
    address1: str | None = None
    address2: str | None = None
    address3: str | None = None
    town: str | None = None
    county: str | None = None
    postcode: str | None = None
    currency_id: int | None = None
    timezone: str | None = None
    """As sent (the docs' example ``UK/London`` is not an IANA name), so a plain string."""
    legal_entity_id: int | str | None = None
    """Set on webhook payloads that name the entity (provisional)."""


@attrs.frozen(kw_only=True, repr=False)
class Role(Model):
    """A role a person holds in a legal entity (provisional fields)."""

    id: int | str | None = None
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class Person(Model):
    """A member of staff or a candidate connected to a legal entity (provisional fields)."""

    candidate_id: int | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    roles: tuple[Role, ...] | None = None
    legal_entity_id: int | str | None = None
    """Set on ``legalEntities.person.added`` and ``legalEntities.roles.updated`` webhooks."""
