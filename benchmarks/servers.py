"""The servers the benchmarks measure against, each run as its own process.

    python benchmarks/servers.py api --port 0          # a ~200 B JSON trust-group list
    python benchmarks/servers.py receiver --port 0     # the SDK's webhook sub-app
    python benchmarks/servers.py reference --port 0    # a hand-written receiver
    python benchmarks/servers.py bare --port 0         # reads the body, answers 200
    python benchmarks/servers.py fake --port 0 --latency 0.02 --learners 10000

Each prints ``listening on http://127.0.0.1:PORT`` (the fake also ``token ...`` and ``ids
OWNER EXPERIENCE FIRST_CANDIDATE``) and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
from typing import Any

from aiohttp import web

SECRET = "wh_benchmark_secret"

# A trust group list of about 200 bytes, as the SDK's trust_groups.list decodes it.
TRUST_GROUPS = json.dumps(
    [
        {
            "id": 4102,
            "name": "Regional Training Partners",
            "uid": "8c7d2f9e-5a41-4c1e-9a8e-2b6f0d3c7e11",
            "monthlyPrice": 10.0,
            "annualPrice": 100.0,
            "description": "Partner organisations in the north",
        }
    ]
).encode()

handled = 0


async def api(request: web.Request) -> web.Response:
    return web.Response(body=TRUST_GROUPS, content_type="application/json")


def api_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/api/trustgroups/legalentities/{legalEntityId}/trustgroups", api)
    return app


async def handle_event(event: Any) -> None:
    """What every receiver variant does with a verified delivery: count it."""
    global handled
    handled += 1


def receiver_app() -> web.Application:
    from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app

    router = WebhookRouter()

    @router.on_any
    async def on_any(event: Any, delivery: Delivery) -> None:
        await handle_event(event)

    # wrk sends one body over and over: with deduplication every request after the first
    # would be a duplicate and skip the handler, so it is off to compare equal work.
    return create_webhook_app(router, secrets=SECRET, dedupe=None)


def reference_app() -> web.Application:
    key = SECRET.encode()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("Webhook-Signature", "")):
            return web.Response(status=401)
        await handle_event(json.loads(body))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/", receive)
    return app


def bare_app() -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/", receive)
    return app


async def serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    print(f"listening on http://{host}:{bound}", flush=True)
    await asyncio.Event().wait()


async def serve_fake(port: int, latency: float, learners: int) -> None:
    from tahdah_async.testing import FakeTahdah

    fake = FakeTahdah(port=port, latency=latency)
    seeded = fake.seed(
        experiences=[{"name": "Benchmark experience"}],
        candidates=[{"firstName": "L", "lastName": str(i)} for i in range(learners)],
    )
    async with fake:
        print(f"listening on {fake.url}", flush=True)
        print(f"token {fake.token}", flush=True)
        print(f"ids {fake.owner_id} {seeded.experiences[0]} {seeded.candidates[0]}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["api", "receiver", "reference", "bare", "fake"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--learners", type=int, default=0)
    args = parser.parse_args()
    if args.kind == "fake":
        runner = serve_fake(args.port, args.latency, args.learners)
    else:
        apps = {"api": api_app, "receiver": receiver_app, "reference": reference_app}
        runner = serve(apps.get(args.kind, bare_app)(), args.port)
    try:
        asyncio.run(runner)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
