"""The aiohttp receiver over real loopback sockets: every row of the status policy, and more.

Every payload carries :data:`MARKER`, so each test can check that no response echoes it.
"""

from __future__ import annotations

import asyncio
import collections
import gzip
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tahdah_async.models import Model
from tahdah_async.webhooks import (
    ACK_THEN_PROCESS,
    RECEIVER,
    SIGNATURE_HEADER,
    VERB_HEADER,
    Claim,
    ClaimState,
    DedupeStore,
    Delivery,
    MemoryDedupeStore,
    WebhookReceiver,
    WebhookRouter,
    create_webhook_app,
    sign,
)
from tahdah_async.webhooks import app as app_module
from tahdah_async.webhooks import events as ev
from tests.webhooks.helpers import (
    HANG_GUARD,
    MOUNT,
    SECRET,
    VECTORS,
    Client,
    Reply,
    Vector,
    mount,
    post,
    post_signed,
    serve_app,
    signed_headers,
    vector,
    webhook_client,
)

MARKER = "Zq7-PAYLOAD-MARKER-4410"
"""In every payload; never in a response or a log."""
ENTITY = {"name": f"{MARKER} Training Ltd", "childAgeLimit": 16, "currencyId": 1}
ENTITY_BODY = json.dumps(ENTITY).encode()
VERB = "legalEntities.created"

STATUS_FIELDS = {"status", "handlers", "failed", "limit", "detail"}


class Recorder:
    """A router whose handlers record what they receive (and can be told to fail, or to wait).

    ``entered`` is set once the handler of a known event has been called (``calls`` counts
    the calls); while ``gate`` is not ``None``, that handler then waits until the test sets it,
    so a delivery stays in flight for exactly as long as a test needs.
    """

    def __init__(self, **router: Any) -> None:
        self.router = WebhookRouter(**router)
        self.events: list[Any] = []
        self.deliveries: list[Delivery] = []
        self.unknown: list[ev.UnknownEvent] = []
        self.errors: list[BaseException] = []
        self.fail_next = 0
        self.calls = 0
        self.entered = asyncio.Event()
        self.gate: asyncio.Event | None = None

        @self.router.on(Model)  # every known event
        async def record(event: Any, delivery: Delivery) -> None:
            self.calls += 1
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("the handler broke")
            self.events.append(event)
            self.deliveries.append(delivery)

        @self.router.on_unknown
        async def unknown(event: ev.UnknownEvent, delivery: Delivery) -> None:
            self.unknown.append(event)

        @self.router.on_error
        async def error(error: BaseException, event: Any, delivery: Delivery) -> None:
            self.errors.append(error)

    @property
    def ran(self) -> int:
        return len(self.events)


def check(reply: Reply, status: int, what: str) -> dict[str, Any]:
    """Assert the status and the JSON ``status`` field, and that the payload is not echoed."""
    assert reply.status == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert body["status"] == what
    assert set(body) <= STATUS_FIELDS
    assert MARKER not in reply.text
    return body  # type: ignore[no-any-return]


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def http(recorder: Recorder) -> AsyncIterator[Client]:
    async with webhook_client(recorder.router) as http:
        yield http


# -- the status policy, row by row ------------------------------------------------------------


async def test_processed_is_200(http: Client, recorder: Recorder) -> None:
    reply = await post_signed(http, ENTITY_BODY, verb=VERB)
    assert check(reply, 200, "processed") == {"status": "processed", "handlers": 1}
    (event,) = recorder.events
    assert isinstance(event, ev.LegalEntityCreated)
    assert event.name == f"{MARKER} Training Ltd"
    (delivery,) = recorder.deliveries
    assert delivery.verb == VERB
    assert delivery.body == ENTITY_BODY
    assert delivery.body_sha256 == hashlib.sha256(ENTITY_BODY).hexdigest()
    assert delivery.secret_index == 0
    assert delivery.headers[SIGNATURE_HEADER] == sign(ENTITY_BODY, SECRET)
    assert delivery.received_at.tzinfo is not None


async def test_a_missing_signature_is_401_and_no_handler_runs(
    http: Client, recorder: Recorder
) -> None:
    reply = await post(http, ENTITY_BODY, {VERB_HEADER: VERB})
    check(reply, 401, "invalid_signature")
    assert recorder.ran == 0


@pytest.mark.parametrize(
    "signature",
    [
        sign(ENTITY_BODY, "wh_someone-else"),
        sign(ENTITY_BODY + b" ", SECRET),
        "0" + sign(ENTITY_BODY, SECRET)[1:],
        sign(ENTITY_BODY, SECRET)[:-1],
        "sha256=" + sign(ENTITY_BODY, SECRET),
        "z" * 64,
        "",
    ],
    ids=["other-secret", "other-body", "flipped", "truncated", "prefixed", "non-hex", "empty"],
)
async def test_an_invalid_signature_is_401_and_no_handler_runs(
    http: Client, recorder: Recorder, signature: str
) -> None:
    headers = {VERB_HEADER: VERB, SIGNATURE_HEADER: signature}
    check(await post(http, ENTITY_BODY, headers), 401, "invalid_signature")
    assert recorder.ran == 0


async def test_upper_case_hex_signature_is_accepted(http: Client, recorder: Recorder) -> None:
    headers = {VERB_HEADER: VERB, SIGNATURE_HEADER: sign(ENTITY_BODY, SECRET).upper()}
    check(await post(http, ENTITY_BODY, headers), 200, "processed")
    assert recorder.ran == 1


