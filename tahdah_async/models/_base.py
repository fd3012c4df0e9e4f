"""The base of every model: unknown wire fields are kept in ``extra``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["Model", "wire"]


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    # One shared, read-only empty mapping: most models have no unknown fields.
    return _EMPTY


@attrs.frozen(kw_only=True, repr=False)
class Model:
    """Base of all Tahdah models.

    Attributes use snake_case; the converter maps them to camelCase wire names (or to the
    name given with :func:`wire`). Fields the SDK does not know are kept in ``extra`` when a
    model is read, and sent as they are when a model is written, so nothing is lost on a
    round trip.
    """

    extra: Mapping[str, Any] = attrs.field(factory=_empty, hash=False, repr=False, kw_only=True)
    """Wire fields the SDK does not know, by wire name. Known fields win over these."""

    def __repr__(self) -> str:
        """The fields that are set (not ``None``), and how many unknown ones ``extra`` holds."""
        shown = [
            f"{field.name}={value!r}"
            for field in attrs.fields(type(self))
            if field.name != "extra" and (value := getattr(self, field.name)) is not None
        ]
        if self.extra:
            shown.append(f"extra=<{len(self.extra)} field{'' if len(self.extra) == 1 else 's'}>")
        return f"{type(self).__qualname__}({', '.join(shown)})"

    def to_dict(self, *, wire: bool = False) -> dict[str, Any]:
        """Return the fields that are set as a dict.

        Args:
            wire: wire names and JSON-ready values (camelCase keys, ISO dates, the unknown
                fields of ``extra`` merged in), exactly as the model would be sent; by default
                Python names and values, nested models as dicts, and ``extra`` (when it holds
                anything) under ``"extra"``.
        """
        if wire:
            from .._converter import converter

            return converter.unstructure(self)  # type: ignore[no-any-return]
        out: dict[str, Any] = {}
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name)
            if field.name == "extra":
                if value:
                    out["extra"] = dict(value)
            elif value is not None:
                out[field.name] = _plain(value)
        return out

    def to_json(self) -> str:
        """Return the model as it would be sent: its wire dict as compact JSON."""
        return json.dumps(self.to_dict(wire=True), ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def wire(name: str) -> dict[str, str]:
    """Return field metadata that gives a field an exact wire name (such as ``t``)."""
    return {"wire": name}
