"""Candidates, i.e. learners (REFERENCE 2.7; every field provisional)."""

from __future__ import annotations

import datetime as dt

import attrs

from .._types import UNSET, Maybe
from ._base import Model

__all__ = ["Candidate"]


@attrs.frozen(kw_only=True)
class Candidate(Model):
    """A learner, attached to the legal entity of the API key that created it."""

    id: Maybe[int | str] = UNSET
    external_id: Maybe[str] = UNSET
    """Your own id for the learner."""
    first_name: Maybe[str] = UNSET
    last_name: Maybe[str] = UNSET
    email: Maybe[str] = UNSET
    date_of_birth: Maybe[dt.date] = UNSET
    tags: Maybe[tuple[str, ...]] = UNSET
