"""Candidates, i.e. learners (REFERENCE 2.7; every field provisional)."""

from __future__ import annotations

import datetime as dt

import attrs

from ._base import Model

__all__ = ["Candidate"]


@attrs.frozen(kw_only=True, repr=False)
class Candidate(Model):
    """A learner, attached to the legal entity of the API key that created it."""

    id: int | None = None
    """The candidate's Tahdah id: an integer, as requests send it (REFERENCE: ids)."""
    external_id: str | None = None
    """Your own id for the learner."""
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    date_of_birth: dt.date | None = None
    tags: tuple[str, ...] | None = None
