"""Catalogue entries (REFERENCE 2.8; webhook-only, every field provisional)."""

from __future__ import annotations

import datetime as dt

import attrs

from ._base import Model

__all__ = ["CatalogueEntry"]


@attrs.frozen(kw_only=True, repr=False)
class CatalogueEntry(Model):
    """An entry published to a catalogue."""

    id: int | str | None = None
    catalogue_id: int | str | None = None
    title: str | None = None
    description: str | None = None
    published_at: dt.datetime | None = None
    price: float | None = None
