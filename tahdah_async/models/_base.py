"""The base of every model: unknown wire fields are kept in ``extra``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["Model", "wire"]


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    # One shared, read-only empty mapping: most models have no unknown fields.
    return _EMPTY


@attrs.frozen(kw_only=True)
class Model:
    """Base of all Tahdah models.

    Attributes use snake_case; the converter maps them to camelCase wire names (or to the
    name given with :func:`wire`). Fields the SDK does not know are kept in ``extra`` when a
    model is read, and sent as they are when a model is written, so nothing is lost on a
    round trip.
    """

    extra: Mapping[str, Any] = attrs.field(factory=_empty, hash=False, repr=False, kw_only=True)
    """Wire fields the SDK does not know, by wire name. Known fields win over these."""


def wire(name: str) -> dict[str, str]:
    """Return field metadata that gives a field an exact wire name (such as ``t``)."""
    return {"wire": name}
