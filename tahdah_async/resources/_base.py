"""What every resource shares: the client reference and turning arguments into bodies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._checks import check_fields, check_id, check_ids, check_model, check_wire_fields
from .._converter import StructureError, converter, structure
from .._decode import decode
from .._response import Response
from .._types import UNSET
from ..errors import ResponseDecodeError
from ..models import Model

if TYPE_CHECKING:
    from .._base_client import BaseClient

__all__ = [
    "Resource",
    "bodies",
    "body",
    "check_id",
    "check_ids",
    "created",
    "created_id",
    "given",
]

M = TypeVar("M", bound=Model)


class Resource:
    """One API area of a client (``tahdah.trust_groups``, ...)."""

    __slots__ = ("_client",)

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


def body(
    model: type[M], value: M | Mapping[str, Any] | None, fields: Mapping[str, Any], *, what: str
) -> tuple[M, dict[str, Any]]:
    """Return a request body as a model and as wire data, checked before anything is sent.

    ``value`` is a model instance, a mapping of wire fields (camelCase keys; unknown keys are
    sent as given), or ``None`` with ``fields`` as the model's keyword arguments. Every known
    field must hold its type's kind of value already (:mod:`tahdah_async._checks`): nothing
    is converted on the way out. A model sends the fields that are set; a keyword or a
    mapping key given ``None`` is sent as ``null`` (how an update clears a field).

    Raises:
        TypeError: a value of the wrong kind, an unknown keyword field, or both ``value`` and
            ``fields``.
        ValueError: values that do not fit the model.
    """
    if value is not None and fields:
        raise TypeError(f"give the {what} as an argument or as keyword arguments, not both")
    if value is None:
        if not fields:
            raise TypeError(f"the {what} is required")
        nulls = check_fields(model, fields, what=what)
        value = model(**fields)
    else:
        nulls = []
    if isinstance(value, model):
        check_model(value, what=what)
        data = {**converter.unstructure(value), **dict.fromkeys(nulls)}
    elif isinstance(value, Mapping):
        data = dict(value)
        check_wire_fields(model, data, what=what)
    else:
        raise TypeError(
            f"the {what} must be a {model.__name__} or a mapping, got {type(value).__name__}"
        )
    # One round trip for every form: what is sent is exactly what passed the check, and the
    # nulls asked for (a field that is None is otherwise not sent).
    instance = _check(model, data, what)
    sent = converter.unstructure(instance)
    for key, given in data.items():
        if given is None:
            sent.setdefault(key, None)
    return instance, sent


def bodies(
    model: type[M], values: Iterable[M | Mapping[str, Any]], *, what: str
) -> list[dict[str, Any]]:
    """Return a non-empty list of bodies, each checked as by :func:`body`.

    Raises:
        TypeError: a string or non-iterable given instead of a list of items.
        ValueError: an empty list, or an item that does not fit the model.
    """
    if isinstance(values, str | bytes | Mapping | Model) or not isinstance(values, Iterable):
        raise TypeError(f"{what} must be a list of {model.__name__}, got {type(values).__name__}")
    out = []
    for index, item in enumerate(values):
        if item is None:
            raise TypeError(f"{what}[{index}] is None")
        out.append(body(model, item, {}, what=f"{what}[{index}]")[1])
    if not out:
        raise ValueError(f"{what} must not be empty")
    return out


def _check(model: type[M], data: dict[str, Any], what: str) -> M:
    try:
        return structure(data, model)
    except StructureError as exc:
        raise ValueError(f"invalid {what}: {exc}") from None


def created(response: Response, sent: M) -> M:
    """Return what a create call made: the body's model, or ``sent`` with the returned id.

    The create responses are not documented: an object is read as the created model, a bare
    id gives back the sent model with that id, and an empty body the sent model as it is.
    """
    data: Any = decode(response, Any)
    if isinstance(data, Mapping):
        return decode(response, type(sent))
    if data is None:
        return sent
    wire = {**converter.unstructure(sent), "id": _id(response, data)}
    try:  # the id as the model types it (a candidate's "7" is 7)
        return structure(wire, type(sent))
    except StructureError as exc:
        raise ResponseDecodeError(
            f"the {response.status} response to {response.method} {response.url.path} "
            f"carries an id that does not fit {type(sent).__name__}: {exc}",
            response=response,
        ) from None


def created_id(response: Response) -> int | str:
    """Return the id a create call returned: a bare id, or the ``id`` of an object."""
    data: Any = decode(response, Any)
    if isinstance(data, Mapping):
        data = data.get("id")
    return _id(response, data)


def _id(response: Response, value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ResponseDecodeError(
            f"the {response.status} response to {response.method} {response.url.path} "
            f"carries no id",
            response=response,
        )
    return value


def given(value: object) -> bool:
    """Return whether a field was given a usable value (not UNSET, None or blank)."""
    if value is UNSET or value is None:
        return False
    return not (isinstance(value, str) and not value.strip())
