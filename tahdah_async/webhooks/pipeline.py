"""The receiver without a web framework: verify → parse → claim → dispatch or store → release.

:meth:`WebhookPipeline.receive` takes a request's raw body and headers and returns an
:class:`Outcome` (a status, a word for it, and work to run after the answer if any);
:mod:`.app` is the aiohttp side around it (method, size, body read, status mapping, owning
background tasks). Another framework can drive the pipeline the same way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import hmac
import logging
import types
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final, Literal

import attrs

from .. import _json
from .._untrusted import peer_text
from .dedupe import (
    DEFAULT_LEASE,
    DEFAULT_TTL,
    ClaimState,
    DedupeStore,
    MemoryDedupeStore,
    check_duration,
    delivery_key,
)
from .inbox import KEPT_HEADERS, Inbox, NewDelivery
from .router import Delivery, PayloadError, WebhookRouter, _Registration
from .signature import SIGNATURE_LENGTH, Secrets, match_key, resolve_secrets, secret_keys

__all__ = [
    "ACK_THEN_PROCESS",
    "PROCESS_THEN_ACK",
    "SIGNATURE_HEADER",
    "VERB_HEADER",
    "Mode",
    "Outcome",
    "WebhookPipeline",
]

log = logging.getLogger("tahdah_async.webhooks")

SIGNATURE_HEADER: Final = "Webhook-Signature"
VERB_HEADER: Final = "Webhook-Verb"
PROCESS_THEN_ACK: Final = "process-then-ack"
ACK_THEN_PROCESS: Final = "ack-then-process"
Mode = Literal["process-then-ack", "ack-then-process"]

OK: Final = 200
ACCEPTED: Final = 202
BAD_REQUEST: Final = 400
UNAUTHORIZED: Final = 401
NOT_FOUND: Final = 404
CONFLICT: Final = 409
HANDLER_FAILED: Final = 500
UNAVAILABLE: Final = 503

RETRY_AFTER: Final = 5
"""Seconds a sender is asked to wait (``Retry-After``) before resending a 409 or 503."""
_LOGGED_VERB: Final = 80
# The longest detail in an answer. explain() already lists only a few problems and counts
# the rest; this bounds whatever reaches an answer, however a message was built.
_DETAIL: Final = 4096

_NONE: Final[Mapping[str, Any]] = types.MappingProxyType({})
"""An answer's details when it has none (shared: it cannot be changed)."""

Background = Callable[[], Coroutine[Any, Any, "Outcome"]]


@attrs.frozen
class Outcome:
    """What the pipeline made of one request: the answer, and work left for after it."""

    status: int
    what: str
    """The answer's ``status`` word, such as ``processed`` or ``invalid_signature``."""
    detail: Mapping[str, Any] = _NONE
    verb: str | None = None
    sha256: str | None = None
    retry_after: int | None = None
    """Seconds for a ``Retry-After`` header, when the sender should come back later."""
    background: Background | None = attrs.field(default=None, repr=False, eq=False)
    """In ``ack-then-process`` mode: the processing to run once the answer is sent."""


