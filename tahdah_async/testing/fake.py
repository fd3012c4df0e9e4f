"""FakeTahdah: a stateful stand-in for the Tahdah API that also sends signed webhooks."""

from __future__ import annotations

import asyncio
import math
import secrets as _secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import aiohttp
import attrs
from aiohttp import web
from yarl import URL

from .. import _json
from .._routes import Route, resolve_routes
from ._api import Call, Reply, handler_for, member_wire
from ._faults import Faults
from ._sender import WebhookDelivery, WebhookSender
from ._state import (
    CandidateRecord,
    Experience,
    FakeState,
    LegalEntityRecord,
    Membership,
    Problem,
    TargetRecord,
    TrustGroupRecord,
    stamp,
)

__all__ = ["FakeTahdah", "RequestRecord"]

DEFAULT_SECRET = "wh_fake_signing_secret"


@attrs.frozen
class RequestRecord:
    """A request the fake received."""

    operation: str
    method: str
    path: str
    status: int
    """The status answered; 0 when the connection was dropped (or the request failed)."""
    started: float = 0.0
    """When the request arrived (``time.monotonic()``)."""
    finished: float = 0.0
    """When its answer was ready (``time.monotonic()``)."""


@attrs.frozen(kw_only=True)
class Seeded:
    """The ids that :meth:`FakeTahdah.seed` created, in the order given."""

    legal_entities: tuple[int, ...] = ()
    trust_groups: tuple[int, ...] = ()
    candidates: tuple[int, ...] = ()
    experiences: tuple[int, ...] = ()
    badge_templates: tuple[int, ...] = ()
    targets: tuple[int, ...] = ()


