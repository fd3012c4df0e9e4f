"""``tahdah fake-server``: the fake API as a process of its own, stopped by a signal."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tahdah_async import AuthenticationError, NotFoundError, TahdahClient
from tahdah_async.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app
from tests.servers import refusing_port

from .helpers import WAIT, Child, Cli, own_lines, spawn

SECRET = "wh_cli_fake_server"
TOKEN = "dev_cli-fake-server.token"

_ATTEMPT = r" in [\d.]+ ms$"  # the attempt's duration ends its line; never compared


async def started(child: Child, *webhook_urls: str) -> tuple[str, str, int]:
    """Read the fake's banner; return its URL, its token and the legal entity it acts for."""
    url = (await child.expect(r"^fake Tahdah API listening on (http://127\.0\.0\.1:\d+)$"))[1]
    token, owner = (await child.expect(r"^token: (.+)  \(acts for legal entity (\d+)\)$")).groups()
    experience = await child.line()
    assert experience == f"learning experience {int(owner) + 1} is ready for import-learners"
    after = [await child.line() for _ in range(len(webhook_urls) + 1)]
    assert after == [*(f"webhooks go to {hook}" for hook in webhook_urls), "stop with Ctrl-C"]
    return url, token, int(owner)


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, EXIT_INTERRUPTED, ["interrupted"]), (signal.SIGTERM, EXIT_OK, [])],
    ids=["SIGINT", "SIGTERM"],
)
async def test_fake_server_serves_until_a_signal_and_logs_each_request(
    signum: int, code: int, said: list[str]
) -> None:
    async with spawn("fake-server", "--port", "0") as child:
        url, token, owner = await started(child)
        async with TahdahClient(token, base_url=url) as client:
            group = await client.trust_groups.create(owner, name="Regional Partners")
            listed = await client.trust_groups.list(owner)
        base = f"/api/trustgroups/legalentities/{owner}"
        await child.expect_err(rf"^GET {base}/trustgroups -> 200$")

        exit_code, rest, err = await child.stop(signum)

    assert [(g.id, g.name) for g in listed] == [(group.id, "Regional Partners")]
    assert (exit_code, rest) == (code, "stopped after 2 requests\n")
    # Ctrl-C is an interruption (130, as the command's exit codes say); SIGTERM a plain stop.
    assert own_lines("\n".join([*child.err_lines, err])) == [
        f"PUT {base}/trustgroup -> 201",
        f"GET {base}/trustgroups -> 200",
        *said,
    ]
    assert token not in "\n".join(child.err_lines) + err


async def test_the_token_given_is_the_one_accepted_and_is_not_printed() -> None:
    async with spawn("fake-server", "--port", "0", "--token", TOKEN) as child:
        url, shown, owner = await started(child)
        async with TahdahClient(TOKEN, base_url=url) as client:
            groups = await client.trust_groups.list(owner)
        async with TahdahClient("fake_some-other-key", base_url=url) as client:
            with pytest.raises(AuthenticationError):
                await client.trust_groups.list(owner)
        await child.expect_err(r"-> 401$")

        code, _, err = await child.stop()

    assert groups == []
    assert shown == "the one given with --token"
    assert code == EXIT_INTERRUPTED
    assert TOKEN not in "\n".join([*child.lines, *child.err_lines, err])


async def test_an_unknown_path_is_logged_with_its_status_and_control_characters_escaped() -> None:
    async with spawn("fake-server", "--port", "0") as child:
        url, token, _ = await started(child)
        async with TahdahClient(token, base_url=url) as client:
            with pytest.raises(NotFoundError):
                await client.request("GET", "/api/nowhere/%1b%5B2J")
        logged = await child.expect_err(r"^GET /api/nowhere/.* -> 404$")

        await child.stop()

    assert "\x1b" not in logged[0]


async def test_every_webhook_attempt_is_logged_so_a_failing_receiver_shows() -> None:
    answers = iter([500])
    heard: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    router = WebhookRouter()

    @router.on_any
    async def record(event: Any, delivery: Delivery) -> None:
        heard.put_nowait((delivery.verb, event))

    receiver = create_webhook_app(router, secrets=SECRET)

    @web.middleware
    async def fail_first(request: web.Request, handler: Any) -> web.StreamResponse:
        status = next(answers, None)
        if status is not None:
            return web.Response(status=status, text="not today")
        response: web.StreamResponse = await handler(request)
        return response

    receiver.middlewares.append(fail_first)
    with refusing_port() as port:
        nowhere = f"http://127.0.0.1:{port}/"
        async with TestServer(receiver) as server:
            flaky = str(server.make_url("/"))
            args = ("fake-server", "--port", "0", "--secret", SECRET)
            hooks = ("--webhook-url", flaky, "--webhook-url", nowhere)
            async with spawn(*args, *hooks) as child:
                url, token, _ = await started(child, flaky, nowhere)
                async with TahdahClient(token, base_url=url) as client:
                    made = await client.candidates.create(first_name="Ada", last_name="Lovelace")
                verb, event = await asyncio.wait_for(heard.get(), WAIT)
                first = await child.expect_err(
                    rf"^webhook candidates\.created to {re.escape(flaky)} attempt 1 -> (.*)$"
                )
                second = await child.expect_err(
                    rf"^webhook candidates\.created to {re.escape(flaky)} attempt 2 -> (.*)$"
                )
                refused = await child.expect_err(
                    rf"^webhook candidates\.created to {re.escape(nowhere)} attempt 1 -> (.*)$"
                )

                await child.stop()

    assert (verb, event.id) == ("candidates.created", made.id)
    assert re.fullmatch(r"500" + _ATTEMPT, first[1])
    assert re.fullmatch(r"200" + _ATTEMPT, second[1])
    assert refused[1].startswith("ClientConnectorError: ")


async def test_a_bad_token_is_a_usage_error_that_does_not_show_it(cli: Cli) -> None:
    ran = await cli("fake-server", "--port", "0", "--token", "with a space")

    assert ran.code == EXIT_USAGE
    assert "Invalid value for '--token'" in ran.err
    assert "with a space" not in ran.err
    assert "listening" not in ran.out


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
