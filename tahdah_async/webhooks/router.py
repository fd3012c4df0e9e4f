"""Handler registration and dispatch: which handlers a delivery goes to, and running them.

No aiohttp here: a router takes a :class:`Delivery` and its decoded JSON and returns what
happened, so it can be driven from any web framework or from a test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeAlias, TypeVar, overload

import anyio
import attrs
import cattrs

from .._converter import converter, explain
from .._untrusted import peer_text
from ..models import Model
from .events import VERBS, UnknownEvent

__all__ = [
    "Delivery",
    "DispatchResult",
    "ErrorHandler",
    "Handler",
    "PayloadError",
    "WebhookRouter",
]

log = logging.getLogger("tahdah_async.webhooks")

_LOGGED_VERB = 128
"""The most characters of a verb a log line shows (the verb header is not signed)."""
_LOGGED_ERROR = 600
"""The most characters of a failed handler's error the log line's message shows."""

E = TypeVar("E")
EventType: TypeAlias = type[Model]


@attrs.frozen(kw_only=True)
class Delivery:
    """One webhook delivery as received, given to every handler beside its event."""

    verb: str
    """The ``Webhook-Verb`` header, as sent."""
    body: bytes = attrs.field(repr=False)
    """The raw body, exactly as signed."""
    headers: Mapping[str, str] = attrs.field(repr=False)
    body_sha256: str
    """The SHA-256 of the body, hex: with the verb, the key deliveries are deduplicated on."""
    secret_index: int
    """Which of the configured secrets signed the delivery (0 for the first)."""
    received_at: dt.datetime
    """When the delivery arrived (UTC)."""


Handler: TypeAlias = Callable[[E, Delivery], Awaitable[object]]
"""A handler: ``async def handle(event, delivery) -> None``."""
ErrorHandler: TypeAlias = Callable[[BaseException, Any, Delivery], Awaitable[object]]
"""An error handler: ``async def on_error(error, event, delivery) -> None``."""

_AnyHandler: TypeAlias = Callable[[Any, Delivery], Awaitable[object]]


class PayloadError(ValueError):
    """A signed delivery whose JSON does not fit its event type."""


@attrs.frozen
class _Registration:
    handler: _AnyHandler
    timeout: float | None


@attrs.frozen(kw_only=True)
class DispatchResult:
    """What dispatching one delivery did."""

    event: Any
    """The typed event (an :class:`UnknownEvent` when the verb is unknown)."""
    handled: int
    """How many handlers ran."""
    unknown: bool
    """Whether no event type and no verb handler knew the verb."""
    errors: tuple[BaseException, ...]
    """What the failed handlers raised (timeouts as ``TimeoutError``; a ``CancelledError`` a
    handler raised itself, not by the dispatch being cancelled, as it is)."""

    @property
    def ok(self) -> bool:
        """Whether every handler succeeded."""
        return not self.errors


_DEFAULT = object()


class WebhookRouter:
    """Registers coroutine handlers per event and dispatches deliveries to them.

    ::

        router = WebhookRouter(timeout=10)

        @router.on(TrustGroupMemberAdded)
        async def welcome(event: TrustGroupMemberAdded, delivery: Delivery) -> None: ...

    Handlers of one delivery run concurrently; if one fails, the others still complete and the
    delivery fails as a whole (so the sender retries it).

    Args:
        timeout: seconds each handler may take (``None``: no limit); ``on(..., timeout=)``
            sets it per registration.
    """

    def __init__(self, *, timeout: float | None = 30.0) -> None:
        self._timeout = _check_timeout(timeout)
        self._by_type: dict[type, list[_Registration]] = {}
        self._by_verb: dict[str, list[_Registration]] = {}
        self._any: list[_Registration] = []
        self._unknown: list[_Registration] = []
        self._error: list[ErrorHandler] = []
        self._aliases: dict[str, EventType] = {}
        self._included: list[WebhookRouter] = []
        self._cache: dict[tuple[str, type], tuple[int, list[_Registration], bool]] = {}
        self._types: dict[str, tuple[int, EventType | None]] = {}

    # -- registration ----------------------------------------------------------------------

    @overload
    def on(
        self, target: type[E], *, timeout: float | object | None = _DEFAULT
    ) -> Callable[[Handler[E]], Handler[E]]: ...

    @overload
    def on(
        self, target: str, *, timeout: float | object | None = _DEFAULT
    ) -> Callable[[Handler[Any]], Handler[Any]]: ...

    def on(
        self, target: type[Any] | str, *, timeout: float | object | None = _DEFAULT
    ) -> Callable[[Handler[Any]], Handler[Any]]:
        """Return a decorator registering a handler for an event type or a verb.

        Args:
            target: an event type (handlers of a base class get its subclasses too) or a
                ``Webhook-Verb`` string (compared case-insensitively).
            timeout: this handler's time limit, instead of the router's.
        """
        limit = self._timeout if timeout is _DEFAULT else _check_timeout(timeout)
        if isinstance(target, str):
            if not target.strip():
                raise ValueError("a verb must not be empty")
            bucket = self._by_verb.setdefault(_norm(target), [])
        elif isinstance(target, type):
            bucket = self._by_type.setdefault(target, [])
        else:
            raise TypeError(f"on() takes an event type or a verb, got {type(target).__name__}")

        def register(handler: Handler[Any]) -> Handler[Any]:
            registration = _Registration(_coroutine(handler), limit)
            _changed()  # when the handler is added, not when on() is called
            bucket.append(registration)
            return handler

        return register

    def on_any(self, handler: Handler[Any]) -> Handler[Any]:
        """Register a handler for every delivery, known verb or not (a bare decorator)."""
        _changed()
        self._any.append(_Registration(_coroutine(handler), self._timeout))
        return handler

    def on_unknown(self, handler: Handler[UnknownEvent]) -> Handler[UnknownEvent]:
        """Register a handler for deliveries whose verb nothing knows (a bare decorator)."""
        _changed()
        self._unknown.append(_Registration(_coroutine(handler), self._timeout))
        return handler

    def on_error(self, handler: ErrorHandler) -> ErrorHandler:
        """Register ``async def f(error, event, delivery)``, called when a handler fails.

        ``error`` may be a ``CancelledError`` the handler raised itself. The delivery still
        fails; an error handler that raises (``CancelledError`` too, unless the dispatch is being
        cancelled) is logged and ignored.
        """
        self._error.append(_coroutine(handler))
        return handler

    def alias(self, verb: str, event_type: EventType) -> None:
        """Map a verb to an event type, adding a verb or re-pointing a provisional one."""
        if not isinstance(verb, str) or not verb.strip():
            raise ValueError("a verb must be a non-empty string")
        if not (isinstance(event_type, type) and issubclass(event_type, Model)):
            raise TypeError("alias() needs an event model type")
        _changed()
        self._aliases[_norm(verb)] = event_type

    def include(self, other: WebhookRouter) -> None:
        """Add another router's handlers and aliases to this one (live: later additions count).

        Raises:
            ValueError: including a router in itself, directly or not.
        """
        if not isinstance(other, WebhookRouter):
            raise TypeError("include() takes a WebhookRouter")
        if other is self or self in other._walk():
            raise ValueError("a router cannot include itself")
        _changed()
        self._included.append(other)

    # -- lookup ----------------------------------------------------------------------------

    def event_type(self, verb: str) -> EventType | None:
        """Return the event type a verb maps to here, or ``None`` for an unknown verb."""
        key = _norm(verb)
        cached = self._types.get(key)
        if cached is not None and cached[0] == _VERSION[0]:
            return cached[1]
        found = self._find_event_type(verb)
        if len(key) <= _CACHED_VERB:  # the verb header is not signed: no cache for junk
            if len(self._types) >= _CACHE_SIZE:
                self._types.clear()
            self._types[key] = (_VERSION[0], found)
        return found

    def _find_event_type(self, verb: str) -> EventType | None:
        key = _norm(verb)
        for router in self._walk():
            if key in router._aliases:
                return router._aliases[key]
        return _DEFAULT_VERBS.get(key)

    def _walk(self) -> Iterator[WebhookRouter]:
        # Each router once, even when included along two paths, so no handler runs twice.
        seen: set[int] = set()
        stack: list[WebhookRouter] = [self]
        while stack:
            router = stack.pop()
            if id(router) in seen:
                continue
            seen.add(id(router))
            yield router
            stack.extend(reversed(router._included))

    def _handlers(self, verb: str, event: Any) -> tuple[list[_Registration], bool]:
        # Which handlers a (verb, event type) gets only changes when some router registers
        # something: look it up once per version of the registrations, not per delivery.
        key = _norm(verb)
        cache_key = (key, type(event))
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0] == _VERSION[0]:
            return cached[1], cached[2]
        registrations, unknown = self._find_handlers(verb, event)
        if len(key) <= _CACHED_VERB:  # the verb header is not signed: no cache for junk
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[cache_key] = (_VERSION[0], registrations, unknown)
        return registrations, unknown

    def _find_handlers(self, verb: str, event: Any) -> tuple[list[_Registration], bool]:
        key = _norm(verb)
        specific: list[_Registration] = []
        everything: list[_Registration] = []
        unknown: list[_Registration] = []
        for router in self._walk():
            specific.extend(router._by_verb.get(key, ()))
            if not isinstance(event, UnknownEvent):
                for cls in type(event).__mro__:
                    specific.extend(router._by_type.get(cls, ()))
            everything.extend(router._any)
            unknown.extend(router._unknown)
        is_unknown = isinstance(event, UnknownEvent) and not specific
        return (unknown if is_unknown else specific) + everything, is_unknown

    def is_unknown(self, verb: str, event: Any) -> bool:
        """Return whether no event type and no verb handler knows this delivery's verb."""
        return self._handlers(verb, event)[1]

    # -- dispatch --------------------------------------------------------------------------

    def parse(self, verb: str, payload: Any) -> Any:
        """Return the typed event for a verb and its decoded JSON.

        Raises:
            PayloadError: the JSON does not fit the verb's event type.
        """
        event_type = self.event_type(verb)
        if event_type is None:
            return UnknownEvent(verb=verb, data=payload)
        try:
            return converter.structure(payload, event_type)
        except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
            # explain() names paths and expected types, never values: this reaches the sender.
            detail = explain(exc)
            message = f"the payload does not fit {event_type.__name__}: {detail}"
            raise PayloadError(message) from None

    async def dispatch(self, event: Any, delivery: Delivery) -> DispatchResult:
        """Run every handler for ``event`` concurrently and report what happened.

        Handler exceptions are collected, not raised, and so is a ``CancelledError`` a handler
        raises itself (say, awaiting a task something else cancelled): the delivery fails and
        the other handlers finish. A cancellation of the dispatching task (shutdown, a client
        gone) cancels the handlers and propagates; ``KeyboardInterrupt`` and ``SystemExit``
        propagate too.
        """
        registrations, unknown = self._handlers(delivery.verb, event)
        errors: list[BaseException] = []

        async def run(registration: _Registration) -> None:
            requested = _cancel_requests()
            try:
                async with asyncio.timeout(registration.timeout):
                    await registration.handler(event, delivery)
            except BaseException as exc:
                if not _is_failure(exc, requested):
                    raise
                errors.append(exc)
                await self._report(exc, event, delivery)

        if len(registrations) == 1:
            # The common case needs no task group: run the one handler in this task.
            await run(registrations[0])
        elif registrations:
            async with anyio.create_task_group() as group:
                for registration in registrations:
                    group.start_soon(run, registration)
        return DispatchResult(
            event=event, handled=len(registrations), unknown=unknown, errors=tuple(errors)
        )

    async def _report(self, error: BaseException, event: Any, delivery: Delivery) -> None:
        log.error(
            "webhook handler failed for %s (sha256 %s): %s",
            peer_text(delivery.verb, limit=_LOGGED_VERB),  # the verb header is not signed
            delivery.body_sha256[:16],
            peer_text(repr(error), limit=_LOGGED_ERROR),
            exc_info=error,
        )
        for router in self._walk():
            for handler in router._error:
                requested = _cancel_requests()
                try:
                    await handler(error, event, delivery)
                except BaseException as exc:
                    if not _is_failure(exc, requested):
                        raise
                    log.exception("a webhook on_error handler failed")


