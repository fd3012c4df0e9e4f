"""The receiver against hostile or broken senders (issue 11): bounded answers and log lines,
no answer cache a sender can fill, a body that never finishes arriving, the mount path's spelling.

No test measures time: the body-read timeout that must fire is short and the sender holds
its body until the test ends; every wait for something that must happen is :data:`HANG_GUARD`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from tahdah_async.webhooks import (
    SIGNATURE_HEADER,
    VERB_HEADER,
    Delivery,
    PayloadError,
    WebhookReceiver,
    WebhookRouter,
    delivery_key,
    sign,
)
from tahdah_async.webhooks import app as app_module
from tahdah_async.webhooks import events as ev
from tests.webhooks.helpers import (
    HANG_GUARD,
    MOUNT,
    SECRET,
    mount,
    post_signed,
    serve_app,
    webhook_client,
)

ANSWER_LIMIT = 8 * 1024
"""Far more than any bounded answer, far less than an echo of the payloads below."""
MANY = 20_000
CREDITS = "eventCredits.updated"


def wrong_balances(count: int, tag: str = "") -> bytes:
    """An ``eventCredits.updated`` payload whose ``count`` balances are all of the wrong type."""
    return json.dumps({"balances": [{"balance": f"x{tag}"}] * count}).encode()


def receiver_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tahdah_async.webhooks"]


# -- answers: bounded, counted, never cached -------------------------------------------------


async def test_an_answer_to_a_payload_with_many_problems_is_small_and_counts_them() -> None:
    async with webhook_client(WebhookRouter()) as http:
        reply = await post_signed(http, wrong_balances(MANY), verb=CREDITS)
    assert reply.status == 400
    assert reply.what == "invalid_payload"
    assert len(reply.text) < ANSWER_LIMIT
    detail = reply.json()["detail"]
    assert "EventCreditsUpdated" in detail
    assert "more problems" in detail
    assert f"{MANY - 10:,}" in detail  # how many were not listed


async def test_an_unbounded_payload_error_message_is_bounded_and_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whatever builds the message, the answer is the receiver's guard: 1 MB of problems that
    # quote the secret and control characters reach the sender bounded, masked, printable.
    hostile = f"the payload does not fit X: {SECRET}\x1b[2J " + "bad @ $.x; " * 100_000

    def parse(verb: str, payload: Any) -> Any:
        raise PayloadError(hostile)

    router = WebhookRouter()
    monkeypatch.setattr(router, "_parse", parse)
    async with webhook_client(router) as http:
        reply = await post_signed(http, b"{}", verb=CREDITS)
    assert reply.status == 400
    assert reply.what == "invalid_payload"
    assert len(reply.text) < ANSWER_LIMIT
    detail = reply.json()["detail"]
    assert SECRET not in detail
    assert "\x1b" not in detail
    assert detail.startswith("the payload does not fit X: *** [2J bad @ $.x;")


async def test_answers_derived_from_a_payload_are_never_cached() -> None:
    app_module._encoded.cache_clear()
    async with webhook_client(WebhookRouter()) as http:
        for tag in ("a", "b", "c"):
            reply = await post_signed(http, wrong_balances(3, tag), verb=CREDITS)
            assert reply.what == "invalid_payload"
        assert app_module._encoded.cache_info().currsize == 0
        # Constant answers still are.
        reply = await post_signed(http, b"{}", verb="widgets.exploded")
        assert reply.what == "unknown_verb"
    assert app_module._encoded.cache_info().currsize == 1


# -- log lines: bounded and masked -----------------------------------------------------------


async def test_a_verb_in_the_log_is_bounded_masked_and_printable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    verb = f"widgets.{SECRET}\t" + "v" * 5000
    with caplog.at_level(logging.INFO, logger="tahdah_async.webhooks"):
        async with webhook_client(WebhookRouter()) as http:
            reply = await post_signed(http, b"{}", verb=verb)
    assert reply.status == 202
    (line,) = receiver_lines(caplog)
    assert SECRET not in line
    assert "\t" not in line
    assert "\\t" not in line  # nor escaped by repr()
    assert "widgets.***" in line
    assert len(line) < 300


async def test_a_delivery_cancelled_at_shutdown_is_logged_bounded_and_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = WebhookRouter(timeout=None)
    entered = asyncio.Event()

    @router.on_unknown
    async def hold(event: ev.UnknownEvent, delivery: Delivery) -> None:
        entered.set()
        await asyncio.Event().wait()  # never set: only the drain's cancellation ends it

    app, receiver = mount(router, mode="ack-then-process")
    verb = f"widgets.{SECRET}" + "v" * 5000
    with caplog.at_level(logging.ERROR, logger="tahdah_async.webhooks"):
        async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
            reply = await post_signed(http, b"{}", verb=verb)
            assert reply.status == 202
            await entered.wait()
            await receiver.drain(within=0.01)  # the handler never ends: it is cancelled
    (line,) = receiver_lines(caplog)
    assert "did not finish" in line
    assert SECRET not in line
    assert len(line) < 300


# -- a body that never finishes arriving -----------------------------------------------------


async def test_a_body_that_stops_arriving_is_answered_408_and_no_handler_runs() -> None:
    router = WebhookRouter()
    ran: list[Any] = []

    @router.on_any
    async def record(event: Any, delivery: Delivery) -> None:
        ran.append(event)

    body = b'{"name": "slow"}'
    app, _ = mount(router, body_timeout=0.2)
    async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
        assert http.server.host is not None
        assert http.server.port is not None
        reader, writer = await asyncio.open_connection(http.server.host, http.server.port)
        try:
            head = (
                f"POST {MOUNT} HTTP/1.1\r\n"
                f"Host: {http.server.host}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body) + 1000}\r\n"
                f"{SIGNATURE_HEADER}: {sign(body, SECRET)}\r\n"
                f"{VERB_HEADER}: legalEntities.created\r\n\r\n"
            )
            writer.write(head.encode() + body[:5])  # then nothing more, ever
            await writer.drain()
            status_line = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            answer = await reader.readexactly(int(headers["content-length"]))
        finally:
            writer.close()
    assert status_line.split()[1] == b"408"
    assert json.loads(answer) == {"status": "body_timeout"}
    assert headers["connection"].lower() == "close"
    assert ran == []


def test_the_body_timeout_is_generous_by_default_and_checked() -> None:
    router = WebhookRouter()
    assert app_module.DEFAULT_BODY_TIMEOUT >= 10
    assert WebhookReceiver(router, SECRET)._body_timeout == app_module.DEFAULT_BODY_TIMEOUT
    with pytest.raises(TypeError):
        WebhookReceiver(router, SECRET, body_timeout="5")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        WebhookReceiver(router, SECRET, body_timeout=True)
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="body_timeout"):
            WebhookReceiver(router, SECRET, body_timeout=bad)


# -- the mount path --------------------------------------------------------------------------


@pytest.mark.parametrize("path", [MOUNT, MOUNT.rstrip("/")], ids=["slash", "no-slash"])
async def test_the_mount_path_is_accepted_with_and_without_its_trailing_slash(
    path: str,
) -> None:
    router = WebhookRouter()
    ran: list[Any] = []

    @router.on(ev.LegalEntityCreated)
    async def record(event: ev.LegalEntityCreated, delivery: Delivery) -> None:
        ran.append(event)

    async with webhook_client(router) as http:
        reply = await post_signed(http, b'{"name": "x"}', path=path)
        assert (reply.status, reply.what) == (200, "processed")
        other = await post_signed(http, b'{"name": "x"}', path=MOUNT.rstrip("/") + "x")
        assert other.status == 404
    assert len(ran) == 1


# -- the dedupe key --------------------------------------------------------------------------


def test_the_dedupe_key_is_the_body_hash_alone() -> None:
    # The verb header is not signed: a key built from it would let a captured body be
    # replayed under other verbs as new deliveries, and let a sender make keys of any size.
    body_hash = "ab" * 32
    assert delivery_key(body_hash) == f"sha256:{body_hash}"
