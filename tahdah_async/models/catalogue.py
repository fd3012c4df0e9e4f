"""Catalogue entries (REFERENCE 2.8; webhook-only, every field provisional)."""

from __future__ import annotations

import datetime as dt

import attrs

from .._types import UNSET, Maybe
from ._base import Model

__all__ = ["CatalogueEntry"]


@attrs.frozen(kw_only=True)
class CatalogueEntry(Model):
    """An entry published to a catalogue."""

    id: Maybe[int | str] = UNSET
    catalogue_id: Maybe[int | str] = UNSET
    title: Maybe[str] = UNSET
    description: Maybe[str] = UNSET
    published_at: Maybe[dt.datetime] = UNSET
    price: Maybe[float] = UNSET
