"""The single cattrs converter: every rule about the wire lives here.

Rules, in order of importance:

1. **Names.** Model attributes are snake_case; on the wire they are camelCase, except where a
   field carries an exact wire name (``t``, ``companynumber``; see :func:`models.wire`).
2. **Open models.** Keys the SDK does not know are kept in ``extra`` when reading and sent back
   when writing; known fields win over ``extra`` on write.
3. **Absent and null read alike.** A key that is absent and a JSON ``null`` both read as
   ``None``, so a model field is a value or ``None``; a model writes only the fields that are
   set (a field at its ``None`` or ``UNSET`` default is not sent). A request body says
   ``null`` explicitly with a keyword or mapping that gives ``None``
   (:func:`tahdah_async.resources._base.body`).
4. **Dates.** ``date`` is ``YYYY-MM-DD`` (a date-time string is cut to its date);
   ``datetime`` is ISO 8601 with ``Z`` or an offset, any number of fraction digits.
5. **Scalars are checked, not guessed.** ``int``/``float`` accept numbers and numeric strings,
   ``str`` accepts strings and numbers (ids), ``bool`` accepts only booleans, lists only JSON
   arrays. Anything else is a decode error, never a silently mangled value, and error messages
   never quote the value (they reach logs and webhook responses).
6. **Numbers are finite.** ``NaN`` and the infinities (as floats, as strings such as
   ``"1e999"``, or integers too large for a float) are refused for ``float`` and ``str``
   fields: JSON has no such numbers, and the API answers 400 to them.

``make_converter(strict=True)`` builds the same converter but fails on unknown keys; tests run
recorded payloads through it so that drift between the models and the reference shows up.
"""

from __future__ import annotations

import datetime as dt
import math
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._types import UnsetType
from ._untrusted import peer_text
from .models._base import Model

__all__ = [
    "Problem",
    "StructureError",
    "converter",
    "explain",
    "make_converter",
    "problems",
    "structure",
    "to_camel",
    "wire_name",
]

T = TypeVar("T")

_NONE = type(None)
_PRIMITIVES: frozenset[type] = frozenset({int, float, str, bool})

PROBLEMS_SHOWN: Final = 10
"""How many problems :func:`explain` lists before it only counts the rest."""
_PROBLEM_LENGTH: Final = 200  # the longest account of one problem, in characters