class FakeTahdah:
    """A stateful fake Tahdah API on loopback, for running integrations offline.

    ::

        async with FakeTahdah(secret="wh_test", webhook_urls=[receiver_url]) as fake:
            async with TahdahClient(fake.token, base_url=fake.url) as tahdah:
                ...
            await fake.settle()          # every webhook delivered (or given up)

    It serves every operation of the route table (with the same ``routes`` overrides as the
    client), keeps state in memory (:attr:`state`), checks bearer tokens (401 without a known
    key, 403 for a legal entity the key may not act for), answers bad input with problem
    details, and after each change that has a webhook in the reference POSTs a signed delivery
    to every URL in ``webhook_urls``, retrying non-2xx answers with backoff. Every request is in
    :attr:`requests` and every delivery attempt in :attr:`deliveries`. :attr:`faults` plans
    errors, delays and dropped connections.

    The app can also be mounted elsewhere: use :attr:`app` (then call :meth:`start_webhooks`).

    Args:
        secret: the webhook signing secret.
        webhook_urls: where webhooks go.
        routes: route table overrides, as for ``TahdahClient``.
        owner_name: the name of the provider legal entity seeded at start (:attr:`owner_id`).
        host: the address to listen on.
        port: the port to listen on (0: a free port).
        webhook_attempts: tries per webhook before giving up.
        webhook_backoff: the first retry delay of a webhook, in seconds.
        latency: seconds every call waits before it is handled, like a real server's work.
        sleep: how the fake waits out ``latency`` and :meth:`Faults.delay` (default
            :func:`asyncio.sleep`); a test may inject one to see the waits without taking them.
    """

    def __init__(
        self,
        *,
        secret: str = DEFAULT_SECRET,
        webhook_urls: Iterable[str | URL] = (),
        routes: Mapping[str, str | Route] | None = None,
        owner_name: str = "Northfield Training Ltd",
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_attempts: int = 5,
        webhook_backoff: float = 0.05,
        latency: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.state = FakeState()
        """Everything the fake knows; inspect it in tests."""
        self.faults = Faults(operations=resolve_routes(routes))
        """Planned misbehaviour."""
        self.requests: list[RequestRecord] = []
        """Every request received, in order."""
        self.events: list[tuple[str, Any]] = []
        """Every webhook event fired (verb, payload), whether or not anyone subscribes."""
        self.in_flight = 0
        """Requests being handled now."""
        self.max_in_flight = 0
        """The most requests handled at once so far."""
        self.sleep = sleep
        """How the fake waits out ``latency`` and delay faults (``await sleep(seconds)``)."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._routes = resolve_routes(routes)
        self._sender = WebhookSender(
            [str(url) for url in webhook_urls],
            secret,
            max_attempts=webhook_attempts,
            initial_delay=webhook_backoff,
        )
        for name, seconds in (("latency", latency), ("webhook_backoff", webhook_backoff)):
            if not 0 <= seconds < float("inf"):
                raise ValueError(f"{name} must be a finite number of seconds, not negative")
        self.latency = latency
        """Seconds every call waits before it is handled."""
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._url: URL | None = None
        self.owner_id = self.state.next_id()
        """The provider legal entity :attr:`token` acts for."""
        self.state.legal_entities[self.owner_id] = LegalEntityRecord(
            id=self.owner_id, owner_id=None, data={"name": owner_name, "addedAt": stamp()}
        )
        self.token = self.issue_token(self.owner_id)
        """An API key bound to :attr:`owner_id`."""
        self.app = self._build_app()
        """The aiohttp application serving the API."""

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTahdah:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start serving on loopback and start the webhook sender.

        Raises:
            OSError: the address cannot be listened on (nothing is left running).
        """
        await self.start_webhooks()
        self._runner = web.AppRunner(self.app, access_log=None)
        try:
            await self._runner.setup()
            site = web.TCPSite(self._runner, self._host, self._port)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        host, port = self._runner.addresses[0][:2]
        self._url = URL.build(scheme="http", host=host, port=port)

    async def start_webhooks(self) -> None:
        """Start the webhook sender (``start`` does this; call it when mounting :attr:`app`)."""
        await self._sender.start()

    async def stop(self) -> None:
        """Stop serving and sending (held calls are released first)."""
        self.faults.release_holds()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._sender.stop()

    @property
    def url(self) -> str:
        """The base URL to give ``TahdahClient``."""
        if self._url is None:
            raise RuntimeError("the fake is not started")
        return str(self._url)

    @property
    def routes(self) -> Mapping[str, Route]:
        """The route table the fake serves (the defaults with any overrides)."""
        return self._routes

    @property
    def webhook_urls(self) -> tuple[str, ...]:
        """Where webhooks go."""
        return tuple(self._sender.urls)

    def subscribe(self, url: str | URL) -> None:
        """Send the webhooks of every later change to ``url`` too.

        For a receiver that can only start once the fake's URL is known (a service
        configured with :attr:`url`).
        """
        self._sender.subscribe(str(url))

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """Every webhook delivery, with each attempt's status."""
        return self._sender.deliveries

    async def idle(self) -> None:
        """Wait until no request is being handled: each one the fake has started on is then in
        :attr:`requests`.

        A request whose client gave up (a read timeout during a hold or a delay) is still
        handled to its end once released; wait for this before checking what it recorded. A
        request still on its way (not yet handed to the fake by the server) is not waited for.
        """
        await self._idle.wait()

    async def settle(self) -> None:
        """Wait until every webhook fired so far was delivered or ran out of attempts."""
        await self._sender.settle()

    # -- keys, seeds and back-office changes ------------------------------------------------

    def issue_token(self, legal_entity_id: int) -> str:
        """Return a new API key bound to a legal entity (it may act for what that one owns)."""
        if legal_entity_id not in self.state.legal_entities:
            raise KeyError(f"no legal entity {legal_entity_id}")
        token = f"fake_{_secrets.token_urlsafe(18)}"
        self.state.tokens[token] = legal_entity_id
        return token

    def seed(
        self,
        *,
        legal_entities: Sequence[Mapping[str, Any]] = (),
        trust_groups: Sequence[Mapping[str, Any]] = (),
        candidates: Sequence[Mapping[str, Any]] = (),
        experiences: Sequence[Mapping[str, Any]] = (),
        badge_templates: Sequence[Mapping[str, Any]] = (),
        targets: Sequence[Mapping[str, Any]] = (),
        owner_id: int | None = None,
    ) -> Seeded:
        """Add data without firing webhooks; return the new ids.

        Each item is wire data (camelCase keys). Everything belongs to ``owner_id`` (default:
        :attr:`owner_id`); a trust group item may list ``members`` (legal entity ids), a target
        may name a ``candidateId``.
        """
        owner = self.owner_id if owner_id is None else owner_id
        state = self.state

        def make(items: Sequence[Mapping[str, Any]], build: Any) -> tuple[int, ...]:
            made = []
            for item in items:
                ident = state.next_id()
                build(ident, dict(item))
                made.append(ident)
            return tuple(made)

        def entity(ident: int, data: dict[str, Any]) -> None:
            data.setdefault("addedAt", stamp())
            state.legal_entities[ident] = LegalEntityRecord(id=ident, owner_id=owner, data=data)

        def group(ident: int, data: dict[str, Any]) -> None:
            members = data.pop("members", [])
            data.setdefault("uid", str(uuid.uuid4()))
            record = TrustGroupRecord(id=ident, owner_id=owner, data=data)
            for member in members:
                record.members[member] = Membership(legal_entity_id=member, added_at=stamp())
            state.trust_groups[ident] = record

        def candidate(ident: int, data: dict[str, Any]) -> None:
            state.candidates[ident] = CandidateRecord(id=ident, legal_entity_id=owner, data=data)

        def experience(ident: int, data: dict[str, Any]) -> None:
            state.experiences[ident] = Experience(id=ident, legal_entity_id=owner, data=data)

        def template(ident: int, data: dict[str, Any]) -> None:
            state.badge_templates[ident] = {"id": ident, **data, "legalEntityId": owner}

        def target(ident: int, data: dict[str, Any]) -> None:
            candidate_id = data.pop("candidateId", None)
            state.targets[ident] = TargetRecord(
                id=ident, legal_entity_id=owner, candidate_id=candidate_id, data=data
            )

        return Seeded(
            legal_entities=make(legal_entities, entity),
            trust_groups=make(trust_groups, group),
            candidates=make(candidates, candidate),
            experiences=make(experiences, experience),
            badge_templates=make(badge_templates, template),
            targets=make(targets, target),
        )

    def update_target(self, target_id: int, **changes: Any) -> None:
        """Change a tracker target (wire field names) and fire ``tracker.target.updated``."""
        target = self.state.targets.get(target_id)
        if target is None:
            raise KeyError(f"no target {target_id}")
        target.data.update(changes)
        self._fire("tracker.target.updated", target.wire())

    def update_member(self, trust_group_id: int, legal_entity_id: int, status: str) -> None:
        """Change a membership's status and fire ``trustGroups.member.updated``."""
        group = self.state.trust_groups[trust_group_id]
        member = group.members[legal_entity_id]
        member.status = status
        self._fire("trustGroups.member.updated", member_wire(self.state, group, member))

    def publish_catalogue_entry(self, **entry: Any) -> int:
        """Publish a catalogue entry (wire fields) and fire ``catalogue.entry.published``."""
        ident = self.state.next_id()
        data = {"id": ident, "catalogueId": self.owner_id, "publishedAt": stamp(), **entry}
        self.state.catalogue_entries.append(data)
        self._fire("catalogue.entry.published", data)
        return ident

    # -- serving ---------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        served: set[tuple[str, str]] = set()
        for operation, route in self._routes.items():
            # Two operations may share one endpoint (register learners / create registrations).
            if (route.method, route.path) in served:
                continue
            served.add((route.method, route.path))
            app.router.add_route(route.method, route.path, self._endpoint(operation))
        return app

    def _endpoint(self, operation: str) -> Any:
        handler = handler_for(operation)

        async def endpoint(request: web.Request) -> web.StreamResponse:
            started = time.monotonic()
            self.in_flight += 1
            self._idle.clear()
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            response: web.StreamResponse | None = None
            try:
                response = await self._answer(request, operation, handler)
                return response
            finally:
                self.in_flight -= 1
                dropped = request.transport is None or request.transport.is_closing()
                status = 0 if response is None or dropped else response.status
                self.requests.append(
                    RequestRecord(
                        operation,
                        request.method,
                        request.path,
                        status,
                        started=started,
                        finished=time.monotonic(),
                    )
                )
                if not self.in_flight:
                    self._idle.set()

        return endpoint

    async def _answer(
        self, request: web.Request, operation: str, handler: Any
    ) -> web.StreamResponse:
        fault = self.faults.take(operation)
        if fault is not None and fault.kind == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=503)  # never sent: the connection is gone
        if fault is not None and fault.kind == "status":
            response = _problem(Problem(fault.status, "Injected fault", detail="fake.faults"))
            if fault.retry_after is not None:
                response.headers["Retry-After"] = f"{fault.retry_after:g}"
            return response
        # Read the body first, as a server does before its work: a client that gives up
        # during the delay below then finds the request already read.
        raw = await _read_body(request)
        if raw is None:
            return web.Response(status=400)  # never sent: the client went away mid-body
        if fault is not None and fault.hold is not None:
            await fault.hold.enter()
        elif fault is not None:
            await self.sleep(fault.delay)
        if self.latency:
            await self.sleep(self.latency)
        try:
            acting = self._authenticate(request)
            body = _json_body(raw)
            call = Call(operation, dict(request.match_info), request.query, body, acting)
            reply: Reply = handler(self.state, call)
        except Problem as problem:
            return _problem(problem)
        for verb, payload in reply.events:
            self._fire(verb, payload)
        return _respond(reply)

    def _authenticate(self, request: web.Request) -> int:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        acting = self.state.tokens.get(token) if scheme.lower() == "bearer" else None
        if acting is None:
            raise Problem(401, "Unauthorized", detail="A valid bearer API key is required")
        return acting

    def _fire(self, verb: str, payload: Any) -> None:
        self.events.append((verb, payload))
        copies = 1
        if self.faults.duplicate_webhooks:
            self.faults.duplicate_webhooks -= 1
            copies = 2
        bad = bool(self.faults.bad_signature_webhooks)
        if bad:
            self.faults.bad_signature_webhooks -= 1
        self._sender.send(verb, payload, copies=copies, bad_signature=bad)


