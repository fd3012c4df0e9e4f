"""``deliver_webhook`` reads the receiver's answer as peer bytes: nothing in it may raise."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tahdah_async.testing import deliver_webhook


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param(b"caf\xc3\xa9", "text/plain; charset=idna", "café", id="charset-idna"),
        pytest.param(b"bad \xff bytes", "text/plain; charset=utf-8", "bad \ufffd bytes", id="utf8"),
        pytest.param(b"[" * 100_000, "application/json", "[" * 100_000, id="deep-json"),
        pytest.param(b'{"status": "ok"}', "application/json", {"status": "ok"}, id="json"),
    ],
)
async def test_any_answer_is_read_without_raising(
    body: bytes, content_type: str, expected: object
) -> None:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=418, body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_post("/hooks", answer)
    async with TestServer(app) as server:
        reply = await deliver_webhook(
            server.make_url("/hooks"), "candidates.created", {"id": 1}, secret="wh_test"
        )

    assert reply.status == 418
    assert reply.body == expected