async def test_a_configured_authorization_must_match(recorder: Recorder) -> None:
    key = "Bearer partner-api-key"
    async with webhook_client(recorder.router, authorization=key) as http:
        missing = await post_signed(http, ENTITY_BODY, verb=VERB)
        check(missing, 401, "unauthorized")
        wrong = await post_signed(http, ENTITY_BODY, verb=VERB, headers={"Authorization": "x"})
        check(wrong, 401, "unauthorized")
        prefix = await post_signed(
            http, ENTITY_BODY, verb=VERB, headers={"Authorization": key + "x"}
        )
        check(prefix, 401, "unauthorized")
        assert recorder.ran == 0
        right = await post_signed(http, ENTITY_BODY, verb=VERB, headers={"Authorization": key})
        check(right, 200, "processed")
        assert recorder.ran == 1


async def test_authorization_is_ignored_unless_configured(http: Client, recorder: Recorder) -> None:
    reply = await post_signed(http, ENTITY_BODY, verb=VERB, headers={"Authorization": "any"})
    check(reply, 200, "processed")


def padded(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes that fits ``LegalEntityCreated``."""
    head = json.dumps({"name": MARKER, "description": ""}).encode()
    body = head[:-2] + b"x" * (size - len(head)) + b'"}'
    assert len(body) == size
    json.loads(body)
    return body


async def test_a_body_over_the_limit_with_content_length_is_413(recorder: Recorder) -> None:
    async with webhook_client(recorder.router, max_body_size=100) as http:
        reply = await post_signed(http, padded(101), verb=VERB)
        assert check(reply, 413, "payload_too_large") == {
            "status": "payload_too_large",
            "limit": 100,
        }
        assert recorder.ran == 0
        check(await post_signed(http, padded(100), verb=VERB), 200, "processed")
        assert recorder.ran == 1


async def test_a_compressed_body_is_measured_as_it_inflates(recorder: Recorder) -> None:
    # The Content-Length of a gzip body is its compressed size; aiohttp inflates it on read.
    inflated = padded(50_000)
    compressed = gzip.compress(inflated)
    assert len(compressed) < 1_000
    headers = {
        VERB_HEADER: VERB,
        SIGNATURE_HEADER: sign(inflated, SECRET),
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }
    async with webhook_client(recorder.router, max_body_size=10_000) as http:
        check(await post(http, compressed, headers), 413, "payload_too_large")
    assert recorder.ran == 0


async def test_an_oversized_body_is_413_even_without_a_signature(recorder: Recorder) -> None:
    async with webhook_client(recorder.router, max_body_size=100) as http:
        check(await post(http, padded(500), {VERB_HEADER: VERB}), 413, "payload_too_large")


async def chunks(body: bytes, size: int = 16) -> AsyncIterator[bytes]:
    """Send ``body`` as a chunked stream (no Content-Length)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_chunked_body_over_the_limit_is_413(recorder: Recorder) -> None:
    seen: list[dict[str, str]] = []

    @web.middleware
    async def record_headers(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        seen.append(dict(request.headers))
        return await handler(request)

    app, _ = mount(recorder.router, max_body_size=100, middlewares=[record_headers])
    async with serve_app(app) as http:
        big, small = padded(101), padded(100)
        reply = await post(http, chunks(big), signed_headers(big, verb=VERB))
        check(reply, 413, "payload_too_large")
        assert recorder.ran == 0
        reply = await post(http, chunks(small), signed_headers(small, verb=VERB))
        check(reply, 200, "processed")
        assert recorder.ran == 1
    # Both bodies really went without a Content-Length.
    assert len(seen) == 2
    for headers in seen:
        assert "Content-Length" not in headers
        assert headers["Transfer-Encoding"] == "chunked"


async def test_max_body_size_is_configurable(recorder: Recorder) -> None:
    default = app_module.DEFAULT_MAX_BODY_SIZE
    assert default == 1024 * 1024
    body = padded(default + 1)
    async with webhook_client(recorder.router) as http:
        check(await post_signed(http, body, verb=VERB), 413, "payload_too_large")
    async with webhook_client(recorder.router, max_body_size=2 * default) as http:
        check(await post_signed(http, body, verb=VERB), 200, "processed")
        check(
            await post(
                http,
                chunks(padded(default + 2), 64 * 1024),
                signed_headers(padded(default + 2), verb=VERB),
            ),
            200,
            "processed",
        )
    assert recorder.ran == 2


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{", f'{{"name": "{MARKER}"'.encode(), b"\xff\xfe\x00", b""],
    ids=["text", "open-brace", "unterminated", "binary", "empty"],
)
async def test_invalid_json_with_a_valid_signature_is_400(
    http: Client, recorder: Recorder, body: bytes
) -> None:
    check(await post_signed(http, body, verb=VERB), 400, "invalid_json")
    check(await post_signed(http, body, verb="widgets.exploded"), 400, "invalid_json")
    assert recorder.ran == 0
    assert recorder.unknown == []


@pytest.mark.parametrize("verb", [None, "", "   "], ids=["absent", "empty", "blank"])
async def test_a_missing_verb_is_400(http: Client, recorder: Recorder, verb: str | None) -> None:
    check(await post_signed(http, ENTITY_BODY, verb=verb), 400, "missing_verb")
    assert recorder.ran == 0
    assert recorder.unknown == []


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([ENTITY], id="list"),
        pytest.param(MARKER, id="string"),
        pytest.param({"childAgeLimit": MARKER}, id="bad-int"),
        pytest.param({"addedAt": MARKER}, id="bad-date"),
        pytest.param({"name": {MARKER: 1}}, id="object-for-str"),
    ],
)
async def test_a_payload_that_does_not_fit_its_event_is_400(
    http: Client, recorder: Recorder, payload: Any
) -> None:
    reply = await post_signed(http, json.dumps(payload).encode(), verb=VERB)
    body = check(reply, 400, "invalid_payload")
    assert "LegalEntityCreated" in body["detail"]
    assert recorder.ran == 0


