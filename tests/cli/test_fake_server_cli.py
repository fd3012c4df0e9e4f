"""``tahdah fake-server``: the fake API as a process of its own, stopped by a signal."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tahdah_async import TahdahClient
from tahdah_async.cli import EXIT_OK, EXIT_USAGE
from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app

from .helpers import WAIT, Child, Cli, own_lines, spawn

SECRET = "wh_cli_fake_server"


async def started(child: Child, *webhook_urls: str) -> tuple[str, str, int]:
    """Read the fake's banner; return its URL, its token and the legal entity it acts for."""
    url = (await child.expect(r"^fake Tahdah API listening on (http://127\.0\.0\.1:\d+)$"))[1]
    token, owner = (await child.expect(r"^token: (\S+)  \(acts for legal entity (\d+)\)$")).groups()
    experience = await child.line()
    assert experience == f"learning experience {int(owner) + 1} is ready for import-learners"
    after = [await child.line() for _ in range(len(webhook_urls) + 1)]
    assert after == [*(f"webhooks go to {hook}" for hook in webhook_urls), "stop with Ctrl-C"]
    return url, token, int(owner)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_fake_server_serves_until_a_signal(signum: int) -> None:
    async with spawn("fake-server", "--port", "0") as child:
        url, token, owner = await started(child)
        async with TahdahClient(token, base_url=url) as client:
            group = await client.trust_groups.create(owner, name="Regional Partners")
            listed = await client.trust_groups.list(owner)

        code, rest, err = await child.stop(signum)

    assert [(g.id, g.name) for g in listed] == [(group.id, "Regional Partners")]
    assert (code, own_lines(err)) == (EXIT_OK, [])
    assert rest == "stopped after 2 requests\n"


async def test_fake_server_sends_signed_webhooks_to_the_url_given() -> None:
    heard: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    router = WebhookRouter()

    @router.on_any
    async def record(event: Any, delivery: Delivery) -> None:
        heard.put_nowait((delivery.verb, event))

    async with TestServer(create_webhook_app(router, secrets=SECRET)) as receiver:
        hook_url = str(receiver.make_url("/"))
        args = ("fake-server", "--port", "0", "--secret", SECRET, "--webhook-url", hook_url)
        async with spawn(*args) as child:
            url, token, _ = await started(child, hook_url)
            async with TahdahClient(token, base_url=url) as client:
                made = await client.candidates.create(first_name="Ada", last_name="Lovelace")
            verb, event = await asyncio.wait_for(heard.get(), WAIT)

            code, rest, err = await child.stop()

    assert verb == "candidates.created"
    assert (event.id, event.first_name, event.last_name) == (made.id, "Ada", "Lovelace")
    assert heard.empty()
    assert (code, own_lines(err)) == (EXIT_OK, [])
    assert rest == "stopped after 1 request\n"


async def test_a_negative_latency_is_a_usage_error(cli: Cli) -> None:
    ran = await cli("fake-server", "--port", "0", "--latency", "-1")

    assert ran.code == EXIT_USAGE
    assert "Invalid value for '--latency'" in ran.err
    assert "listening" not in ran.out


async def test_fake_server_on_a_busy_port_is_a_usage_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        async with spawn("fake-server", "--port", str(port)) as child:
            code, _, err = await child.finish()

    assert code == EXIT_USAGE
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err
    assert "Unclosed" not in err