async def _read_body(request: web.Request) -> bytes | None:
    """The request body (empty when there is none); ``None`` when the client went away."""
    if not request.can_read_body:
        return b""
    try:
        return await request.read()
    except (ConnectionError, aiohttp.ClientConnectionError):
        return None


MAX_BODY_DEPTH: Final = 64
"""How deeply a request body may nest objects and arrays (System.Text.Json's default)."""


def _json_body(raw: bytes) -> Any:
    """The request body as JSON, refused with 400 as ASP.NET refuses it, never a 500."""
    if not raw.strip():
        return None
    try:
        data = _json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested beyond the parser's stack
        raise Problem(400, "Bad Request", detail="The request body is not valid JSON") from None
    problem = _unsupported(data)
    if problem is not None:
        raise Problem(400, "Bad Request", detail=problem)
    return data


def _unsupported(data: Any) -> str | None:
    """What the backend refuses in a parsed body that the standard library accepts, if any.

    ``json.loads`` reads ``NaN``, ``Infinity`` and ``1e999`` (as an infinity), which are not
    JSON numbers, and any nesting its stack allows. One pass, without recursion.
    """
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return "The request body holds a number that is not finite (NaN, Infinity or too large)"
        if isinstance(value, dict | list):
            if depth == MAX_BODY_DEPTH:
                return f"The request body nests deeper than {MAX_BODY_DEPTH} levels"
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return None


def _respond(reply: Reply) -> web.Response:
    if reply.body is None:
        return web.Response(status=reply.status)
    return web.json_response(reply.body, status=reply.status)


def _problem(problem: Problem) -> web.Response:
    trace = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"
    return web.json_response(
        problem.body(trace), status=problem.status, content_type="application/problem+json"
    )