async def test_an_unknown_verb_is_202_and_on_unknown_runs(http: Client, recorder: Recorder) -> None:
    reply = await post_signed(http, ENTITY_BODY, verb="widgets.exploded")
    check(reply, 202, "unknown_verb")
    assert recorder.unknown == [ev.UnknownEvent(verb="widgets.exploded", data=ENTITY)]
    assert recorder.ran == 0
    # Remembered like any other delivery: a resend is a duplicate.
    check(await post_signed(http, ENTITY_BODY, verb="widgets.exploded"), 200, "duplicate")
    assert len(recorder.unknown) == 1


async def test_the_unknown_verb_status_can_be_404(recorder: Recorder) -> None:
    async with webhook_client(recorder.router, unknown_verb_status=404) as http:
        check(await post_signed(http, ENTITY_BODY, verb="widgets.exploded"), 404, "unknown_verb")
        assert len(recorder.unknown) == 1
        # Not remembered, so the sender's retry runs on_unknown again.
        check(await post_signed(http, ENTITY_BODY, verb="widgets.exploded"), 404, "unknown_verb")
        assert len(recorder.unknown) == 2
        # Known verbs are unaffected.
        check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "processed")


async def test_a_handler_that_raises_is_500(http: Client, recorder: Recorder) -> None:
    recorder.fail_next = 1
    reply = await post_signed(http, ENTITY_BODY, verb=VERB)
    assert check(reply, 500, "handler_failed") == {"status": "handler_failed", "failed": 1}
    assert [str(e) for e in recorder.errors] == ["the handler broke"]


async def test_a_handler_that_times_out_is_500() -> None:
    recorder = Recorder(timeout=0.05)
    recorder.gate = asyncio.Event()  # never set: only the handler timeout can end the handler
    async with webhook_client(recorder.router) as http:
        async with asyncio.timeout(HANG_GUARD):
            reply = await post_signed(http, ENTITY_BODY, verb=VERB)
    check(reply, 500, "handler_failed")
    assert recorder.calls == 1
    assert [type(e) for e in recorder.errors] == [TimeoutError]
    assert recorder.ran == 0


async def test_a_duplicate_is_200_without_running_handlers(
    http: Client, recorder: Recorder
) -> None:
    check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "processed")
    check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "duplicate")
    # The verb compares case-insensitively for deduplication too.
    check(await post_signed(http, ENTITY_BODY, verb=VERB.upper()), 200, "duplicate")
    # The verb is not signed: the same body under another verb is a replay, not news.
    check(await post_signed(http, ENTITY_BODY, verb="candidates.created"), 200, "duplicate")
    assert recorder.ran == 1
    # Another body is a new delivery.
    check(await post_signed(http, ENTITY_BODY + b" ", verb=VERB), 200, "processed")
    assert recorder.ran == 2


async def test_a_failed_delivery_is_processed_again_when_retried(
    http: Client, recorder: Recorder
) -> None:
    recorder.fail_next = 2
    check(await post_signed(http, ENTITY_BODY, verb=VERB), 500, "handler_failed")
    check(await post_signed(http, ENTITY_BODY, verb=VERB), 500, "handler_failed")
    check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "processed")
    check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "duplicate")
    assert recorder.ran == 1
    assert len(recorder.errors) == 2


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_any_method_but_post_is_405_with_allow_post(
    http: Client, recorder: Recorder, method: str
) -> None:
    reply = await post(http, ENTITY_BODY, signed_headers(ENTITY_BODY, verb=VERB), method=method)
    check(reply, 405, "method_not_allowed")
    assert reply.headers["Allow"] == "POST"
    assert recorder.ran == 0


# -- what reaches the signature check ---------------------------------------------------------


async def raw_request(http: Client, signature: bytes, body: bytes = ENTITY_BODY) -> bytes:
    """Send a hand-written HTTP/1.1 POST over a plain socket and return the whole response."""
    reader, writer = await asyncio.open_connection(http.server.host, http.server.port)
    try:
        writer.write(
            b"POST " + MOUNT.encode() + b" HTTP/1.1\r\n"
            b"Host: localhost\r\n"
            b"Content-Type: application/json\r\n"
            b"Webhook-Verb: " + VERB.encode() + b"\r\n"
            b"Webhook-Signature: " + signature + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n"
            b"Connection: close\r\n"
            b"\r\n" + body
        )
        await writer.drain()
        async with asyncio.timeout(HANG_GUARD):
            return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def status_of(response: bytes) -> int:
    status_line = response.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 ")
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: b"\xff" + s[1:],
        lambda s: s[:-1] + b"\x80",
        lambda s: "é".encode() * 32,
        lambda s: "é".encode() * 64,
    ],
    ids=["ff-first", "80-last", "64-bytes-of-e-acute", "64-chars-of-e-acute"],
)
async def test_a_non_ascii_signature_byte_is_401(
    http: Client, recorder: Recorder, mangle: Callable[[bytes], bytes]
) -> None:
    signature = sign(ENTITY_BODY, SECRET).encode()
    response = await raw_request(http, mangle(signature))
    assert status_of(response) == 401
    assert b'"invalid_signature"' in response
    assert recorder.ran == 0
    # The same hand-written request with the right signature is accepted.
    assert status_of(await raw_request(http, signature)) == 200
    assert recorder.ran == 1


