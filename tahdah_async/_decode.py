"""Reading a response body into the type a call returns."""

from __future__ import annotations

from typing import Any, TypeVar

from ._converter import StructureError, structure
from ._response import Response
from .errors import ResponseDecodeError

__all__ = ["decode"]

T = TypeVar("T")


def decode(response: Response, into: type[T] | Any) -> T:
    """Decode a response body into ``into`` with the SDK's converter.

    Raises:
        ResponseDecodeError: the body is not JSON, or does not fit the type.
    """
    try:
        data = response.json()
    except (ValueError, RecursionError) as exc:
        raise ResponseDecodeError(
            f"the {response.status} response to {_where(response)} is not JSON",
            response=response,
        ) from exc
    if into is Any:
        return data  # type: ignore[no-any-return]
    try:
        return structure(data, into)  # type: ignore[no-any-return]
    except StructureError as exc:
        raise ResponseDecodeError(
            f"the {response.status} response to {_where(response)} does not fit "
            f"{_type_label(into)}: {exc}",
            response=response,
        ) from exc


def _where(response: Response) -> str:
    return f"{response.method} {response.url.path}"


def _type_label(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("tahdah_async.models.", "")
