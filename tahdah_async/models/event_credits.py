"""Event credits (REFERENCE 2.2)."""

from __future__ import annotations

import attrs

from ._base import Model

__all__ = ["EventTemplateCredit"]


def _non_zero(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
    if value == 0:
        raise ValueError(f"{attribute.name} must not be 0: positive adds credits, negative removes")


@attrs.frozen(kw_only=True, repr=False)
class EventTemplateCredit(Model):
    """A change to one event template's credit balance (documented field names)."""

    event_template_id: int | str
    """The event template whose balance changes."""
    number_of_credits: int = attrs.field(validator=_non_zero)
    """Credits to add (positive) or remove (negative); never 0."""
