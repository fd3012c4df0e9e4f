"""Legal entities and their people (REFERENCE 2.6)."""

from __future__ import annotations

import datetime as dt

import attrs

from .._types import UNSET, Maybe
from ._base import Model

__all__ = ["LegalEntity", "Person", "Role"]


@attrs.frozen(kw_only=True)
class LegalEntity(Model):
    """An organisation on Tahdah (documented fields, from the Legal Entity Created example)."""

    id: Maybe[int | str] = UNSET
    """Not in the documented example; kept when a response carries it (provisional)."""
    added_at: Maybe[dt.datetime] = UNSET
    name: Maybe[str] = UNSET
    trading_name: Maybe[str] = UNSET
    description: Maybe[str] = UNSET
    logo_url: Maybe[str] = UNSET
    public_website_address: Maybe[str] = UNSET
    contact_email: Maybe[str] = UNSET
    contact_us_link: Maybe[str] = UNSET
    vat_number: Maybe[str] = UNSET
    charity_number: Maybe[str] = UNSET
    child_age_limit: Maybe[int] = UNSET
    address1: Maybe[str] = UNSET
    address2: Maybe[str] = UNSET
    address3: Maybe[str] = UNSET
    town: Maybe[str] = UNSET
    county: Maybe[str] = UNSET
    postcode: Maybe[str] = UNSET
    currency_id: Maybe[int] = UNSET
    timezone: Maybe[str] = UNSET
    """As sent (the docs' example ``UK/London`` is not an IANA name), so a plain string."""
    legal_entity_id: Maybe[int | str] = UNSET
    """Set on webhook payloads that name the entity (provisional)."""


@attrs.frozen(kw_only=True)
class Role(Model):
    """A role a person holds in a legal entity (provisional fields)."""

    id: Maybe[int | str] = UNSET
    name: Maybe[str] = UNSET


@attrs.frozen(kw_only=True)
class Person(Model):
    """A member of staff or a candidate connected to a legal entity (provisional fields)."""

    candidate_id: Maybe[int | str] = UNSET
    email: Maybe[str] = UNSET
    first_name: Maybe[str] = UNSET
    last_name: Maybe[str] = UNSET
    roles: Maybe[tuple[Role, ...]] = UNSET
    legal_entity_id: Maybe[int | str] = UNSET
    """Set on ``legalEntities.person.added`` and ``legalEntities.roles.updated`` webhooks."""
