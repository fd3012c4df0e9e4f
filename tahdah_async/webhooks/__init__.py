"""Receive Tahdah webhooks: verify, deduplicate and dispatch them to coroutine handlers.

::

    from tahdah_async.webhooks import WebhookRouter, create_webhook_app
    from tahdah_async.webhooks.events import CandidateCreated

    router = WebhookRouter()

    @router.on(CandidateCreated)
    async def on_candidate(event: CandidateCreated, delivery: Delivery) -> None: ...

    app.add_subapp("/tahdah/webhooks/", create_webhook_app(router, secrets="wh_..."))
"""

from .app import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_BODY_SIZE,
    RECEIVER,
    WebhookReceiver,
    create_webhook_app,
)
from .dedupe import Claim, ClaimState, DedupeStore, MemoryDedupeStore, delivery_key
from .pipeline import (
    ACK_THEN_PROCESS,
    PROCESS_THEN_ACK,
    SIGNATURE_HEADER,
    VERB_HEADER,
    Outcome,
    WebhookPipeline,
)
from .router import Delivery, DispatchResult, PayloadError, WebhookRouter
from .signature import Secrets, match_secret, sign, verify_signature
from .worker import InboxWorker

__all__ = [
    "ACK_THEN_PROCESS",
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "PROCESS_THEN_ACK",
    "RECEIVER",
    "SIGNATURE_HEADER",
    "VERB_HEADER",
    "Claim",
    "ClaimState",
    "DedupeStore",
    "Delivery",
    "DispatchResult",
    "InboxWorker",
    "MemoryDedupeStore",
    "Outcome",
    "PayloadError",
    "Secrets",
    "WebhookPipeline",
    "WebhookReceiver",
    "WebhookRouter",
    "create_webhook_app",
    "delivery_key",
    "match_secret",
    "sign",
    "verify_signature",
]
