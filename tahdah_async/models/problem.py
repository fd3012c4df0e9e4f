"""The error body the API is expected to send (ASP.NET problem details; provisional)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import UNSET, Maybe
from ._base import Model

__all__ = ["ProblemDetails"]


@attrs.frozen(kw_only=True)
class ProblemDetails(Model):
    """An ``application/problem+json`` body (RFC 9457), as ASP.NET writes it."""

    type: Maybe[str] = UNSET
    title: Maybe[str] = UNSET
    status: Maybe[int] = UNSET
    detail: Maybe[str] = UNSET
    instance: Maybe[str] = UNSET
    trace_id: Maybe[str] = UNSET
    errors: Maybe[Mapping[str, tuple[str, ...]]] = UNSET
    """Validation messages by field name."""
