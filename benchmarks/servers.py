"""The servers the benchmarks measure against, each run as its own process.

    python benchmarks/servers.py api --port 0          # a ~200 B JSON trust-group list
    python benchmarks/servers.py receiver --port 0     # the SDK's webhook sub-app
    python benchmarks/servers.py receiver2 --port 0    # the same with two handlers
    python benchmarks/servers.py receiver-sqlite --inbox PATH --port 0
    TAHDAH_BENCH_POSTGRES_DSN=postgresql://... \
        python benchmarks/servers.py receiver-postgres --schema NAME --port 0
    python benchmarks/servers.py reference --port 0    # a hand-written receiver
    python benchmarks/servers.py bare --port 0         # reads the body, answers 200
    python benchmarks/servers.py fake --port 0 --latency 0.02 --learners 10000

The inbox receivers only store (no worker runs the handlers); the PostgreSQL DSN comes from
the environment so that its password is not in the process list. ``--reuse-port`` lets
several servers listen on one port (Linux ``SO_REUSEPORT``).

Each prints ``listening on http://127.0.0.1:PORT`` (the fake also ``token ...`` and ``ids
OWNER EXPERIENCE FIRST_CANDIDATE``) and serves until it gets SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tahdah_async.webhooks.inbox import Inbox

SECRET = "wh_benchmark_secret"
POSTGRES_DSN_VARIABLE = "TAHDAH_BENCH_POSTGRES_DSN"

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


async def handle_event(event: Any, delivery: object = None) -> None:
    """What every receiver variant does with a verified delivery: count it.

    It is the user's code in each variant, called once: the reference awaits it, the SDK
    registers it as the handler.
    """
    global handled
    handled += 1


def receiver_app(handlers: int = 1, inbox: Inbox | None = None) -> web.Application:
    """The SDK's sub-app with ``handlers`` counting handlers; with an inbox it only stores."""
    from tahdah_async.webhooks import WebhookRouter, create_webhook_app

    router = WebhookRouter()
    for _ in range(handlers):
        router.on_any(handle_event)
    if inbox is None:
        # wrk may send one body over and over: with deduplication every request after the
        # first would be a duplicate and skip the handler, so it is off to compare equal work.
        return create_webhook_app(router, secrets=SECRET, dedupe=None)
    # An inbox deduplicates by itself, so the benchmark sends it distinct bodies.
    return create_webhook_app(router, secrets=SECRET, inbox=inbox, worker=False)


def sqlite_receiver_app(args: argparse.Namespace) -> web.Application:
    from tahdah_async.webhooks.inbox import SQLiteInbox

    return receiver_app(inbox=SQLiteInbox(args.inbox))


def postgres_receiver_app(args: argparse.Namespace) -> web.Application:
    from tahdah_async.webhooks.inbox import PostgresInbox

    return receiver_app(inbox=PostgresInbox(os.environ[POSTGRES_DSN_VARIABLE], schema=args.schema))


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


async def serve(app: web.Application, port: int, reuse_port: bool) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_port=reuse_port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    print(f"listening on http://{host}:{bound}", flush=True)
    await _stopped()
    # A clean stop closes an inbox's connections before the benchmark counts its rows.
    await runner.cleanup()


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
        await _stopped()


async def _stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    await stop.wait()


APPS: dict[str, Callable[[argparse.Namespace], web.Application]] = {
    "api": lambda args: api_app(),
    "receiver": lambda args: receiver_app(),
    "receiver2": lambda args: receiver_app(handlers=2),
    "receiver-sqlite": sqlite_receiver_app,
    "receiver-postgres": postgres_receiver_app,
    "reference": lambda args: reference_app(),
    "bare": lambda args: bare_app(),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=[*APPS, "fake"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reuse-port", action="store_true", help="share the port")
    parser.add_argument("--inbox", help="receiver-sqlite: the database file")
    parser.add_argument("--schema", default="public", help="receiver-postgres: the schema")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--learners", type=int, default=0)
    args = parser.parse_args()
    if args.kind == "fake":
        asyncio.run(serve_fake(args.port, args.latency, args.learners))
    else:
        asyncio.run(serve(APPS[args.kind](args), args.port, args.reuse_port))


if __name__ == "__main__":
    main()