def to_camel(name: str) -> str:
    """Return the camelCase wire name of a snake_case attribute name."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_name(field: attrs.Attribute[Any]) -> str:
    """Return the wire name of a model field: its ``wire`` metadata, else camelCase."""
    explicit = field.metadata.get("wire")
    return explicit if isinstance(explicit, str) else to_camel(field.name)


def _type_name(value: object) -> str:
    return type(value).__name__


def _parse(parse: Callable[[str], T], text: str, what: str) -> T:
    # Messages never quote the value: they reach logs and webhook responses.
    try:
        return parse(text)
    except ValueError:
        raise ValueError(f"expected {what}, got a string that is not one") from None


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("expected a finite number, got NaN or an infinity")
    return value


def _structure_str(value: object, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(_finite(value) if isinstance(value, float) else value)
    raise TypeError(f"expected a string, got {_type_name(value)}")


def _structure_int(value: object, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return _parse(int, value.strip(), "an integer")
    raise TypeError(f"expected an integer, got {_type_name(value)}")


def _structure_float(value: object, _: type) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _finite(float(value))
        except OverflowError:  # an int beyond the largest float
            raise ValueError("expected a finite number, got an integer too large") from None
    if isinstance(value, str):
        return _finite(_parse(float, value.strip(), "a number"))
    raise TypeError(f"expected a number, got {_type_name(value)}")


def _structure_bool(value: object, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {_type_name(value)}")


def _structure_date(value: object, _: type) -> dt.date:
    if isinstance(value, dt.datetime):
        raise TypeError("expected a date, got a datetime")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        if "T" in value:
            return _parse(dt.datetime.fromisoformat, value, "an ISO date").date()
        return _parse(dt.date.fromisoformat, value, "an ISO date")
    raise TypeError(f"expected an ISO date string, got {_type_name(value)}")


def _structure_datetime(value: object, _: type) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        return _parse(dt.datetime.fromisoformat, value, "an ISO date-time")
    raise TypeError(f"expected an ISO date-time string, got {_type_name(value)}")


def _unstructure_datetime(value: dt.datetime) -> str:
    text = value.isoformat()
    # The API writes UTC as "Z" (its examples do); keep other offsets as they are.
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _structure_any(value: Any, _: type) -> Any:
    return value


def _structure_mapping(value: object, _: type) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"expected an object, got {_type_name(value)}")


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _is_sequence(tp: Any) -> bool:
    return typing.get_origin(tp) in (tuple, list) and (
        typing.get_origin(tp) is list or typing.get_args(tp)[1:] == (...,)
    )


def _is_open_mapping(tp: Any) -> bool:
    # Only mappings of arbitrary JSON; typed mappings are left to cattrs' own hook.
    origin = typing.get_origin(tp) or tp
    return origin in (Mapping, dict, typing.Mapping) and typing.get_args(tp) in ((), (str, Any))


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and attrs.has(tp) and issubclass(tp, Model)


class _Rules:
    """Hook factories of one converter (kept together so ``strict`` is read in one place)."""

    def __init__(self, conv: cattrs.Converter, *, strict: bool) -> None:
        self.conv = conv
        self.strict = strict

    def union(self, tp: Any) -> Callable[[Any, Any], Any]:
        arms = [a for a in typing.get_args(tp) if a is not UnsetType]
        nullable = _NONE in arms
        rest = tuple(a for a in arms if a is not _NONE)
        if len(rest) == 1:
            (inner,) = rest
            hook = self.conv.get_structure_hook(inner)

            def one(value: Any, _: Any) -> Any:
                if value is None:
                    if nullable:
                        return None
                    raise TypeError("null is not allowed here")
                return hook(value, inner)

            return one
        if all(a in _PRIMITIVES for a in rest):
            exact = frozenset(rest)
            names = " or ".join(a.__name__ for a in rest)

            def primitive(value: Any, _: Any) -> Any:
                if value is None and nullable:
                    return None
                if type(value) in exact:
                    return _finite(value) if type(value) is float else value
                raise TypeError(f"expected {names}, got {_type_name(value)}")

            return primitive
        raise cattrs.StructureHandlerNotFoundError(f"no rule for the union {tp!r}", tp)

    def sequence(self, tp: Any) -> Callable[[Any, Any], Any]:
        # cattrs would build a tuple from any iterable, splitting a string into characters.
        (item,) = typing.get_args(tp)[:1]
        hook = self.conv.get_structure_hook(item)
        kind = typing.get_origin(tp)

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected a list, got {_type_name(value)}")
            try:  # the common case, without per-item bookkeeping
                return kind([hook(element, item) for element in value])
            except Exception:
                pass
            out, errors = [], []
            for index, element in enumerate(value):
                try:
                    out.append(hook(element, item))
                except Exception as exc:
                    exc.__notes__ = [
                        *getattr(exc, "__notes__", []),
                        IterableValidationNote(f"Structuring item @ index {index}", index, item),
                    ]
                    errors.append(exc)
            if errors:
                raise IterableValidationError(f"While structuring {tp!r}", errors, tp)
            return kind(out)

        return structure

    def structure_model(self, cls: type[Model]) -> Callable[[Any, Any], Model]:
        detailed = self._detailed_structure(cls)
        return _fast_structure(cls, self.conv, detailed, strict=self.strict)

    def _detailed_structure(self, cls: type[Model]) -> Callable[[Any, Any], Model]:
        """The careful path: cattrs' generated function, collecting every error with its path."""
        fields = [f for f in attrs.fields(cls) if f.name != "extra"]
        names = {f.name: wire_name(f) for f in fields}
        known = frozenset(names.values())
        overrides: dict[str, Any] = {name: override(rename=w) for name, w in names.items()}
        # The unknown keys travel into ``extra`` through the constructor, under a key that can
        # never be a wire name, so the models stay frozen and nothing is set behind attrs' back.
        overrides["extra"] = override(rename=_EXTRA_KEY)
        build = make_dict_structure_fn(cls, self.conv, _cattrs_forbid_extra_keys=False, **overrides)
        strict = self.strict
        qualname = cls.__qualname__

        def structure(data: Any, _: Any) -> Model:
            if not isinstance(data, Mapping):
                raise TypeError(f"expected an object for {qualname}, got {_type_name(data)}")
            unknown = data.keys() - known
            if unknown:
                if strict:
                    raise cattrs.ForbiddenExtraKeysError(
                        f"unknown keys for {qualname}", cls, set(unknown)
                    )
                data = {**data, _EXTRA_KEY: {k: data[k] for k in data if k in unknown}}
            return build(data, cls)

        return structure

    def unstructure_model(self, cls: type[Model]) -> Callable[[Model], dict[str, Any]]:
        overrides: dict[str, Any] = {
            f.name: override(rename=wire_name(f)) for f in attrs.fields(cls) if f.name != "extra"
        }
        overrides["extra"] = override(omit=True)
        dump = make_dict_unstructure_fn(cls, self.conv, _cattrs_omit_if_default=False, **overrides)
        unset = [
            (f.name, wire_name(f))
            for f in attrs.fields(cls)
            if f.name != "extra" and (f.default is None or f.default is UnsetType.UNSET)
        ]

        def unstructure(obj: Model) -> dict[str, Any]:
            out = dump(obj)
            # Drop what is not set: a field at its None or UNSET default is not sent.
            for name, key in unset:
                value = getattr(obj, name)
                if value is None or value is UnsetType.UNSET:
                    del out[key]
            if obj.extra:
                return {**obj.extra, **out}
            return out

        return unstructure


