"""Digital badges (REFERENCE 2.5; body fields provisional)."""

from __future__ import annotations

import datetime as dt

import attrs

from ._base import Model

__all__ = ["BadgeRecipient", "BadgeTemplate"]


@attrs.frozen(kw_only=True, repr=False)
class BadgeRecipient(Model):
    """The learner a badge is issued to.

    Tahdah matches the learner on ``external_id`` first, then ``candidate_id``, then ``email``;
    no match creates a learner, and a match whose other details disagree is an error.
    """

    external_id: str | None = None
    """Your own id for the learner."""
    candidate_id: int | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    issued_at: dt.datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class BadgeTemplate(Model):
    """A badge template made in the Tahdah admin UI."""

    id: int | str | None = None
    name: str | None = None
    description: str | None = None
    image_url: str | None = None