async def test_reserialised_json_with_the_original_signature_is_401(recorder: Recorder) -> None:
    original = vector("legal-entity-created-pretty-printed")
    reserialised = vector("body-reserialised")
    assert json.loads(original.body) == json.loads(reserialised.body)
    assert original.signature == reserialised.signature
    async with webhook_client(recorder.router, secrets=original.secret) as http:
        headers = {VERB_HEADER: VERB, SIGNATURE_HEADER: reserialised.signature}
        check(await post(http, reserialised.body, headers), 401, "invalid_signature")
        assert recorder.ran == 0
        check(await post(http, original.body, headers), 200, "processed")
        assert recorder.ran == 1


@pytest.mark.parametrize("vec", VECTORS, ids=lambda v: v.name)
async def test_every_signature_vector_over_http(vec: Vector) -> None:
    recorder = Recorder()
    app, _ = mount(recorder.router, secrets=vec.secret)
    # aiohttp refuses header fields over 8190 bytes by default (see the next test); allow more
    # so the oversized-header vector reaches the receiver.
    async with serve_app(app, max_field_size=16 * 1024) as http:
        headers = {VERB_HEADER: vec.verb or "widgets.exploded", SIGNATURE_HEADER: vec.signature}
        reply = await post(http, vec.body, headers)
    if vec.valid:
        assert reply.status in (200, 202, 400)
        if vec.verb is not None:
            check(reply, 200, "processed")
            assert recorder.ran == 1
    else:
        check(reply, 401, "invalid_signature")
        assert recorder.ran == 0
        assert recorder.unknown == []


async def test_an_oversized_signature_is_refused_by_aiohttp_defaults(recorder: Recorder) -> None:
    vec = vector("oversized-header")
    async with webhook_client(recorder.router, secrets=vec.secret) as http:
        headers = {VERB_HEADER: VERB, SIGNATURE_HEADER: vec.signature}
        reply = await post(http, vec.body, headers)
    assert reply.status in (400, 401)
    assert recorder.ran == 0


# -- secrets ----------------------------------------------------------------------------------


async def test_both_secrets_are_accepted_during_a_rotation(recorder: Recorder) -> None:
    old, new = "wh_old-rotation-secret", "wh_new-rotation-secret"
    async with webhook_client(recorder.router, secrets=[old, new]) as http:
        check(await post_signed(http, ENTITY_BODY, verb=VERB, secret=old), 200, "processed")
        check(await post_signed(http, b'{"name":"b"}', verb=VERB, secret=new), 200, "processed")
        stranger = await post_signed(http, b'{"name":"c"}', verb=VERB, secret="wh_stranger")
        check(stranger, 401, "invalid_signature")
    assert [d.secret_index for d in recorder.deliveries] == [0, 1]


async def test_a_secrets_callable_is_read_on_every_delivery(recorder: Recorder) -> None:
    current = ["wh_first"]
    async with webhook_client(recorder.router, secrets=lambda: current) as http:
        check(await post_signed(http, b'{"name":"1"}', secret="wh_first"), 200, "processed")
        check(
            await post_signed(http, b'{"name":"2"}', secret="wh_second"), 401, "invalid_signature"
        )
        current = ["wh_first", "wh_second"]
        check(await post_signed(http, b'{"name":"3"}', secret="wh_second"), 200, "processed")
        current = ["wh_second"]
        check(await post_signed(http, b'{"name":"4"}', secret="wh_first"), 401, "invalid_signature")
        check(await post_signed(http, b'{"name":"5"}', secret="wh_second"), 200, "processed")
    assert [
        (e.name, d.secret_index) for e, d in zip(recorder.events, recorder.deliveries, strict=True)
    ] == [
        ("1", 0),
        ("3", 1),
        ("5", 0),
    ]


async def test_secrets_may_be_any_iterable(recorder: Recorder) -> None:
    secrets = (s.strip() for s in [" wh_old ", "wh_new"])
    async with webhook_client(recorder.router, secrets=secrets) as http:
        check(await post_signed(http, ENTITY_BODY, verb=VERB, secret="wh_new"), 200, "processed")
    assert [d.secret_index for d in recorder.deliveries] == [1]


# -- concurrency ------------------------------------------------------------------------------