_EXTRA_KEY = "\x00extra"


def _fast_structure(
    cls: type[Model],
    conv: cattrs.Converter,
    detailed: Callable[[Any, Any], Model],
    *,
    strict: bool,
) -> Callable[[Any, Any], Model]:
    """Compile the fast path of a model's structure hook; anything unusual takes ``detailed``.

    Decoding thousands of objects is the SDK's hottest loop, and cattrs' careful function
    wraps every field in its own error bookkeeping. The fast path is straight-line code: a
    plain ``dict`` with known keys, each value checked inline for the common JSON types and
    handed to the converter's hook otherwise. The first exception of any kind (a wrong type, a
    bad date, a validator, a missing field) reruns the object through ``detailed``, which
    applies the same rules and raises the error with its path, so both paths agree by
    construction and errors cost nothing until they happen.
    """
    names: dict[str, Any] = {
        "cls": cls,
        "detailed": detailed,
        "dict_type": dict,
        "fromiso": dt.datetime.fromisoformat,
    }
    known = frozenset(wire_name(f) for f in attrs.fields(cls) if f.name != "extra")
    names["known"] = known
    lines = [
        "def structure(o, _):",
        "    if type(o) is not dict_type:",
        "        return detailed(o, _)",
        "    extra = None",
        "    if not o.keys() <= known:",
    ]
    lines += (
        ["        return detailed(o, _)"]
        if strict
        else ["        extra = {k: v for k, v in o.items() if k not in known}"]
    )
    fields = [f for f in attrs.fields(cls) if f.name != "extra"]
    # A class whose __init__ only assigns (no validator, converter or post-init hook) is
    # built by assigning its slots directly, as attrs' own __init__ would.
    direct = not hasattr(cls, "__attrs_post_init__") and all(
        f.validator is None and f.converter is None for f in attrs.fields(cls)
    )
    names["new"] = object.__new__
    names["assign"] = object.__setattr__
    names["no_extra"] = attrs.fields(cls).extra.default.factory()
    lines += ["    try:"]
    lines += ["        self = new(cls)"] if direct else ["        kw = {}"]
    for index, field in enumerate(fields):
        key = wire_name(field)
        hook, tp = f"h{index}", f"t{index}"
        names[hook] = conv.get_structure_hook(field.type)
        names[tp] = field.type
        value = _inline(field.type, "v", f"{hook}(v, {tp})", names, index)
        lines += [f"        if {key!r} in o:", f"            v = o[{key!r}]"]
        if not direct:
            lines += [f"            kw[{field.name!r}] = {value}"]
            continue
        lines += [f"            assign(self, {field.name!r}, {value})"]
        default = field.default
        if default is attrs.NOTHING:
            lines += ["        else:", f"            raise KeyError({key!r})"]
        elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            names[f"d{index}"] = default.factory
            lines += ["        else:", f"            assign(self, {field.name!r}, d{index}())"]
        else:
            names[f"d{index}"] = default
            lines += ["        else:", f"            assign(self, {field.name!r}, d{index})"]
    if direct:
        lines += [
            "        assign(self, 'extra', extra if extra else no_extra)",
            "        return self",
        ]
    else:
        lines += [
            "        if extra:",
            "            kw['extra'] = extra",
            "        return cls(**kw)",
        ]
    lines += [
        "    except Exception:",
        "        return detailed(o, _)",
    ]
    source = "\n".join(lines)
    exec(compile(source, f"<tahdah_async structure {cls.__qualname__}>", "exec"), names)
    return names["structure"]  # type: ignore[no-any-return]


