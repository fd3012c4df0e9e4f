"""Checks of what callers pass in: counts, durations, ids, and body fields against their
model's types. Every argument of these kinds in the package is checked here, so the rules and
the messages are the same everywhere.

A body field is checked for its exact kind before anything is sent, and never converted: a
``str`` field given ``42`` is a ``TypeError``, not ``"42"`` on the wire. (Responses are read
more leniently by the converter, since the API is not always exact about its own types.)
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ._converter import wire_name
from ._types import UNSET, Id, UnsetType
from .models import Model

__all__ = [
    "check_count",
    "check_fields",
    "check_id",
    "check_ids",
    "check_model",
    "check_seconds",
    "check_wire_fields",
]

_Check = Callable[[Any], bool]


def check_count(value: object, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int of at least ``minimum`` (a size, a limit, a count).

    Raises:
        TypeError: not an int (a bool is not one).
        ValueError: less than ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@typing.overload
def check_seconds(value: object, name: str) -> float: ...


@typing.overload
def check_seconds(value: object, name: str, *, optional: typing.Literal[True]) -> float | None: ...


def check_seconds(value: object, name: str, *, optional: bool = False) -> float | None:
    """Return ``value`` as a float if it is a positive, finite number of seconds.

    Args:
        optional: ``None`` (no limit) is allowed too.

    Raises:
        TypeError: not a number (a bool is not one).
        ValueError: zero, negative, infinite or NaN.
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        allowed = " or None" if optional else ""
        raise TypeError(f"{name} must be a number of seconds{allowed}, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def check_id(value: Id, name: str) -> Id:
    """Return ``value`` if it is a usable id (a non-empty int or str) for a body or query.

    Raises:
        TypeError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise TypeError(f"{name} must be a non-empty int or str id, got {value!r}")
    return value


def check_ids(values: Iterable[Id] | None, name: str) -> list[Id] | None:
    """Return a non-empty list of ids (``None`` stays ``None``).

    Each item must be one id: one holding ``,`` would be read as several ids where the list
    is sent comma-separated (a query), so it is refused everywhere.

    Raises:
        TypeError: a single value (or a mapping) instead of a list, or an item that is not an
            id.
        ValueError: an empty list, or an item holding ``,``.
    """
    if values is None:
        return None
    if isinstance(values, str | bytes | bytearray | Mapping) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of ids, not a single value")
    ids = [check_id(value, f"{name} item") for value in values]
    if not ids:
        raise ValueError(f"{name} must not be empty (pass None instead)")
    for value in ids:
        if "," in str(value):
            # Sent comma-separated in a query, "1,2" would be two ids: one item, one id.
            raise ValueError(f"{name} item {str(value)!r:.40} must not contain ','")
    return ids


def check_fields(model: type[Model], fields: Mapping[str, Any], *, what: str) -> list[str]:
    """Check keyword fields (Python names) against ``model``'s field types.

    ``UNSET`` means "not given" and passes; ``None`` (sent as ``null``) passes where the
    field allows it, which every body field does.

    Returns:
        The wire names of the fields given ``None``: the nulls the body must send.

    Raises:
        TypeError: a name the model does not have, or a value of the wrong kind.
    """
    table = _fields(model)
    nulls = []
    for name, value in fields.items():
        field = table.get(name)
        if field is None:
            raise TypeError(f"{what} has no field {name!r}{_did_you_mean(name, table)}")
        field.check(value, what)
        if value is None:
            nulls.append(field.wire)
    return nulls


def check_model(instance: Model, *, what: str) -> None:
    """Check the fields of a model instance as :func:`check_fields` checks keywords.

    Raises:
        TypeError: a field holding a value of the wrong kind.
    """
    for name, field in _fields(type(instance)).items():
        field.check(getattr(instance, name), what)


def check_wire_fields(model: type[Model], data: Mapping[str, Any], *, what: str) -> None:
    """Check the known fields of a wire mapping (camelCase keys); unknown keys pass.

    Raises:
        TypeError: a known field holding a value of the wrong kind.
    """
    by_wire = _wire_fields(model)  # dates may be ISO strings here: they are on the wire
    for key, value in data.items():
        field = by_wire.get(key) if isinstance(key, str) else None
        if field is not None:
            field.check(value, what)


@attrs.frozen
class _Field:
    name: str
    wire: str
    accepts: _Check
    expected: str

    def check(self, value: Any, what: str) -> None:
        if value is UNSET or self.accepts(value):
            return
        raise TypeError(
            f"{what} field {self.name!r} must be {self.expected}, got {type(value).__name__}"
        )


def _fields(model: type[Model]) -> Mapping[str, _Field]:
    """The model's fields by Python name, as keywords and instances are checked."""
    return _table(model, wire=False)


def _wire_fields(model: type[Model]) -> Mapping[str, _Field]:
    """The model's fields by wire name, as mappings are checked."""
    return _table(model, wire=True)


_TABLES: dict[tuple[type[Model], bool], Mapping[str, _Field]] = {}


def _table(model: type[Model], *, wire: bool) -> Mapping[str, _Field]:
    table = _TABLES.get((model, wire))
    if table is None:
        hints = typing.get_type_hints(model)
        table = _TABLES[model, wire] = types.MappingProxyType(
            {
                (wire_name(f) if wire else f.name): _Field(
                    f.name, wire_name(f), *_rule(hints[f.name], wire=wire)
                )
                for f in attrs.fields(model)
                if f.name != "extra"
            }
        )
    return table


def _rule(tp: Any, *, wire: bool) -> tuple[_Check, str]:
    """What a body field of type ``tp`` accepts, and how to say it.

    With ``wire``, a date or date-time may also be its ISO string (the converter parses it
    and refuses a string that is not one).
    """
    if tp is Any:
        return (lambda value: True), "anything"
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        rules = [_rule(arm, wire=wire) for arm in typing.get_args(tp) if arm is not UnsetType]
        checks = tuple(check for check, _ in rules)
        expected = " or ".join(text for _, text in rules)
        return (lambda value: any(check(value) for check in checks)), expected
    if tp is type(None):
        return (lambda value: value is None), "None"
    if tp is bool:
        return (lambda value: isinstance(value, bool)), "a bool"
    if tp is int:
        return (lambda value: isinstance(value, int) and not isinstance(value, bool)), "an int"
    if tp is float:
        return _is_number, "a number"
    if tp is str:
        return (lambda value: isinstance(value, str)), "a str"
    if tp is dt.datetime:
        if wire:
            return (lambda value: isinstance(value, dt.datetime | str)), "a datetime or str"
        return (lambda value: isinstance(value, dt.datetime)), "a datetime"
    if tp is dt.date:
        if wire:
            return (lambda value: _is_date(value) or isinstance(value, str)), "a date or str"
        return _is_date, "a date"
    if typing.get_origin(tp) in (tuple, list):
        item, expected = _rule(typing.get_args(tp)[0], wire=wire)
        return _sequence_of(item), f"a list of ({expected})"
    if isinstance(tp, type) and issubclass(tp, Model):
        model: type[Model] = tp
        return (lambda value: isinstance(value, model | Mapping)), f"a {tp.__name__} or a mapping"
    if typing.get_origin(tp) in (Mapping, dict) or tp in (Mapping, dict):
        return (lambda value: isinstance(value, Mapping)), "a mapping"
    raise TypeError(f"no body check for the field type {tp!r}")  # a new model field type


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _sequence_of(item: _Check) -> _Check:
    def accepts(value: Any) -> bool:
        return isinstance(value, list | tuple) and all(item(element) for element in value)

    return accepts


def _did_you_mean(name: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
