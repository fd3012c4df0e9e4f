"""A service that receives Tahdah webhooks: the receiver mounted in an aiohttp application.

Run it with ``python examples/webhook_receiver.py`` and point a Tahdah webhook (or
``tahdah_async.webhooks.sign`` plus any HTTP client) at
``http://127.0.0.1:8080/tahdah/webhooks/``. The secret comes from ``TAHDAH_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import logging
import os

from aiohttp import web

from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app
from tahdah_async.webhooks.events import CandidateCreated, LegalEntityCreated

log = logging.getLogger("example.receiver")

router = WebhookRouter(timeout=10)
seen: list[str] = []


@router.on(LegalEntityCreated)
async def record_entity(event: LegalEntityCreated, delivery: Delivery) -> None:
    """Keep the name of every new legal entity."""
    seen.append(f"legal entity {event.name} (secret #{delivery.secret_index})")


@router.on(CandidateCreated)
async def welcome_candidate(event: CandidateCreated, delivery: Delivery) -> None:
    """Greet every new candidate."""
    seen.append(f"candidate {event.first_name} {event.last_name}")


def make_app(secret: str) -> web.Application:
    """Return the service: the webhook receiver under /tahdah/webhooks/ and a health check."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "seen": len(seen)})

    app = web.Application()
    app.router.add_get("/health", health)
    app.add_subapp("/tahdah/webhooks/", create_webhook_app(router, secrets=secret))
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app(os.environ.get("TAHDAH_WEBHOOK_SECRET", "wh_example")), port=8080)
