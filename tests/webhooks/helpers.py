"""Shared helpers for the webhook tests: the signature vectors, deliveries, signed POSTs.

::

    async with webhook_client(router, secrets=SECRET) as http:
        reply = await post_signed(http, b'{"id": 1}', verb="candidates.created")
        assert reply.status == 200
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeAlias

import aiohttp
import attrs
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Middleware

from tahdah_async.webhooks import (
    RECEIVER,
    SIGNATURE_HEADER,
    VERB_HEADER,
    Delivery,
    WebhookReceiver,
    WebhookRouter,
    create_webhook_app,
    sign,
)

__all__ = [
    "HANG_GUARD",
    "MOUNT",
    "REFERENCE_PATH",
    "SECRET",
    "VECTORS",
    "VECTORS_PATH",
    "Client",
    "Reply",
    "Vector",
    "load_vectors",
    "make_delivery",
    "mount",
    "post",
    "post_signed",
    "serve_app",
    "signed_headers",
    "vector",
    "webhook_client",
]

SHARED = Path(__file__).parents[1] / "reference"
VECTORS_PATH = SHARED / "signature-vectors.json"
REFERENCE_PATH = SHARED / "REFERENCE.md"

SECRET = "wh_t3st-s1gning-secret"
"""The default signing secret of :func:`webhook_client`."""
MOUNT = "/tahdah/webhooks/"
"""Where :func:`webhook_client` mounts the webhook application."""

HANG_GUARD = 60.0
"""Seconds a test waits for something that must happen before calling it a hang: only a real
hang reaches it, however loaded the machine (no test checks how long anything took)."""

LARGE_BODY = 512 * 1024

Client: TypeAlias = TestClient[web.Request, web.Application]


@attrs.frozen(kw_only=True)
class Vector:
    """One known-answer signature vector."""

    name: str
    secret: str
    body: bytes
    signature: str
    verb: str | None
    valid: bool


def load_vectors() -> list[Vector]:
    """Return every vector of ``signature-vectors.json``, valid ones first."""
    raw = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    vectors = []
    for group, valid in (("valid", True), ("invalid", False)):
        for item in raw[group]:
            body = bytes.fromhex(item["body_hex"]) if "body_hex" in item else item["body"].encode()
            vectors.append(
                Vector(
                    name=item["name"],
                    secret=item["secret"],
                    body=body,
                    signature=item["signature"],
                    verb=item.get("verb"),
                    valid=valid,
                )
            )
    return vectors


VECTORS = load_vectors()


def vector(name: str) -> Vector:
    """Return the vector called ``name``."""
    (found,) = (v for v in VECTORS if v.name == name)
    return found


def make_delivery(
    verb: str = "legalEntities.created",
    body: bytes = b"{}",
    *,
    secret_index: int = 0,
    headers: Mapping[str, str] | None = None,
) -> Delivery:
    """Return a :class:`Delivery` as the receiver would build it for ``body``."""
    return Delivery(
        verb=verb,
        body=body,
        headers=dict(headers or {}),
        body_sha256=hashlib.sha256(body).hexdigest(),
        secret_index=secret_index,
        received_at=dt.datetime.now(dt.UTC),
    )


def signed_headers(
    body: bytes,
    *,
    verb: str | None = "legalEntities.created",
    secret: str = SECRET,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return the headers Tahdah sends with ``body`` (no verb header when ``verb`` is None)."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}
    if verb is not None:
        headers[VERB_HEADER] = verb
    headers.update(extra or {})
    return headers


@attrs.frozen(kw_only=True)
class Reply:
    """A response as the tests look at it."""

    status: int
    text: str
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def what(self) -> Any:
        """The JSON body's ``status`` field."""
        return self.json()["status"]


async def post(
    http: Client,
    body: Any,
    headers: Mapping[str, str],
    *,
    path: str = MOUNT,
    method: str = "POST",
) -> Reply:
    """Send a request and return the whole response.

    Large bodies go as a file object, so aiohttp does not warn (they keep a Content-Length).
    """
    if isinstance(body, bytes) and len(body) > LARGE_BODY:
        body = io.BytesIO(body)
    async with http.request(method, path, data=body, headers=dict(headers)) as response:
        return Reply(
            status=response.status,
            text=await response.text(),
            headers=dict(response.headers),
        )


async def post_signed(
    http: Client,
    body: bytes | str | Any,
    *,
    verb: str | None = "legalEntities.created",
    secret: str = SECRET,
    headers: Mapping[str, str] | None = None,
    path: str = MOUNT,
) -> Reply:
    """Sign ``body`` (bytes, text, or any other value sent as JSON) and POST it."""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return await post(
        http, body, signed_headers(body, verb=verb, secret=secret, extra=headers), path=path
    )


@contextlib.asynccontextmanager
async def serve_app(
    app: web.Application, *, connector_limit: int | None = None, **server: Any
) -> AsyncIterator[Client]:
    """Run ``app`` on a real loopback socket; yield a ``TestClient`` for it (both closed on exit).

    ``server`` holds aiohttp request-handler settings such as ``max_field_size``.
    """
    kwargs: dict[str, Any] = {}
    if connector_limit is not None:
        kwargs["connector"] = aiohttp.TCPConnector(limit=connector_limit)
    test_server = TestServer(app)
    await test_server.start_server(**server)
    async with TestClient(test_server, **kwargs) as http:
        yield http


def mount(
    router: WebhookRouter,
    *,
    middlewares: Iterable[Middleware] = (),
    **options: Any,
) -> tuple[web.Application, WebhookReceiver]:
    """An application with ``create_webhook_app(router, **options)`` mounted at :data:`MOUNT`,
    and that app's receiver. ``secrets`` defaults to :data:`SECRET`."""
    options.setdefault("secrets", SECRET)
    webhooks = create_webhook_app(router, **options)
    app = web.Application(middlewares=list(middlewares))
    app.add_subapp(MOUNT, webhooks)
    return app, webhooks[RECEIVER]


@contextlib.asynccontextmanager
async def webhook_client(
    router: WebhookRouter, *, connector_limit: int | None = None, **options: Any
) -> AsyncIterator[Client]:
    """Mount ``create_webhook_app(router, **options)`` at :data:`MOUNT` and yield a ``TestClient``.

    ``secrets`` defaults to :data:`SECRET`.
    """
    app, _ = mount(router, **options)
    async with serve_app(app, connector_limit=connector_limit) as http:
        yield http
