"""Handler registration and dispatch: which handlers a delivery goes to, and running them.

No aiohttp here: a router takes a :class:`Delivery` and its decoded JSON and returns what
happened, so it can be driven from any web framework or from a test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any, TypeAlias, TypeVar, overload

import attrs
import cattrs

from .._checks import check_seconds
from .._converter import StructureError, converter, problems
from .._untrusted import peer_text
from ..models import Model
from ._limits import TimeLimit
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
    # Given when known (deduplication computed it); otherwise computed on first use.
    _body_sha256: str | None = attrs.field(
        default=None, alias="body_sha256", repr=False, eq=False, hash=False
    )
    secret_index: int
    """Which of the configured secrets signed the delivery (0 for the first)."""
    received_at: dt.datetime
    """When the delivery arrived (UTC)."""
    attempt: int = 1
    """Which run of the handlers this is: 1 on the first. From an inbox it counts the row's
    claims, so a run after a failure or an expired lease sees a higher number."""
    inbox_id: int | None = None
    """The delivery's row in the inbox (``None`` without one): a handler can key its own
    idempotency on it."""

    @property
    def body_sha256(self) -> str:
        """The SHA-256 of the body, hex: the key deliveries are deduplicated on."""
        if self._body_sha256 is None:
            object.__setattr__(self, "_body_sha256", hashlib.sha256(self.body).hexdigest())
        assert self._body_sha256 is not None
        return self._body_sha256


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
    limit: TimeLimit | None = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: _limit(self.timeout), takes_self=True),
        eq=False,
        repr=False,
    )


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
        self._table: _Table | None = None
        self._frozen = False

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

        Raises:
            RuntimeError: the router is in use already (see :meth:`resolve`).
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
            self._check_open()  # when the handler is added, not when on() is called
            bucket.append(registration)
            return handler

        return register

    def on_any(self, handler: Handler[Any]) -> Handler[Any]:
        """Register a handler for every delivery, known verb or not (a bare decorator)."""
        registration = _Registration(_coroutine(handler), self._timeout)
        self._check_open()
        self._any.append(registration)
        return handler

    def on_unknown(self, handler: Handler[UnknownEvent]) -> Handler[UnknownEvent]:
        """Register a handler for deliveries whose verb nothing knows (a bare decorator)."""
        registration = _Registration(_coroutine(handler), self._timeout)
        self._check_open()
        self._unknown.append(registration)
        return handler

    def on_error(self, handler: ErrorHandler) -> ErrorHandler:
        """Register ``async def f(error, event, delivery)``, called when a handler fails.

        ``error`` may be a ``CancelledError`` the handler raised itself. The delivery still
        fails; an error handler that raises (``CancelledError`` too, unless the dispatch is being
        cancelled) is logged and ignored.
        """
        checked = _coroutine(handler)
        self._check_open()
        self._error.append(checked)
        return handler

    def alias(self, verb: str, event_type: EventType) -> None:
        """Map a verb to an event type, adding a verb or re-pointing a provisional one."""
        if not isinstance(verb, str) or not verb.strip():
            raise ValueError("a verb must be a non-empty string")
        if not (isinstance(event_type, type) and issubclass(event_type, Model)):
            raise TypeError("alias() needs an event model type")
        self._check_open()
        self._aliases[_norm(verb)] = event_type

    def include(self, other: WebhookRouter) -> None:
        """Add another router's handlers and aliases to this one.

        What ``other`` registers later counts too, until this router is resolved.

        Raises:
            ValueError: including a router in itself, directly or not.
        """
        if not isinstance(other, WebhookRouter):
            raise TypeError("include() takes a WebhookRouter")
        if other is self or self in other._walk():
            raise ValueError("a router cannot include itself")
        self._check_open()
        self._included.append(other)

    def resolve(self) -> None:
        """Compose this router and those it includes into one lookup table, once.

        A receiver calls it when its application starts (or at its first delivery); from
        then on the router and those it includes refuse new registrations with
        ``RuntimeError``, since a handler added to a running receiver would run on some
        deliveries and not others. Calling it again does nothing. Before it, lookups and
        :meth:`dispatch` compose the routers on every call.
        """
        if self._table is None:
            walked = list(self._walk())
            for router in walked:
                router._frozen = True
            self._table = _Table.build(walked)

    def _check_open(self) -> None:
        if self._frozen:
            raise RuntimeError(
                "this router is in use by a receiver already: register every handler, alias "
                "and included router before the application starts"
            )

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

    def _resolved(self) -> _Table:
        # Before resolve(), every lookup composes the routers afresh: slower, but live.
        return self._table or _Table.build(list(self._walk()))

    # -- lookup ----------------------------------------------------------------------------

    def event_type(self, verb: str) -> EventType | None:
        """Return the event type a verb maps to here, or ``None`` for an unknown verb."""
        return self._resolved().route(verb).event_type

    def knows(self, verb: str) -> bool:
        """Return whether an event type or a verb handler knows ``verb``."""
        return not self._resolved().route(verb).unknown

    def is_unknown(self, verb: str, event: Any) -> bool:
        """Return whether no event type and no verb handler knows this delivery's verb."""
        return self._resolved().handlers(verb, event)[1]

    # -- dispatch --------------------------------------------------------------------------

    def parse(self, verb: str, payload: Any) -> Any:
        """Return the typed event for a verb and its decoded JSON.

        Raises:
            PayloadError: the JSON does not fit the verb's event type.
        """
        return self._parse(verb, payload)[0]

    def _parse(self, verb: str, payload: Any) -> tuple[Any, tuple[_Registration, ...], bool]:
        """:meth:`parse`, with the event's handlers and whether the verb is unknown (one
        lookup for the receiver's hot path)."""
        route = self._resolved().route(verb)
        event_type = route.event_type
        if event_type is None or route.structure is None:
            return UnknownEvent(verb=verb, data=payload), route.handlers, route.unknown
        try:
            return route.structure(payload, event_type), route.handlers, route.unknown
        except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
            # The cached hook is the converter's, so its errors are read as structure()'s:
            # paths and expected types, never values (this reaches the sender).
            detail = StructureError(event_type, problems(exc))
            raise PayloadError(
                f"the payload does not fit {event_type.__name__}: {detail}"
            ) from None

    async def dispatch(self, event: Any, delivery: Delivery) -> DispatchResult:
        """Run every handler for ``event`` concurrently and report what happened.

        Handler exceptions are collected, not raised, and so is a ``CancelledError`` a handler
        raises itself (say, awaiting a task something else cancelled): the delivery fails and
        the other handlers finish. A cancellation of the dispatching task (shutdown, a client
        gone) cancels the handlers and propagates; ``KeyboardInterrupt`` and ``SystemExit``
        propagate too.
        """
        handled, unknown, errors = await self._dispatch(event, delivery)
        return DispatchResult(event=event, handled=handled, unknown=unknown, errors=tuple(errors))

    async def _dispatch(
        self, event: Any, delivery: Delivery
    ) -> tuple[int, bool, list[BaseException]]:
        """:meth:`dispatch` without the result object: how many handlers ran, whether the
        verb is unknown, and what failed handlers raised."""
        registrations, unknown = self._resolved().handlers(delivery.verb, event)
        return len(registrations), unknown, await self._run_all(registrations, event, delivery)

    async def _run_all(
        self, registrations: tuple[_Registration, ...], event: Any, delivery: Delivery
    ) -> list[BaseException]:
        """Run ``registrations`` concurrently; return what the failed ones raised."""
        errors: list[BaseException] = []
        if len(registrations) == 1:  # the common case: no task at all
            await self._run(registrations[0], event, delivery, errors)
        elif registrations:
            await _together([self._run(r, event, delivery, errors) for r in registrations])
        return errors

    async def _run(
        self,
        registration: _Registration,
        event: Any,
        delivery: Delivery,
        errors: list[BaseException],
    ) -> None:
        """Run one handler within its time limit; collect and report its failure."""
        task = asyncio.current_task()
        requested = 0 if task is None else task.cancelling()
        limit = registration.limit
        try:
            if limit is None:
                await registration.handler(event, delivery)
            else:
                # within()'s steps, inline on the hottest path (asyncio.timeout's semantics).
                run = limit.begin(task)
                try:
                    await registration.handler(event, delivery)
                except BaseException as exc:
                    if run.end() and isinstance(exc, asyncio.CancelledError):
                        raise TimeoutError from exc
                    raise
                run.end()
        except BaseException as exc:
            if not _is_failure(exc, requested):
                raise
            errors.append(exc)
            await self._report(exc, event, delivery)

    async def _report(self, error: BaseException, event: Any, delivery: Delivery) -> None:
        log.error(
            "webhook handler failed for %s (sha256 %s): %s",
            peer_text(delivery.verb, limit=_LOGGED_VERB),  # the verb header is not signed
            delivery.body_sha256[:16],
            peer_text(repr(error), limit=_LOGGED_ERROR),
            exc_info=error,
        )
        for handler in self._resolved().errors:
            requested = _cancel_requests()
            try:
                await handler(error, event, delivery)
            except BaseException as exc:
                if not _is_failure(exc, requested):
                    raise
                log.exception("a webhook on_error handler failed")


