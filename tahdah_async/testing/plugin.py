"""Pytest fixtures for testing code that uses tahdah_async (registered as a pytest plugin).

- ``fake_tahdah``: a started :class:`FakeTahdah`; override ``fake_tahdah_options`` to pass it
  arguments (``webhook_urls``, ``secret``, ``routes``, ...).
- ``tahdah_client``: a ``TahdahClient`` pointed at ``fake_tahdah``, with short retry backoff.
- ``tahdah_webhook``: ``await tahdah_webhook(app_or_url, verb, payload, secret=..., path="/")``
  signs a payload, delivers it to an aiohttp application (served on loopback for the test, at
  ``path``) or a URL, and returns the :class:`WebhookResponse`.

The plugin is loaded by every pytest run of a project that installs the package, so loading it
costs only pytest: the fixtures import the client, the fake server and aiohttp when a test asks
for one of them. They need pytest-asyncio (``pip install 'tahdah-async[testing]'``); in a run
without it, a test asking for one fails at setup with a message saying so.
"""

from __future__ import annotations

import sys
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import pytest

if TYPE_CHECKING:
    from .._client import TahdahClient
    from .fake import FakeTahdah
    from .webhooks import WebhookResponse

__all__ = ["SendWebhook"]

MISSING_PYTEST_ASYNCIO = (
    "the tahdah_async fixture {name!r} needs pytest-asyncio, which this pytest run does not "
    "have: pip install 'tahdah-async[testing]' (or pytest-asyncio)"
)


class SendWebhook(Protocol):
    """The ``tahdah_webhook`` fixture: sign and deliver one webhook."""

    def __call__(
        self,
        target: Any,
        verb: str,
        payload: Any,
        *,
        secret: str = ...,
        path: str = "/",
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Awaitable[WebhookResponse]: ...


@pytest.fixture
def fake_tahdah_options() -> dict[str, Any]:
    """Keyword arguments for the ``fake_tahdah`` fixture's :class:`FakeTahdah`."""
    return {}


# -- the fixtures that need pytest-asyncio --------------------------------------------------
#
# Plain coroutine functions here; pytest_configure makes them fixtures, with pytest-asyncio's
# decorator when the run has it (so they work in its strict mode too), or replaces them with
# stand-ins that say what is missing.


async def _fake_tahdah(fake_tahdah_options: dict[str, Any]) -> AsyncIterator[FakeTahdah]:
    """A started :class:`FakeTahdah`, stopped after the test."""
    from .fake import FakeTahdah

    async with FakeTahdah(**fake_tahdah_options) as fake:
        yield fake


async def _tahdah_client(fake_tahdah: FakeTahdah) -> AsyncIterator[TahdahClient]:
    """A ``TahdahClient`` for ``fake_tahdah``'s provider, with short retry backoff."""
    from .._client import TahdahClient
    from .._retry import RetryPolicy

    quick = RetryPolicy(initial_delay=0.01, max_delay=0.05)
    async with TahdahClient(
        fake_tahdah.token,
        base_url=fake_tahdah.url,
        retry=quick,
        routes=dict(fake_tahdah.routes),
    ) as client:
        yield client


async def _tahdah_webhook() -> AsyncIterator[SendWebhook]:
    """Sign and deliver webhooks to an aiohttp application or a URL."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from .fake import DEFAULT_SECRET
    from .webhooks import deliver_webhook

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


_ASYNC_FIXTURES: dict[str, Callable[..., AsyncIterator[Any]]] = {
    "fake_tahdah": _fake_tahdah,
    "tahdah_client": _tahdah_client,
    "tahdah_webhook": _tahdah_webhook,
}


def _missing_pytest_asyncio(request: pytest.FixtureRequest) -> NoReturn:
    """Needs pytest-asyncio: ``pip install 'tahdah-async[testing]'``."""
    pytest.fail(MISSING_PYTEST_ASYNCIO.format(name=request.fixturename), pytrace=False)


def _has_pytest_asyncio(config: pytest.Config) -> bool:
    # Looked up, not imported: a run started with ``-p no:asyncio`` has the module but not
    # the plugin.
    plugin = sys.modules.get("pytest_asyncio.plugin")
    return plugin is not None and config.pluginmanager.is_registered(plugin)


def pytest_configure(config: pytest.Config) -> None:
    """Register this run's ``fake_tahdah``, ``tahdah_client`` and ``tahdah_webhook``."""
    fixtures = types.ModuleType(f"{__name__}.fixtures", "The fixtures of this pytest run.")
    if _has_pytest_asyncio(config):
        import pytest_asyncio

        for name, function in _ASYNC_FIXTURES.items():
            setattr(fixtures, name, pytest_asyncio.fixture(function, name=name))
    else:
        for name in _ASYNC_FIXTURES:
            setattr(fixtures, name, pytest.fixture(_missing_pytest_asyncio, name=name))
    config.pluginmanager.register(fixtures, "tahdah_async.fixtures")