class RefusalCounter(MemoryDedupeStore):
    """The in-memory store, counting the claims it finds held: ``all_refused`` is set once
    ``refusals`` copies of a delivery have reached the receiver and found it in progress."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refused = 0
        self._refusals = refusals
        self.all_refused = asyncio.Event()

    async def claim(self, key: str, lease: float) -> Claim:
        claim = await super().claim(key, lease)
        if claim.state is ClaimState.IN_PROGRESS:
            self.refused += 1
            if self.refused >= self._refusals:
                self.all_refused.set()
        return claim


async def test_concurrent_duplicates_run_the_handler_once() -> None:
    recorder = Recorder(timeout=None)
    recorder.gate = asyncio.Event()
    store = RefusalCounter(refusals=19)
    async with asyncio.timeout(HANG_GUARD), webhook_client(recorder.router, dedupe=store) as http:
        posts = [asyncio.create_task(post_signed(http, ENTITY_BODY, verb=VERB)) for _ in range(20)]
        # Every copy arrives while the first is still being handled: the first handler is held
        # until the other 19 have been told to come back later.
        await store.all_refused.wait()
        assert recorder.calls == 1
        recorder.gate.set()
        replies = await asyncio.gather(*posts)
        again = await post_signed(http, ENTITY_BODY, verb=VERB)
    whats = collections.Counter((r.status, r.json()["status"]) for r in replies)
    assert whats == {(200, "processed"): 1, (409, "in_progress"): 19}
    assert {r.headers["Retry-After"] for r in replies if r.status == 409} == {"5"}
    check(again, 200, "duplicate")
    assert recorder.ran == 1
    assert store.refused == 19


async def test_handler_errors_are_isolated_over_http() -> None:
    router = WebhookRouter(timeout=None)
    completed: list[str] = []
    reported: list[BaseException] = []
    failure_reported = asyncio.Event()

    @router.on(ev.LegalEntityCreated)
    async def fails(event: ev.LegalEntityCreated, delivery: Delivery) -> None:
        raise RuntimeError("the handler broke")

    @router.on(ev.LegalEntityCreated)
    async def survives(event: ev.LegalEntityCreated, delivery: Delivery) -> None:
        await failure_reported.wait()  # still running when the other one has failed
        completed.append(delivery.body_sha256)

    @router.on_error
    async def report(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append(error)
        failure_reported.set()

    async with asyncio.timeout(HANG_GUARD), webhook_client(router) as http:
        reply = await post_signed(http, ENTITY_BODY, verb=VERB)
    assert check(reply, 500, "handler_failed")["failed"] == 1
    assert completed == [hashlib.sha256(ENTITY_BODY).hexdigest()]
    assert [str(e) for e in reported] == ["the handler broke"]


async def test_a_thousand_concurrent_deliveries_are_each_handled_once() -> None:
    # No handler timeout: on a loaded machine a handler may wait long for its next turn, and
    # a timeout firing would be a 500 this test does not mean to check.
    router = WebhookRouter(timeout=None)
    seen: collections.Counter[int] = collections.Counter()

    @router.on(ev.CandidateCreated)
    async def handle(event: ev.CandidateCreated, delivery: Delivery) -> None:
        # One suspension, so handlers of different deliveries are in flight together (nothing
        # waits for anything to happen here, and no count of turns is checked).
        await asyncio.sleep(0)
        assert isinstance(event.id, int)
        seen[event.id] += 1

    async with (
        asyncio.timeout(5 * HANG_GUARD),  # 1000 requests: a wider guard, only a hang reaches it
        webhook_client(router, connector_limit=100) as http,
    ):
        replies = await asyncio.gather(
            *(post_signed(http, {"id": n}, verb="candidates.created") for n in range(1000))
        )
    assert collections.Counter(r.status for r in replies) == {200: 1000}
    assert {r.json()["status"] for r in replies} == {"processed"}
    assert seen == collections.Counter(range(1000))


# -- ack-then-process -------------------------------------------------------------------------


class DrainSpy:
    """Wraps ``receiver.drain`` (which the app's cleanup calls): ``started`` is set as the drain
    begins, and ``pending_at_start`` is how many background deliveries it found then.

    ``late`` is set by a loop timer due ``late_after`` seconds after the drain begins, armed
    just before the drain arms its own deadline. The loop runs timers in deadline order, so
    with ``late_after`` under the drain's limit a handler released by ``late`` finishes before
    that limit is reached however slow the machine is, and a drain that stopped waiting
    before ``late_after`` cannot see it finish. No test measures how long anything took.
    """

    def __init__(
        self, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, late_after: float = 0.1
    ) -> None:
        self.started = asyncio.Event()
        self.late = asyncio.Event()
        self.pending_at_start: int | None = None
        drain = receiver.drain

        async def spied(within: float | None = None) -> None:
            self.pending_at_start = receiver.pending
            self.started.set()
            asyncio.get_running_loop().call_later(late_after, self.late.set)
            await drain(within)

        monkeypatch.setattr(receiver, "drain", spied)


def receiver_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The receiver's own ERROR lines (a runtime warning from asyncio is not one of them)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tahdah_async.webhooks" and r.levelno == logging.ERROR
    ]


async def test_ack_then_process_answers_202_while_the_handler_runs() -> None:
    router = WebhookRouter(timeout=None)
    release, started, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()

    @router.on(ev.LegalEntityCreated)
    async def blocked(event: ev.LegalEntityCreated, delivery: Delivery) -> None:
        started.set()
        await release.wait()
        finished.set()

    app, receiver = mount(router, mode=ACK_THEN_PROCESS)
    async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
        # The handler cannot finish before the test releases it, so this answer did not wait.
        reply = await post_signed(http, ENTITY_BODY, verb=VERB)
        check(reply, 202, "accepted")
        await started.wait()
        assert not finished.is_set()
        assert receiver.pending == 1
        # A resend while it is still being processed is a duplicate.
        check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "duplicate")
        assert receiver.pending == 1
        release.set()
        await finished.wait()
        await receiver.drain(within=HANG_GUARD)  # returns once the background task has ended
        assert receiver.pending == 0


async def test_ack_then_process_releases_the_claim_of_a_failed_delivery() -> None:
    recorder = Recorder()
    recorder.fail_next = 1
    app, receiver = mount(recorder.router, mode=ACK_THEN_PROCESS)
    async with serve_app(app) as http:
        check(await post_signed(http, ENTITY_BODY, verb=VERB), 202, "accepted")
        await receiver.drain(within=HANG_GUARD)
        assert len(recorder.errors) == 1
        check(await post_signed(http, ENTITY_BODY, verb=VERB), 202, "accepted")
        await receiver.drain(within=HANG_GUARD)
    assert recorder.ran == 1
    assert recorder.calls == 2


async def test_shutdown_waits_for_handlers_that_finish_within_drain_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    router = WebhookRouter(timeout=None)
    done: list[str] = []
    # A day: if the drain ended by its timeout, the hang guard would fire first.
    app, receiver = mount(router, mode=ACK_THEN_PROCESS, drain_timeout=24 * 60 * 60)
    spy = DrainSpy(receiver, monkeypatch)

    # Both are still running when the drain begins; one finishes at once, the other later
    # (so a drain that returned with the first would not see it).
    @router.on(ev.LegalEntityCreated)
    async def slow(event: ev.LegalEntityCreated, delivery: Delivery) -> None:
        await spy.started.wait()
        done.append("slow")

    @router.on(ev.CandidateCreated)
    async def slower(event: ev.CandidateCreated, delivery: Delivery) -> None:
        await spy.late.wait()
        done.append("slower")

    with caplog.at_level(logging.ERROR, logger="tahdah_async.webhooks"):
        async with asyncio.timeout(HANG_GUARD):
            async with serve_app(app) as http:
                check(await post_signed(http, ENTITY_BODY, verb=VERB), 202, "accepted")
                check(
                    await post_signed(http, {"id": 1}, verb="candidates.created"), 202, "accepted"
                )
                assert done == []
                assert receiver.pending == 2
            # The shutdown returned: the drain waited for both, and for nothing else.
    assert spy.pending_at_start == 2
    assert done == ["slow", "slower"]
    assert receiver.pending == 0
    assert receiver_errors(caplog) == []


async def test_shutdown_cancels_and_logs_handlers_past_drain_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    router = WebhookRouter(timeout=None)
    outcomes: list[str] = []
    # The drain limit must fire for the stuck handler; the quick one is released as the drain
    # begins and needs a few loop turns, which a whole second covers on any loaded machine.
    app, receiver = mount(router, mode=ACK_THEN_PROCESS, drain_timeout=1.0)
    spy = DrainSpy(receiver, monkeypatch, late_after=0.0)

    @router.on(ev.LegalEntityCreated)
    async def stuck(event: ev.LegalEntityCreated, delivery: Delivery) -> None:
        try:
            await asyncio.Event().wait()  # only a cancellation ends this
        except asyncio.CancelledError:
            outcomes.append("cancelled")
            raise

    @router.on(ev.CandidateCreated)
    async def quick(event: ev.CandidateCreated, delivery: Delivery) -> None:
        # Released as the drain begins: it finishes within the drain's limit, so it is not
        # reported, and the stuck one is cancelled only after it.
        await spy.late.wait()
        outcomes.append("quick")

    with caplog.at_level(logging.ERROR, logger="tahdah_async.webhooks"):
        async with asyncio.timeout(HANG_GUARD):  # a shutdown that never cancels would hang
            async with serve_app(app) as http:
                check(await post_signed(http, ENTITY_BODY, verb=VERB), 202, "accepted")
                check(
                    await post_signed(http, {"id": 1}, verb="candidates.created"),
                    202,
                    "accepted",
                )
                assert receiver.pending == 2
    assert spy.pending_at_start == 2
    # The drain let the quick one finish, then cancelled the stuck one.
    assert outcomes == ["quick", "cancelled"]
    assert receiver.pending == 0
    (message,) = receiver_errors(caplog)
    assert "cancelled" in message
    assert "within 1.0 s" in message  # the configured drain_timeout was the limit
    assert hashlib.sha256(ENTITY_BODY).hexdigest() in message  # which delivery


async def test_ack_then_process_honours_unknown_verb_status_404() -> None:
    recorder = Recorder()
    app, receiver = mount(recorder.router, mode=ACK_THEN_PROCESS, unknown_verb_status=404)
    async with serve_app(app) as http:
        reply = await post_signed(http, ENTITY_BODY, verb="widgets.exploded")
        await receiver.drain(within=HANG_GUARD)
    assert reply.status == 404


# -- logging ----------------------------------------------------------------------------------


def slow_callback_report(record: logging.LogRecord) -> bool:
    """Whether ``record`` is asyncio debug mode's "Executing <...> took 0.1 seconds" warning,
    which a loaded machine emits at any time."""
    return record.name == "asyncio" and record.getMessage().startswith("Executing ")


def receiver_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "tahdah_async.webhooks" and r.levelno == logging.INFO
    ]


async def test_one_info_line_per_delivery_and_no_secrets_in_any_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    auth = "Bearer partner-api-key-77"
    bodies = {
        "processed": ENTITY_BODY,
        "failed": json.dumps({**ENTITY, "currencyId": 2}).encode(),
        "bad-payload": json.dumps({"childAgeLimit": MARKER}).encode(),
        "bad-json": f"{{{MARKER}".encode(),
        "unknown": json.dumps({"widget": MARKER}).encode(),
    }
    expected = {
        "processed": (VERB, 200),
        "failed": (VERB, 500),
        "bad-payload": (VERB, 400),
        "bad-json": (VERB, 400),
        "unknown": ("widgets.exploded", 202),
    }
    signatures = [sign(body, SECRET) for body in bodies.values()]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    with caplog.at_level(logging.DEBUG):
        async with webhook_client(recorder.router, authorization=auth) as http:
            for name, body in bodies.items():
                verb, status = expected[name]
                recorder.fail_next = 1 if name == "failed" else 0
                before = len(receiver_lines(caplog))
                reply = await post_signed(http, body, verb=verb, headers={"Authorization": auth})
                assert reply.status == status
                lines = receiver_lines(caplog)[before:]
                assert len(lines) == 1, [r.getMessage() for r in lines]
                message = lines[0].getMessage()
                assert verb in message
                assert hashlib.sha256(body).hexdigest() in message
                assert str(status) in message
            # Rejected deliveries are logged too: the status, and the hash once the body is read.
            before = len(receiver_lines(caplog))
            forged = await post_signed(
                http, ENTITY_BODY, verb=VERB, secret="wh_forger", headers={"Authorization": auth}
            )
            assert forged.status == 401
            (line,) = receiver_lines(caplog)[before:]
            assert "401" in line.getMessage()
            assert hashlib.sha256(ENTITY_BODY).hexdigest() in line.getMessage()
            signatures.append(sign(ENTITY_BODY, "wh_forger"))

    assert len(receiver_lines(caplog)) == len(bodies) + 1
    failed = [m for m in receiver_errors(caplog) if m.startswith("webhook handler failed")]
    assert len(failed) == 1  # the failed handler
    for record in caplog.records:
        if slow_callback_report(record):
            continue  # the runtime's, about loop timing: not this receiver's output
        text = formatter.format(record) + repr(record.args) + repr(record.__dict__)
        assert SECRET not in text
        assert auth not in text
        assert MARKER not in text, text
        for signature in signatures:
            assert signature not in text
            assert signature.upper() not in text


async def test_a_413_is_logged_without_reading_the_body(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    with caplog.at_level(logging.INFO, logger="tahdah_async.webhooks"):
        async with webhook_client(recorder.router, max_body_size=100) as http:
            check(await post_signed(http, padded(200), verb=VERB), 413, "payload_too_large")
    (line,) = receiver_lines(caplog)
    assert "413" in line.getMessage()
    assert "sha256=-" in line.getMessage()


# -- mounting ---------------------------------------------------------------------------------


async def test_the_receiver_mounts_as_a_plain_handler() -> None:
    recorder = Recorder()
    receiver = WebhookReceiver(recorder.router, secrets=SECRET)
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    async with serve_app(app) as http:
        check(await post_signed(http, ENTITY_BODY, verb=VERB, path="/hooks"), 200, "processed")
        check(await post_signed(http, ENTITY_BODY, verb=VERB, path="/hooks"), 200, "duplicate")
        forged = await post_signed(http, b"{}", verb=VERB, secret="wh_forger", path="/hooks")
        check(forged, 401, "invalid_signature")
        get = await post(http, None, {}, path="/hooks", method="GET")
        assert get.status == 405
        assert get.headers["Allow"] == "POST"
    assert recorder.ran == 1
    assert "process-then-ack" in repr(receiver)


async def test_a_plain_handler_in_ack_mode_drains_once_attached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = WebhookRouter(timeout=None)
    done: list[str] = []
    receiver = WebhookReceiver(router, secrets=SECRET, mode=ACK_THEN_PROCESS)
    spy = DrainSpy(receiver, monkeypatch)

    @router.on(ev.LegalEntityCreated)
    async def slow(event: ev.LegalEntityCreated, delivery: Delivery) -> None:
        await spy.late.wait()  # still running at shutdown, finishing 0.1 s into the drain
        done.append("slow")

    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    receiver.attach(app)
    async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
        check(await post_signed(http, ENTITY_BODY, verb=VERB, path="/hooks"), 202, "accepted")
        assert done == []
        assert receiver.pending == 1
    assert spy.pending_at_start == 1
    assert done == ["slow"]
    assert receiver.pending == 0


def test_create_webhook_app_exposes_its_receiver() -> None:
    webhooks = create_webhook_app(WebhookRouter(), secrets=SECRET)
    assert isinstance(webhooks[RECEIVER], WebhookReceiver)
    assert isinstance(webhooks[RECEIVER].router, WebhookRouter)


# -- dedupe stores ----------------------------------------------------------------------------


class RecordingStore(MemoryDedupeStore):
    """The in-memory store, recording the calls the receiver makes (tokens as ``t``)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, float | None]] = []

    async def claim(self, key: str, lease: float) -> Claim:
        claim = await super().claim(key, lease)
        self.calls.append(("claim:" + claim.state.value, key, lease))
        return claim

    async def commit(self, key: str, token: str, ttl: float) -> bool:
        self.calls.append(("commit", key, ttl))
        return await super().commit(key, token, ttl)

    async def release(self, key: str, token: str) -> bool:
        self.calls.append(("release", key, None))
        return await super().release(key, token)