class WebhookPipeline:
    """Verifies, deduplicates and dispatches (or stores) deliveries, framework-free.

    The arguments are those of :class:`~tahdah_async.webhooks.WebhookReceiver` that are not
    about HTTP; see there.
    """

    def __init__(
        self,
        router: WebhookRouter,
        secrets: Secrets,
        *,
        unknown_verb_status: Literal[202, 404] = ACCEPTED,
        mode: Mode = PROCESS_THEN_ACK,
        dedupe: DedupeStore | Literal["memory"] | None = "memory",
        dedupe_ttl: float = DEFAULT_TTL,
        dedupe_lease: float = DEFAULT_LEASE,
        authorization: str | None = None,
        inbox: Inbox | None = None,
        on_stored: Callable[[], object] | None = None,
    ) -> None:
        if not isinstance(router, WebhookRouter):
            raise TypeError("router must be a WebhookRouter")
        if not callable(secrets):
            # Resolved once, so a generator given here is not used up by this check.
            secrets = resolve_secrets(secrets)
        if unknown_verb_status not in (ACCEPTED, NOT_FOUND):
            raise ValueError("unknown_verb_status must be 202 or 404")
        if mode not in (PROCESS_THEN_ACK, ACK_THEN_PROCESS):
            raise ValueError(f"mode must be {PROCESS_THEN_ACK!r} or {ACK_THEN_PROCESS!r}")
        if inbox is not None:
            if not isinstance(inbox, Inbox):
                raise TypeError("inbox must be an Inbox")
            if dedupe not in ("memory", None) or mode != PROCESS_THEN_ACK:
                raise ValueError(
                    "an inbox deduplicates and acknowledges by itself: give no dedupe store "
                    "and no mode with it"
                )
            dedupe = None
        if dedupe == "memory":
            dedupe = MemoryDedupeStore()
        elif dedupe is not None and not isinstance(dedupe, DedupeStore):
            raise TypeError("dedupe must be a DedupeStore, 'memory' or None")
        ttl = check_duration(dedupe_ttl, "dedupe_ttl")
        lease = check_duration(dedupe_lease, "dedupe_lease")
        if authorization is not None and not authorization:
            raise ValueError("authorization must not be empty")
        self.router = router
        self.inbox = inbox
        self._secrets = secrets
        # Fixed secrets' keys are encoded once; a callable's are read at every delivery.
        self._keys = None if callable(secrets) else secret_keys(secrets)
        self._unknown_status = unknown_verb_status
        self._mode = mode
        self._dedupe: DedupeStore | None = dedupe
        self._ttl = ttl
        self._lease = lease
        self._authorization = authorization.encode() if authorization else None
        self._on_stored = on_stored

    def __repr__(self) -> str:
        return f"<WebhookPipeline mode={self.mode!r}>"

    @property
    def mode(self) -> str:
        """``process-then-ack``, ``ack-then-process`` or ``inbox``."""
        return "inbox" if self.inbox is not None else self._mode

    # -- the steps -------------------------------------------------------------------------

    def refusal(self, headers: Mapping[str, str]) -> Outcome | None:
        """The answer to a request refused on its headers alone (before its body is read)."""
        if self._authorization is not None and not _same(
            headers.get("Authorization"), self._authorization
        ):
            return Outcome(UNAUTHORIZED, "unauthorized")
        signature = headers.get(SIGNATURE_HEADER)
        if signature is None or len(signature) != SIGNATURE_LENGTH:
            return Outcome(UNAUTHORIZED, "invalid_signature")
        return None

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """Verify one delivery and process it (or store it, or leave it for the background)."""
        refused = self.refusal(headers)
        if refused is not None:
            return refused
        return await self.accept(body, headers)

    async def accept(self, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """:meth:`receive` for a request whose headers :meth:`refusal` has passed already."""
        keys = self._keys
        if keys is None:
            keys = secret_keys(resolve_secrets(self._secrets))
        secret_index = match_key(body, headers.get(SIGNATURE_HEADER), keys)
        # The body's hash is the deduplication key; otherwise only a log line or a handler
        # asking for it (Delivery.body_sha256, computed then) needs it.
        sha256 = None
        if self._dedupe is not None or self.inbox is not None or log.isEnabledFor(logging.INFO):
            sha256 = hashlib.sha256(body).hexdigest()
        if secret_index is None:
            return Outcome(UNAUTHORIZED, "invalid_signature", sha256=sha256)
        verb = headers.get(VERB_HEADER, "").strip()
        if not verb:
            return Outcome(BAD_REQUEST, "missing_verb", sha256=sha256)
        received_at = dt.datetime.now(dt.UTC)
        if self.inbox is not None:
            assert sha256 is not None
            return await self._store(body, headers, verb, sha256, secret_index, received_at)
        try:
            payload = _json.loads(body)
        except (ValueError, RecursionError):
            return Outcome(BAD_REQUEST, "invalid_json", verb=verb, sha256=sha256)
        try:
            event, registrations, unknown = self.router._parse(verb, payload)
        except PayloadError as exc:
            detail = {"detail": peer_text(str(exc), secrets=self.masked(), limit=_DETAIL)}
            return Outcome(BAD_REQUEST, "invalid_payload", detail, verb, sha256)
        delivery = Delivery(
            verb=verb,
            body=body,
            headers=headers,
            body_sha256=sha256,
            secret_index=secret_index,
            received_at=received_at,
        )
        key = token = None
        if self._dedupe is not None:
            assert sha256 is not None
            key = delivery_key(sha256)
            try:
                claim = await self._dedupe.claim(key, self._lease)
            except Exception:
                log.exception("the webhook dedupe store failed to claim a delivery")
                return Outcome(UNAVAILABLE, "dedupe_unavailable", {}, verb, sha256, RETRY_AFTER)
            if claim.state is ClaimState.DUPLICATE:
                return Outcome(OK, "duplicate", verb=verb, sha256=sha256)
            if claim.state is ClaimState.IN_PROGRESS:
                if self._mode == ACK_THEN_PROCESS:  # the first was acknowledged already
                    return Outcome(OK, "duplicate", verb=verb, sha256=sha256)
                # The run in progress may still fail, and its 500 may reach nobody: the sender
                # must come back rather than hear "done" now.
                return Outcome(CONFLICT, "in_progress", {}, verb, sha256, RETRY_AFTER)
            token = claim.token
        if self._mode == ACK_THEN_PROCESS and not (unknown and self._unknown_status == NOT_FOUND):
            sha256 = delivery.body_sha256  # the background task's name shows it
            background = functools.partial(
                self._process, event, delivery, registrations, unknown, sha256, key, token
            )
            return Outcome(ACCEPTED, "accepted", {}, verb, sha256, None, background)
        if key is None:  # no claim to keep alive or settle: the handlers, then the answer
            errors = await self.router._run_all(registrations, event, delivery)
            return self._outcome(verb, sha256, len(registrations), unknown, errors)[1]
        return await self._process(event, delivery, registrations, unknown, sha256, key, token)

    async def _process(
        self,
        event: Any,
        delivery: Delivery,
        registrations: tuple[_Registration, ...],
        unknown: bool,
        sha256: str | None,
        key: str | None,
        token: str | None,
    ) -> Outcome:
        keeper = None
        if self._dedupe is not None and key is not None and token is not None:
            keeper = _LeaseKeeper(self._dedupe, key, token, self._lease)
        try:
            errors = await self.router._run_all(registrations, event, delivery)
        except BaseException:
            if keeper is not None:
                await keeper.finish(commit=False, ttl=self._ttl)
            raise
        handled = len(registrations)
        commit, outcome = self._outcome(delivery.verb, sha256, handled, unknown, errors)
        if keeper is not None:
            await keeper.finish(commit=commit, ttl=self._ttl)
        return outcome

    def _outcome(
        self,
        verb: str,
        sha256: str | None,
        handled: int,
        unknown: bool,
        errors: list[BaseException],
    ) -> tuple[bool, Outcome]:
        """What the handlers' run comes to: whether to remember the delivery as done, and
        the answer."""
        if errors:
            detail = {"failed": len(errors)}
            return False, Outcome(HANDLER_FAILED, "handler_failed", detail, verb, sha256)
        if unknown:
            commit = self._unknown_status != NOT_FOUND
            return commit, Outcome(self._unknown_status, "unknown_verb", _NONE, verb, sha256)
        return True, Outcome(OK, "processed", {"handlers": handled}, verb, sha256)

    async def _store(
        self,
        body: bytes,
        headers: Mapping[str, str],
        verb: str,
        sha256: str,
        secret_index: int,
        received_at: dt.datetime,
    ) -> Outcome:
        # No typed parse before the answer: a payload that does not fit is parked as dead
        # with its reason by the worker, where a person can see and replay it.
        if self._unknown_status == NOT_FOUND and not self.router.knows(verb):
            return Outcome(NOT_FOUND, "unknown_verb", verb=verb, sha256=sha256)
        assert self.inbox is not None
        row = NewDelivery(
            key=delivery_key(sha256),
            verb=verb,
            body=body,
            headers={name: headers[name] for name in KEPT_HEADERS if name in headers},
            secret_index=secret_index,
            received_at=received_at,
        )
        try:
            stored, _ = await self.inbox.put(row)
        except Exception:
            log.exception("the webhook inbox failed to store a delivery")
            return Outcome(UNAVAILABLE, "inbox_unavailable", {}, verb, sha256, RETRY_AFTER)
        if not stored:
            return Outcome(OK, "duplicate", verb=verb, sha256=sha256)
        if self._on_stored is not None:
            self._on_stored()
        return Outcome(OK, "stored", verb=verb, sha256=sha256)

    # -- masking ---------------------------------------------------------------------------

    def masked(self) -> tuple[str, ...]:
        """The strings no answer or log line may show: the secrets and ``authorization``."""
        try:
            secrets = resolve_secrets(self._secrets)
        except (TypeError, ValueError):  # a broken secrets callable: nothing left to mask
            secrets = ()
        if self._authorization is not None:
            secrets += (self._authorization.decode(),)
        return secrets

    def shown(self, text: str | None) -> str:
        """Peer-derived text (a verb) as a log line may show it."""
        if text is None:
            return "-"
        return repr(peer_text(text, secrets=self.masked(), limit=_LOGGED_VERB))


class _LeaseKeeper:
    """Keeps a dedupe claim alive while its handlers run, then commits or releases it.

    A timer (no task) fires every third of the lease; only then does a task extend it, so a
    delivery faster than that costs one timer.
    """

    def __init__(self, store: DedupeStore, key: str, token: str, lease: float) -> None:
        self._store, self._key, self._token, self._lease = store, key, token, lease
        self._loop = asyncio.get_running_loop()
        self._extending: asyncio.Task[None] | None = None
        self._timer = self._loop.call_later(lease / 3, self._tick)

    def _tick(self) -> None:
        self._extending = self._loop.create_task(self._extend())

    async def _extend(self) -> None:
        try:
            held = await self._store.extend(self._key, self._token, self._lease)
        except Exception:
            log.exception("the webhook dedupe store failed to extend a claim")
            held = True  # try again at the next tick
        if held:
            self._timer = self._loop.call_later(self._lease / 3, self._tick)
        else:
            log.warning("a webhook delivery's dedupe claim expired while its handlers ran")

    async def finish(self, *, commit: bool, ttl: float) -> None:
        self._timer.cancel()
        if self._extending is not None and not self._extending.done():
            self._extending.cancel()
        try:
            if commit:
                done = await self._store.commit(self._key, self._token, ttl)
            else:
                done = await self._store.release(self._key, self._token)
            if not done:
                log.warning(
                    "a webhook delivery's dedupe claim expired while its handlers ran: a resend "
                    "may have run them again"
                )
        except Exception:
            # The claim expires by itself after its lease; until then a resend hears 409.
            what = "commit" if commit else "release"
            log.exception("the webhook dedupe store failed to %s a claim", what)


def _same(given: str | None, expected: bytes) -> bool:
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected)
