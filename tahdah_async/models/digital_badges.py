"""Digital badges (REFERENCE 2.5; body fields provisional)."""

from __future__ import annotations

import datetime as dt

import attrs

from .._types import UNSET, Maybe
from ._base import Model

__all__ = ["BadgeRecipient", "BadgeTemplate"]


@attrs.frozen(kw_only=True)
class BadgeRecipient(Model):
    """The learner a badge is issued to.

    Tahdah matches the learner on ``external_id`` first, then ``candidate_id``, then ``email``;
    no match creates a learner, and a match whose other details disagree is an error.
    """

    external_id: Maybe[str] = UNSET
    """Your own id for the learner."""
    candidate_id: Maybe[int] = UNSET
    email: Maybe[str] = UNSET
    first_name: Maybe[str] = UNSET
    last_name: Maybe[str] = UNSET
    issued_at: Maybe[dt.datetime] = UNSET


@attrs.frozen(kw_only=True)
class BadgeTemplate(Model):
    """A badge template made in the Tahdah admin UI."""

    id: Maybe[int | str] = UNSET
    name: Maybe[str] = UNSET
    description: Maybe[str] = UNSET
    image_url: Maybe[str] = UNSET