@attrs.frozen
class _Route:
    """What one (normalized) verb gets: its event type and the handlers of that type."""

    event_type: EventType | None
    handlers: tuple[_Registration, ...]
    unknown: bool
    structure: Callable[[Any, Any], Any] | None = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: converter.get_structure_hook(self.event_type) if self.event_type else None,
            takes_self=True,
        ),
        eq=False,
        repr=False,
    )
    """The converter's hook for ``event_type``, looked up once."""


@attrs.frozen
class _Table:
    """A router and those it includes, composed once (:meth:`WebhookRouter.resolve`).

    Every verb the routers know (a default verb, an alias, a verb handler) has its route
    computed here, so a delivery costs one dict lookup; any other verb gets ``fallback``.
    Nothing is cached per delivery, so an unsigned verb header cannot grow anything.
    """

    routes: Mapping[str, _Route]
    fallback: _Route
    routers: tuple[WebhookRouter, ...]
    errors: tuple[ErrorHandler, ...]

    @classmethod
    def build(cls, routers: list[WebhookRouter]) -> _Table:
        types: dict[str, EventType] = dict(_DEFAULT_VERBS)
        for router in reversed(routers):  # the first router's alias wins
            types.update(router._aliases)
        verbs = set(types).union(*(router._by_verb for router in routers))
        everything = [r for router in routers for r in router._any]
        unknown = tuple(r for router in routers for r in router._unknown) + tuple(everything)
        fallback = _Route(None, unknown, True)
        routes = {}
        for verb in verbs:
            event_type = types.get(verb)
            specific = [r for router in routers for r in router._by_verb.get(verb, ())]
            if event_type is not None:
                specific += _by_type(routers, event_type)
            if event_type is None and not specific:
                routes[verb] = fallback
            else:
                routes[verb] = _Route(event_type, (*specific, *everything), False)
        errors = tuple(handler for router in routers for handler in router._error)
        return cls(routes, fallback, tuple(routers), errors)

    def route(self, verb: str) -> _Route:
        # A verb as senders send it (lower case, no spaces) needs no folding.
        found = self.routes.get(verb)
        return found if found is not None else self.routes.get(_norm(verb), self.fallback)

    def handlers(self, verb: str, event: Any) -> tuple[tuple[_Registration, ...], bool]:
        route = self.route(verb)
        if type(event) is (route.event_type or UnknownEvent):
            return route.handlers, route.unknown
        # An event built by the caller, not by parse(): find its type's handlers now.
        key = _norm(verb)
        specific = [r for router in self.routers for r in router._by_verb.get(key, ())]
        if isinstance(event, UnknownEvent):
            if not specific:
                return self.fallback.handlers, True
        else:
            specific += _by_type(self.routers, type(event))
        everything = [r for router in self.routers for r in router._any]
        return (*specific, *everything), False


def _by_type(routers: Iterable[WebhookRouter], event_type: type) -> list[_Registration]:
    return [
        r for router in routers for cls in event_type.__mro__ for r in router._by_type.get(cls, ())
    ]


def _limit(timeout: float | None) -> TimeLimit | None:
    return None if timeout is None else TimeLimit(timeout)


async def _together(runs: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``runs`` concurrently: the first in this task, the others in tasks of their own.

    A cancellation of this task, or a ``KeyboardInterrupt`` from the first, cancels the
    others and waits for them before it propagates.
    """
    first, rest = runs[0], runs[1:]
    if not rest:
        await first  # the common case: no task at all
        return
    tasks = [asyncio.create_task(run) for run in rest]
    try:
        await first
        await asyncio.wait(tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        raise
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error  # only what run() lets through: KeyboardInterrupt, SystemExit


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
    return check_seconds(value, "a handler timeout", optional=True)


def _coroutine(handler: Any) -> Any:
    if not callable(handler):
        raise TypeError("a handler must be callable")
    if not inspect.iscoroutinefunction(handler) and not inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004
    ):
        raise TypeError(f"{handler!r} must be an async function (async def)")
    return handler