async def test_a_custom_dedupe_store_is_used(recorder: Recorder) -> None:
    store = RecordingStore()
    assert isinstance(store, DedupeStore)
    key = f"sha256:{hashlib.sha256(ENTITY_BODY).hexdigest()}"
    async with webhook_client(
        recorder.router, dedupe=store, dedupe_ttl=120, dedupe_lease=45
    ) as http:
        recorder.fail_next = 1
        check(await post_signed(http, ENTITY_BODY, verb=VERB), 500, "handler_failed")
        check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "processed")
        check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "duplicate")
    assert store.calls == [
        ("claim:new", key, 45.0),
        ("release", key, None),
        ("claim:new", key, 45.0),
        ("commit", key, 120.0),
        ("claim:duplicate", key, 45.0),
    ]


class BrokenStore(MemoryDedupeStore):
    """A store whose server is gone."""

    async def claim(self, key: str, lease: float) -> Claim:
        raise ConnectionError("the store is unreachable")


async def test_an_unreachable_dedupe_store_is_503_so_the_sender_retries(
    recorder: Recorder,
) -> None:
    async with webhook_client(recorder.router, dedupe=BrokenStore()) as http:
        reply = await post_signed(http, ENTITY_BODY, verb=VERB)
    check(reply, 503, "dedupe_unavailable")
    assert reply.headers["Retry-After"] == "5"
    assert recorder.calls == 0