def _inline(tp: Any, var: str, fallback: str, names: dict[str, Any], index: int) -> str:
    """An expression converting ``var`` of type ``tp`` for the common cases, else ``fallback``.

    Only cases whose result is exactly what the hooks would return are inlined.
    """
    if _is_union(tp):
        arms = [a for a in typing.get_args(tp) if a is not UnsetType]
        nullable = _NONE in arms
        rest = tuple(a for a in arms if a is not _NONE)
        inner = _inline(rest[0], var, fallback, names, index) if len(rest) == 1 else fallback
        if len(rest) > 1 and all(a in _PRIMITIVES for a in rest):
            names[f"exact{index}"] = frozenset(rest) - {float}  # floats: the hook checks them
            inner = f"({var} if type({var}) in exact{index} else {fallback})"
        return f"(None if {var} is None else {inner})" if nullable else inner
    if _is_sequence(tp) and typing.get_args(tp)[0] in (str, int, bool):
        # A list of exact primitives: each item is taken as it is, and so is the list.
        names[f"kind{index}"] = typing.get_origin(tp)
        names[f"items{index}"] = frozenset(typing.get_args(tp)[:1])
        exact = f"type({var}) is list and set(map(type, {var})) <= items{index}"
        return f"(kind{index}({var}) if {exact} else {fallback})"
    if tp is float:
        # The hook refuses NaN and the infinities: only a finite float is taken as it is.
        names["isfinite"] = math.isfinite
        return f"({var} if type({var}) is float and isfinite({var}) else {fallback})"
    if tp in (str, int, bool):
        names[f"prim{index}"] = tp
        return f"({var} if type({var}) is prim{index} else {fallback})"
    if tp is dt.datetime:
        return f"(fromiso({var}) if type({var}) is str else {fallback})"
    return fallback


@attrs.frozen
class Problem:
    """One way a value did not fit its type: where, and what was wrong (never the value)."""

    path: str
    """Where, in Python names: ``$.roles[0].name`` (``$`` is the value itself)."""
    wire_path: str
    """Where, in wire names: ``roles[0].name`` (``""`` for the value itself)."""
    message: str
    """What was wrong, such as ``expected an integer, got a string that is not one``."""
    missing: bool = False
    """Whether a required field was absent."""


