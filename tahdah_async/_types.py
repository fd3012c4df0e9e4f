"""Small shared types: the UNSET sentinel and the id alias."""

from __future__ import annotations

import enum
from typing import Final, Literal, TypeAlias, TypeVar

__all__ = ["UNSET", "Id", "Maybe", "UnsetType"]

T = TypeVar("T")


class UnsetType(enum.Enum):
    """The type of :data:`UNSET`: a field that was not given (not sent, not received)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> Literal[False]:
        return False


UNSET: Final = UnsetType.UNSET
"""Marks a field that was not given. Unlike ``None`` (sent as JSON ``null``) it is never sent."""

Maybe: TypeAlias = T | UnsetType | None
"""A field that may be absent (``UNSET``), ``null`` (``None``) or a value."""

Id: TypeAlias = int | str
"""An id as it goes into a path: Tahdah uses integers and strings for ids."""
