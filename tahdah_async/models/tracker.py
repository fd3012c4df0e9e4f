"""Tracker targets (REFERENCE 2.3; every field provisional)."""

from __future__ import annotations

import datetime as dt

import attrs

from .._types import UNSET, Maybe
from ._base import Model

__all__ = ["Target"]


@attrs.frozen(kw_only=True)
class Target(Model):
    """A target a learner or legal entity is tracked against."""

    id: Maybe[int | str] = UNSET
    name: Maybe[str] = UNSET
    target: Maybe[float] = UNSET
    achieved: Maybe[float] = UNSET
    due_date: Maybe[dt.date] = UNSET
    status: Maybe[str] = UNSET
    candidate_id: Maybe[int | str] = UNSET
    """Set on ``tracker.target.updated`` webhooks."""
