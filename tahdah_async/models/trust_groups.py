"""Trust groups and their members (REFERENCE 2.1)."""

from __future__ import annotations

import datetime as dt

import attrs

from ._base import Model

__all__ = ["TrustGroup", "TrustGroupMember"]


@attrs.frozen(kw_only=True, repr=False)
class TrustGroup(Model):
    """A paid or free network of member organisations owned by a legal entity.

    Fields are documented (from the Update example); which are required is not, so every field
    is optional and only the ones set are sent.
    """

    id: int | str | None = None
    """The group's id, when a response carries one (provisional)."""
    name: str | None = None
    uid: str | None = None
    """The group's UUID."""
    monthly_price: float | None = None
    annual_price: float | None = None
    description: str | None = None
    colour_code: str | None = None
    """A colour such as ``#1f6feb``."""
    icon_file: str | None = None
    public_name: str | None = None
    extension_group_name: str | None = None
    members_publicly_visible: bool | None = None
    show_on_badge: bool | None = None
    show_in_details: bool | None = None
    allow_editing_in_details: bool | None = None
    parent_trust_group: str | None = None
    """The UUID of the parent group."""
    access_rights: tuple[int, ...] | None = None
    """Access-right codes; their meanings are not documented, so they stay open integers."""


@attrs.frozen(kw_only=True, repr=False)
class TrustGroupMember(Model):
    """A legal entity or candidate that belongs to a trust group (provisional fields)."""

    trust_group_id: int | str | None = None
    legal_entity_id: int | str | None = None
    """Set for a member organisation."""
    candidate_id: int | None = None
    """Set for a member candidate."""
    name: str | None = None
    added_at: dt.datetime | None = None
    status: str | None = None
