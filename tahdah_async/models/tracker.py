"""Tracker targets (REFERENCE 2.3; every field provisional)."""

from __future__ import annotations

import datetime as dt

import attrs

from ._base import Model

__all__ = ["Target"]


@attrs.frozen(kw_only=True, repr=False)
class Target(Model):
    """A target a learner or legal entity is tracked against."""

    id: int | str | None = None
    name: str | None = None
    target: float | None = None
    achieved: float | None = None
    due_date: dt.date | None = None
    status: str | None = None
    candidate_id: int | None = None
    """Set on ``tracker.target.updated`` webhooks."""
