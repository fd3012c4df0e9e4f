"""Trust groups and their members (REFERENCE 2.1)."""

from __future__ import annotations

import datetime as dt

import attrs

from .._types import UNSET, Maybe
from ._base import Model

__all__ = ["TrustGroup", "TrustGroupMember"]


@attrs.frozen(kw_only=True)
class TrustGroup(Model):
    """A paid or free network of member organisations owned by a legal entity.

    Fields are documented (from the Update example); which are required is not, so every field
    is optional and only the ones set are sent.
    """

    id: Maybe[int | str] = UNSET
    """The group's id, when a response carries one (provisional)."""
    name: Maybe[str] = UNSET
    uid: Maybe[str] = UNSET
    """The group's UUID."""
    monthly_price: Maybe[float] = UNSET
    annual_price: Maybe[float] = UNSET
    description: Maybe[str] = UNSET
    colour_code: Maybe[str] = UNSET
    """A colour such as ``#1f6feb``."""
    icon_file: Maybe[str] = UNSET
    public_name: Maybe[str] = UNSET
    extension_group_name: Maybe[str] = UNSET
    members_publicly_visible: Maybe[bool] = UNSET
    show_on_badge: Maybe[bool] = UNSET
    show_in_details: Maybe[bool] = UNSET
    allow_editing_in_details: Maybe[bool] = UNSET
    parent_trust_group: Maybe[str] = UNSET
    """The UUID of the parent group."""
    access_rights: Maybe[tuple[int, ...]] = UNSET
    """Access-right codes; their meanings are not documented, so they stay open integers."""


@attrs.frozen(kw_only=True)
class TrustGroupMember(Model):
    """A legal entity or candidate that belongs to a trust group (provisional fields)."""

    trust_group_id: Maybe[int | str] = UNSET
    legal_entity_id: Maybe[int | str] = UNSET
    """Set for a member organisation."""
    candidate_id: Maybe[int | str] = UNSET
    """Set for a member candidate."""
    name: Maybe[str] = UNSET
    added_at: Maybe[dt.datetime] = UNSET
    status: Maybe[str] = UNSET
