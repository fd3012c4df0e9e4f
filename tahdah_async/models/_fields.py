"""Keyword fields of the body models, for ``**fields`` in resource methods.

Generated from the models by ``scripts/generate_fields.py``: do not edit by hand. Every field
is optional; ``None`` is sent as JSON ``null``; values must already be of the field's type
(they are checked, never converted, before anything is sent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from .legal_entities import Role

__all__ = [
    "BadgeRecipientFields",
    "CandidateFields",
    "LegalEntityFields",
    "PersonFields",
    "TrustGroupFields",
]


class BadgeRecipientFields(TypedDict, total=False):
    """The fields of a :class:`BadgeRecipient` as keyword arguments.

    Taken by ``digital_badges.issue``.
    """

    external_id: str | None
    candidate_id: int | None
    email: str | None
    first_name: str | None
    last_name: str | None
    issued_at: dt.datetime | None


class CandidateFields(TypedDict, total=False):
    """The fields of a :class:`Candidate` as keyword arguments.

    Taken by ``candidates.create`` and ``candidates.update``.
    """

    id: int | None
    external_id: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    date_of_birth: dt.date | None
    tags: Sequence[str] | None


class LegalEntityFields(TypedDict, total=False):
    """The fields of a :class:`LegalEntity` as keyword arguments.

    Taken by ``legal_entities.create``.
    """

    id: int | str | None
    added_at: dt.datetime | None
    name: str | None
    trading_name: str | None
    description: str | None
    logo_url: str | None
    public_website_address: str | None
    contact_email: str | None
    contact_us_link: str | None
    vat_number: str | None
    charity_number: str | None
    child_age_limit: int | None
    address1: str | None
    address2: str | None
    address3: str | None
    town: str | None
    county: str | None
    postcode: str | None
    currency_id: int | None
    timezone: str | None
    legal_entity_id: int | str | None


class PersonFields(TypedDict, total=False):
    """The fields of a :class:`Person` as keyword arguments.

    Taken by ``legal_entities.connect_person``.
    """

    candidate_id: int | None
    email: str | None
    first_name: str | None
    last_name: str | None
    roles: Sequence[Role | Mapping[str, Any]] | None


class TrustGroupFields(TypedDict, total=False):
    """The fields of a :class:`TrustGroup` as keyword arguments.

    Taken by ``trust_groups.create`` and ``trust_groups.update``.
    """

    id: int | str | None
    name: str | None
    uid: str | None
    monthly_price: float | None
    annual_price: float | None
    description: str | None
    colour_code: str | None
    icon_file: str | None
    public_name: str | None
    extension_group_name: str | None
    members_publicly_visible: bool | None
    show_on_badge: bool | None
    show_in_details: bool | None
    allow_editing_in_details: bool | None
    parent_trust_group: str | None
    access_rights: Sequence[int] | None
