"""What the request hooks receive: one value per request, response and retry."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeAlias, TypeVar

import attrs
from yarl import URL

from ._response import Response
from .errors import TahdahError

__all__ = ["Hook", "RequestEvent", "ResponseEvent", "RetryEvent", "call_hooks"]

E = TypeVar("E")

Hook: TypeAlias = Callable[[E], Awaitable[None] | None]
"""A hook: a plain function or a coroutine function taking one event."""


@attrs.frozen(kw_only=True)
class RequestEvent:
    """An attempt is about to be sent."""

    operation: str | None
    """The SDK call name (``"trust_groups.list"``), or ``None`` for ``client.request``."""
    method: str
    url: URL
    attempt: int
    """1 for the first attempt, 2 for the first retry, …"""
    headers: Mapping[str, str] = attrs.field(repr=False)
    """The request headers, with ``Authorization`` redacted."""


@attrs.frozen(kw_only=True)
class ResponseEvent:
    """A response arrived (any status)."""

    request: RequestEvent
    response: Response


@attrs.frozen(kw_only=True)
class RetryEvent:
    """An attempt failed and will be retried after ``delay`` seconds."""

    request: RequestEvent
    """The attempt that failed."""
    error: TahdahError
    """What went wrong: a status error or a connection error."""
    reason: str
    delay: float


async def call_hooks(hooks: tuple[Hook[E], ...], event: E) -> None:
    """Call each hook in order, awaiting those that return an awaitable."""
    for hook in hooks:
        result = hook(event)
        if inspect.isawaitable(result):
            await result