async def test_dedupe_can_be_turned_off(recorder: Recorder) -> None:
    async with webhook_client(recorder.router, dedupe=None) as http:
        check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "processed")
        check(await post_signed(http, ENTITY_BODY, verb=VERB), 200, "processed")
    assert recorder.ran == 2


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"router": object()}, TypeError),
        ({"secrets": []}, ValueError),
        ({"secrets": ""}, ValueError),
        ({"secrets": [b"wh_bytes"]}, TypeError),
        ({"max_body_size": 0}, ValueError),
        ({"max_body_size": "1024"}, TypeError),
        ({"max_body_size": True}, TypeError),
        ({"unknown_verb_status": 200}, ValueError),
        ({"mode": "fire-and-forget"}, ValueError),
        ({"dedupe": "redis"}, TypeError),
        ({"dedupe": object()}, TypeError),
        ({"dedupe_ttl": 0}, ValueError),
        ({"drain_timeout": -1}, ValueError),
        ({"authorization": ""}, ValueError),
    ],
    # No memory address in an id: every run (and every xdist worker) must name a test alike.
    ids=lambda v: re.sub(r" at 0x[0-9a-f]+", "", repr(v)) if isinstance(v, dict) else v.__name__,
)
def test_receiver_options_are_checked(options: dict[str, Any], error: type[Exception]) -> None:
    arguments: dict[str, Any] = {"router": WebhookRouter(), "secrets": SECRET, **options}
    with pytest.raises(error):
        WebhookReceiver(**arguments)


