"""The error body the API is expected to send (ASP.NET problem details; provisional)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._base import Model

__all__ = ["ProblemDetails"]


@attrs.frozen(kw_only=True, repr=False)
class ProblemDetails(Model):
    """An ``application/problem+json`` body (RFC 9457), as ASP.NET writes it."""

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    trace_id: str | None = None
    errors: Mapping[str, tuple[str, ...]] | None = None
    """Validation messages by field name."""
