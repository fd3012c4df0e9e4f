"""Pytest fixtures for testing code that uses tahdah_async (registered as a pytest plugin).

- ``fake_tahdah``: a started :class:`FakeTahdah`; override ``fake_tahdah_options`` to pass it
  arguments (``webhook_urls``, ``secret``, ``routes``, ...).
- ``tahdah_client``: a ``TahdahClient`` pointed at ``fake_tahdah``, with short retry backoff.
- ``tahdah_webhook``: ``await tahdah_webhook(app_or_url, verb, payload, secret=...)`` signs a
  payload, delivers it to an aiohttp application (served on loopback for the test) or a URL,
  and returns the :class:`WebhookResponse`.

The fixtures need pytest-asyncio; without it the plugin adds nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, Protocol

import pytest

from .._client import TahdahClient
from .._retry import RetryPolicy
from .fake import DEFAULT_SECRET, FakeTahdah
from .webhooks import WebhookResponse, deliver_webhook

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio
    HAVE_PYTEST_ASYNCIO = False
else:
    HAVE_PYTEST_ASYNCIO = True

__all__ = ["SendWebhook"]


class SendWebhook(Protocol):
    """The ``tahdah_webhook`` fixture: sign and deliver one webhook."""

    def __call__(
        self,
        target: Any,
        verb: str,
        payload: Any,
        *,
        secret: str = DEFAULT_SECRET,
        path: str = "/",
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Awaitable[WebhookResponse]: ...


if HAVE_PYTEST_ASYNCIO:

    @pytest.fixture
    def fake_tahdah_options() -> dict[str, Any]:
        """Keyword arguments for the ``fake_tahdah`` fixture's :class:`FakeTahdah`."""
        return {}

    @pytest_asyncio.fixture
    async def fake_tahdah(fake_tahdah_options: dict[str, Any]) -> AsyncIterator[FakeTahdah]:
        """A started :class:`FakeTahdah`, stopped after the test."""
        async with FakeTahdah(**fake_tahdah_options) as fake:
            yield fake

    @pytest_asyncio.fixture
    async def tahdah_client(fake_tahdah: FakeTahdah) -> AsyncIterator[TahdahClient]:
        """A ``TahdahClient`` for ``fake_tahdah``'s provider, with short retry backoff."""
        quick = RetryPolicy(initial_delay=0.01, max_delay=0.05)
        async with TahdahClient(
            fake_tahdah.token,
            base_url=fake_tahdah.url,
            retry=quick,
            routes=dict(fake_tahdah.routes),
        ) as client:
            yield client

    @pytest_asyncio.fixture
    async def tahdah_webhook() -> AsyncIterator[SendWebhook]:
        """Sign and deliver webhooks to an aiohttp application or a URL."""
        from aiohttp import web
        from aiohttp.test_utils import TestServer

        servers: dict[int, TestServer] = {}

        async def send(
            target: Any,
            verb: str,
            payload: Any,
            *,
            secret: str = DEFAULT_SECRET,
            path: str = "/",
            signature: str | None = None,
            headers: Mapping[str, str] | None = None,
        ) -> WebhookResponse:
            if isinstance(target, web.Application):
                server = servers.get(id(target))
                if server is None:
                    server = servers[id(target)] = TestServer(target)
                    await server.start_server()
                url: Any = server.make_url(path)
            else:
                url = target
            return await deliver_webhook(
                url, verb, payload, secret=secret, signature=signature, headers=headers
            )

        try:
            yield send
        finally:
            for server in servers.values():
                await server.close()