# -- bugs -------------------------------------------------------------------------------------


async def test_deeply_nested_json_is_400_not_500(http: Client, recorder: Recorder) -> None:
    reply = await post_signed(http, b"[" * 100_000, verb=VERB)
    check(reply, 400, "invalid_json")


# -- properties -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["id", "name", "childAgeLimit", "addedAt", "tags", "balances", "x"])
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
bodies = st.binary(max_size=512) | json_values.map(lambda v: json.dumps(v).encode())
verbs = st.sampled_from(sorted(ev.VERBS)) | st.from_regex(
    r"[A-Za-z][A-Za-z0-9._-]{0,40}", fullmatch=True
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, verb=verbs)
def test_any_signed_body_is_2xx_or_400_never_5xx(body: bytes, verb: str) -> None:
    async def scenario() -> Reply:
        router = WebhookRouter()

        @router.on_any
        async def fine(event: Any, delivery: Delivery) -> None:
            return None

        async with webhook_client(router) as http:
            return await post_signed(http, body, verb=verb)

    reply = asyncio.run(scenario())
    assert reply.status in (200, 202, 400), reply.text
    assert set(reply.json()) <= STATUS_FIELDS
    if reply.status == 400:
        assert reply.json()["status"] in ("invalid_json", "invalid_payload")


@pytest.mark.parametrize(
    ("first_fails", "first", "later"),
    [
        # The first run fails after the sender may have given up on it; the resend must not
        # be answered "duplicate" meanwhile, or the work is lost.
        (True, (500, "handler_failed"), (200, "processed")),
        (False, (200, "processed"), (200, "duplicate")),
    ],
)
async def test_a_resend_of_a_delivery_in_flight_is_told_to_come_back(
    first_fails: bool, first: tuple[int, str], later: tuple[int, str]
) -> None:
    recorder = Recorder(timeout=None)
    recorder.fail_next = int(first_fails)
    recorder.gate = asyncio.Event()
    store = RefusalCounter(refusals=1)
    app, _ = mount(recorder.router, dedupe=store)
    async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
        original = asyncio.create_task(post_signed(http, ENTITY_BODY, verb=VERB))
        await recorder.entered.wait()  # the first run is in its handler, held there...
        resend = await post_signed(http, ENTITY_BODY, verb=VERB)  # ...when the resend comes
        assert not original.done()
        recorder.gate.set()
        check(await original, *first)
        check(await post_signed(http, ENTITY_BODY, verb=VERB), *later)
    check(resend, 409, "in_progress")
    assert resend.headers["Retry-After"] == "5"
    assert store.refused == 1
    assert recorder.calls == 1 + int(first_fails)  # a failed first run: the next one runs
    assert recorder.ran == 1


async def test_deliveries_during_shutdown_are_refused_with_503() -> None:
    recorder = Recorder()
    app, receiver = mount(recorder.router, mode=ACK_THEN_PROCESS)
    async with serve_app(app) as http:
        await receiver._on_shutdown(app)
        reply = await post_signed(http, ENTITY_BODY, verb=VERB)
    check(reply, 503, "shutting_down")
    assert reply.headers["Retry-After"] == "5"
    assert recorder.ran == 0


@pytest.mark.parametrize("option", ["dedupe_ttl", "dedupe_lease"])
@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (0, ValueError),
        (-5, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("60", TypeError),
        (True, TypeError),
    ],
    ids=["zero", "negative", "nan", "inf", "str", "bool"],
)
def test_a_dedupe_duration_that_is_not_a_positive_finite_number_is_refused(
    option: str, bad: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match=option):
        WebhookReceiver(WebhookRouter(), SECRET, **{option: bad})  # type: ignore[arg-type]