def problems(error: BaseException) -> list[Problem]:
    """Return every problem of a structuring error, each with its paths."""
    return list(_walk(error, "$", ""))


def _walk(error: BaseException, path: str, wire: str) -> Iterator[Problem]:
    if isinstance(error, cattrs.ClassValidationError):
        names = {f.name: wire_name(f) for f in attrs.fields(error.cl)}
        with_notes, without = error.group_exceptions()
        for inner, note in with_notes:
            name = names.get(note.name, note.name)
            where, wire_where = f"{path}.{note.name}", f"{wire}.{name}" if wire else name
            if isinstance(inner, KeyError):
                yield Problem(where, wire_where, "required field missing", missing=True)
            else:
                yield from _walk(inner, where, wire_where)
        for inner in without:
            yield from _walk(inner, path, wire)
    elif isinstance(error, cattrs.IterableValidationError):
        with_index, without = error.group_exceptions()
        for inner, index_note in with_index:
            at = f"[{index_note.index}]"
            yield from _walk(inner, path + at, wire + at)
        for inner in without:
            yield from _walk(inner, path, wire)
    else:
        yield Problem(path, wire, str(error) or type(error).__name__, isinstance(error, KeyError))


def explain(error: BaseException, *, limit: int = PROBLEMS_SHOWN) -> str:
    """Return a bounded one-line account of a structuring error: problems with their paths.

    At most ``limit`` problems are listed, each through :func:`~tahdah_async._untrusted.peer_text`
    (a path can hold a key the peer chose); the others are only counted ("... and 7,990 more
    problems"), so the message stays short however many items were wrong. Every problem is in
    :func:`problems` (and on :attr:`StructureError.problems`).
    """
    found = error.problems if isinstance(error, StructureError) else problems(error)
    shown = [
        peer_text(f"{problem.message} @ {problem.path}", limit=_PROBLEM_LENGTH)
        for problem in found[: max(limit, 1)]
    ]
    text = "; ".join(shown)
    more = len(found) - len(shown)
    if more:
        text += f"; ... and {more:,} more problem{'' if more == 1 else 's'}"
    return text


class StructureError(ValueError):
    """Data that does not fit the type it was read into: every problem, with its path.

    ``str()`` is the bounded account of :func:`explain`; ``problems`` has them all. The
    messages never quote the data (they reach logs, webhook answers and error messages).
    """

    def __init__(self, into: Any, found: list[Problem]) -> None:
        self.into = into
        self.problems = found
        super().__init__(explain(self))


def structure(data: Any, into: type[T]) -> T:
    """Read ``data`` into ``into`` with the SDK's converter: the one entry point for it.

    Raises:
        StructureError: the data does not fit (a ``ValueError``).
    """
    try:
        return converter.structure(data, into)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise StructureError(into, problems(exc)) from exc


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """Build a converter with every Tahdah wire rule.

    Args:
        strict: fail on keys a model does not know instead of keeping them in ``extra``.
    """
    conv = cattrs.Converter()
    rules = _Rules(conv, strict=strict)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(dt.date, _structure_date)
    conv.register_structure_hook(dt.datetime, _structure_datetime)
    conv.register_structure_hook_func(lambda t: t is Any, _structure_any)
    conv.register_structure_hook_func(_is_open_mapping, _structure_mapping)
    conv.register_unstructure_hook(dt.date, dt.date.isoformat)
    conv.register_unstructure_hook(dt.datetime, _unstructure_datetime)
    conv.register_structure_hook_factory(_is_sequence, rules.sequence)
    conv.register_structure_hook_factory(_is_union, rules.union)
    conv.register_structure_hook_factory(_is_model, rules.structure_model)
    conv.register_unstructure_hook_factory(_is_model, rules.unstructure_model)
    return conv


converter = make_converter()
"""The converter the whole SDK uses."""
