"""Quick start: the client against a small local stand-in for the Tahdah API.

Run it with ``python examples/quickstart.py``. It starts an aiohttp server on loopback that
answers a few routes the way the reference documents them, then uses the real client: it
creates a candidate, registers it on a learning experience, lists trust groups, adds event
credits (surviving one 503 on the way) and shows the typed error a refused request raises.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tahdah_async import (
    EventTemplateCredit,
    LearnerRegistration,
    NotFoundError,
    RetryEvent,
    TahdahClient,
)

TOKEN = "example-token"
PROVIDER = 1001


def stand_in() -> web.Application:
    """Return an app answering a handful of Tahdah routes from memory."""
    ids = itertools.count(212233)
    candidates: dict[int, dict[str, Any]] = {}
    credit_calls = itertools.count()

    async def create_candidate(request: web.Request) -> web.Response:
        body = await request.json()
        candidate = {"id": next(ids), **body}
        candidates[candidate["id"]] = candidate
        return web.json_response(candidate, status=201)

    async def register(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(
            [
                {
                    "candidateId": str(item["candidateId"]),
                    "candidateExperienceId": str(98000 + index),
                    "registrationDate": item["registrationDate"],
                }
                for index, item in enumerate(body["candidateIds"], start=1)
            ]
        )

    async def trust_groups(request: web.Request) -> web.Response:
        return web.json_response(
            [{"id": 7, "name": "Northern Partners", "uid": "5d0f…", "annualPrice": 120.0}]
        )

    async def add_credits(request: web.Request) -> web.Response:
        if next(credit_calls) == 0:
            return web.json_response({"title": "Service Unavailable"}, status=503)
        return web.json_response({})

    async def missing(request: web.Request) -> web.Response:
        return web.json_response(
            {"title": "Not Found", "status": 404, "detail": "No such legal entity"}, status=404
        )

    app = web.Application()
    app.router.add_post("/api/candidates", create_candidate)
    app.router.add_post(
        "/api/learningexperiences/legalentities/{le}/experiences/{ex}/learners", register
    )
    app.router.add_get("/api/trustgroups/legalentities/{le}/trustgroups", trust_groups)
    app.router.add_put("/api/eventcredits/legalentities/{le}", add_credits)
    app.router.add_get("/api/legalentities/{owner}/legalentities/{le}", missing)
    return app


def show_retry(event: RetryEvent) -> None:
    print(f"  retrying {event.request.method} after {event.delay:.2f}s: {event.reason}")


async def main() -> None:
    async with TestServer(stand_in(), host="127.0.0.1") as server:
        base_url = str(server.make_url("/"))
        async with TahdahClient(TOKEN, base_url=base_url, on_retry=show_retry) as tahdah:
            ada = await tahdah.candidates.create(
                first_name="Ada", last_name="Lovelace", email="ada@example.com"
            )
            print(f"created candidate {ada.id}: {ada.first_name} {ada.last_name}")

            assert isinstance(ada.id, int)
            results = await tahdah.learning_experiences.register_learners(
                PROVIDER,
                42,
                [
                    LearnerRegistration(
                        candidate_id=ada.id, behavior=2, registration_date=dt.date(2025, 9, 3)
                    )
                ],
            )
            for result in results:
                print(
                    f"registered candidate {result.candidate_id} "
                    f"as candidate experience {result.candidate_experience_id}"
                )

            for group in await tahdah.trust_groups.list(PROVIDER):
                print(f"trust group {group.id}: {group.name} ({group.annual_price}/year)")

            key = await tahdah.event_credits.add(
                PROVIDER,
                [EventTemplateCredit(event_template_id=77, number_of_credits=10)],
                order_number="ORD-1001",
            )
            print(f"added 10 credits (idempotency key {key})")

            try:
                await tahdah.legal_entities.get(PROVIDER, 999)
            except NotFoundError as error:
                print(f"as expected: {type(error).__name__}: {error}")


if __name__ == "__main__":
    asyncio.run(main())
