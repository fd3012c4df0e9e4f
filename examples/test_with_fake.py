"""Testing an integration with the pytest fixtures of ``tahdah_async.testing``.

Run it with ``pytest examples/test_with_fake.py`` (pytest-asyncio, ``asyncio_mode = "auto"``).
The fixtures come with the package: ``fake_tahdah``, ``tahdah_client`` and ``tahdah_webhook``.
"""

from __future__ import annotations

from aiohttp import web

from tahdah_async import TahdahClient
from tahdah_async.testing import FakeTahdah
from tahdah_async.testing.plugin import SendWebhook
from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app
from tahdah_async.webhooks.events import CandidateCreated

welcomed: list[str] = []


def make_app(secret: str) -> web.Application:
    """The code under test: a receiver that welcomes every new candidate."""
    router = WebhookRouter()

    @router.on(CandidateCreated)
    async def welcome(event: CandidateCreated, delivery: Delivery) -> None:
        welcomed.append(f"{event.first_name} {event.last_name}")

    return create_webhook_app(router, secrets=secret)


async def test_a_create_survives_a_rate_limit(
    fake_tahdah: FakeTahdah, tahdah_client: TahdahClient
) -> None:
    fake_tahdah.faults.rate_limit(retry_after=0.01, operation="candidates.create")

    ada = await tahdah_client.candidates.create(first_name="Ada", last_name="Lovelace")

    assert ada.first_name == "Ada"
    assert [c.data["firstName"] for c in fake_tahdah.state.candidates.values()] == ["Ada"]
    assert [r.status for r in fake_tahdah.requests] == [429, 201]


async def test_the_receiver_welcomes_a_signed_candidate(tahdah_webhook: SendWebhook) -> None:
    payload = {"id": 7, "firstName": "Grace", "lastName": "Hopper"}

    reply = await tahdah_webhook(
        make_app("wh_test"), "candidates.created", payload, secret="wh_test"
    )
    forged = await tahdah_webhook(make_app("wh_test"), "candidates.created", payload, secret="no")

    assert reply.status == 200
    assert forged.status == 401
    assert welcomed == ["Grace Hopper"]
