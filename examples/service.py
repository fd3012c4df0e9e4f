"""A service that receives Tahdah webhooks and calls the API back from a handler.

Every new legal entity (``legalEntities.created``) is added to a "New partners" trust group,
and new candidates are welcomed. The receiver is mounted under ``/tahdah/webhooks/``; one
``TahdahClient`` lives as long as the application.

Run it against the fake server, which listens on 8080 and sends its webhooks to the service
on 8081; the "New partners" group is created first (``call`` prints it, with its id)::

    tahdah fake-server --webhook-url http://127.0.0.1:8081/tahdah/webhooks/ &  # prints a token
    export TAHDAH_TOKEN=... TAHDAH_BASE_URL=http://127.0.0.1:8080
    tahdah call trust_groups.create -p legalEntityId=1001 --json '{"name": "New partners"}'
    TAHDAH_OWNER_ID=1001 TAHDAH_TRUST_GROUP_ID=<its id> \\
    TAHDAH_WEBHOOK_SECRET=wh_fake_signing_secret python examples/service.py
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

import attrs
from aiohttp import web

from tahdah_async import ConflictError, TahdahClient
from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app
from tahdah_async.webhooks.events import CandidateCreated, LegalEntityCreated

log = logging.getLogger("example.service")


@attrs.frozen
class Settings:
    token: str
    base_url: str
    owner_id: int
    trust_group_id: int
    webhook_secret: str

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            token=env["TAHDAH_TOKEN"],
            base_url=env.get("TAHDAH_BASE_URL", "https://api.tahdah.me"),
            owner_id=int(env["TAHDAH_OWNER_ID"]),
            trust_group_id=int(env["TAHDAH_TRUST_GROUP_ID"]),
            webhook_secret=env["TAHDAH_WEBHOOK_SECRET"],
        )


CLIENT = web.AppKey("tahdah", TahdahClient)
welcomed: list[str] = []


def make_app(settings: Settings) -> web.Application:
    """Return the service: the webhook receiver, a health check, and the client's lifetime."""
    app = web.Application()
    router = WebhookRouter(timeout=10)

    @router.on(LegalEntityCreated)
    async def add_to_partners(event: LegalEntityCreated, delivery: Delivery) -> None:
        """Put every new legal entity into the partners group (a retry may find it there)."""
        if not isinstance(event.id, int):
            log.warning("legal entity without an id: %r", event)
            return
        try:
            await app[CLIENT].trust_groups.add_member(
                settings.owner_id, settings.trust_group_id, event.id
            )
        except ConflictError:
            log.info("legal entity %s is already a partner", event.id)
        else:
            log.info("added legal entity %s (%s) to the partners", event.id, event.name)

    @router.on(CandidateCreated)
    async def welcome(event: CandidateCreated, delivery: Delivery) -> None:
        welcomed.append(f"{event.first_name} {event.last_name}")

    async def client_lifetime(app: web.Application) -> AsyncIterator[None]:
        async with TahdahClient(settings.token, base_url=settings.base_url) as client:
            app[CLIENT] = client
            yield

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "welcomed": len(welcomed)})

    app.cleanup_ctx.append(client_lifetime)
    app.router.add_get("/health", health)
    app.add_subapp("/tahdah/webhooks/", create_webhook_app(router, secrets=settings.webhook_secret))
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app(Settings.from_env()), host="127.0.0.1", port=8081)