_VERSION = [0]
"""Bumped by every registration in any router, so cached handler lookups stay exact."""
_CACHE_SIZE = 1024
_CACHED_VERB = 128
"""Verbs longer than this (no real one is) are looked up each time, never cached."""


def _changed() -> None:
    _VERSION[0] += 1


_DEFAULT_VERBS: Mapping[str, EventType] = {verb.lower(): cls for verb, cls in VERBS.items()}


def _cancel_requests() -> int:
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()


def _is_failure(error: BaseException, requested: int) -> bool:
    """Whether a handler's ``error`` is its failure, given the task's cancel requests before it.

    A ``CancelledError`` is this task's own cancellation (shutdown, a client gone) only if
    someone asked for one meanwhile; one a handler raised without that (it awaited a task
    something else cancelled) is the handler's failure. ``KeyboardInterrupt`` and
    ``SystemExit`` stop the process and are never a handler's failure.
    """
    if isinstance(error, asyncio.CancelledError):
        return _cancel_requests() <= requested
    return isinstance(error, Exception)


def _norm(verb: str) -> str:
    return verb.strip().lower()


def _check_timeout(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a handler timeout must be a number or None, got {type(value).__name__}")
    if not value > 0 or math.isinf(value):
        raise ValueError(f"a handler timeout must be positive and finite, got {value!r}")
    return float(value)


def _coroutine(handler: Any) -> Any:
    if not callable(handler):
        raise TypeError("a handler must be callable")
    if not inspect.iscoroutinefunction(handler) and not inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004
    ):
        raise TypeError(f"{handler!r} must be an async function (async def)")
    return handler
