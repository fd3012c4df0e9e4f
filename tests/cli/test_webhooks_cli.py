"""``tahdah webhooks listen`` and ``tahdah webhooks send``."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tahdah_async.cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from tahdah_async.testing import deliver_webhook
from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app
from tahdah_async.webhooks.app import SIGNATURE_HEADER, VERB_HEADER
from tahdah_async.webhooks.signature import sign
from tests.servers import refusing_port

from .helpers import Child, Cli, child_env, own_lines, spawn

SECRET = "wh_cli_secret"
PAYLOAD = {"id": 1008, "firstName": "Ada", "lastName": "Lovelace", "note": "café"}


@contextlib.asynccontextmanager
async def receiver(heard: list[tuple[str, Any, Delivery]]) -> AsyncIterator[str]:
    """Serve a webhook receiver with ``SECRET``; yield its URL; record what it handles."""
    router = WebhookRouter()

    @router.on_any
    async def record(event: Any, delivery: Delivery) -> None:
        heard.append((delivery.verb, event, delivery))

    async with TestServer(create_webhook_app(router, secrets=SECRET)) as server:
        yield str(server.make_url("/"))


async def read_json(child: Child) -> Any:
    """Read a pretty-printed JSON value of several lines from the child's stdout."""
    lines = [await child.line()]
    while lines[-1] not in ("}", "]"):
        lines.append(await child.line())
    return json.loads("\n".join(lines))


# -- listen --------------------------------------------------------------------------------


async def test_listen_verifies_prints_and_rejects() -> None:
    args = ("webhooks", "listen", "--port", "0", "--secret", "wh_old", "--secret", SECRET)
    async with spawn(*args) as child:
        url = (await child.expect(r"^listening for webhooks on (http://127\.0\.0\.1:\d+/)$"))[1]

        good = await deliver_webhook(url, "candidates.created", PAYLOAD, secret=SECRET)
        await child.expect(r"^verified candidates\.created \(secret #1\)$")
        shown = await read_json(child)
        old = await deliver_webhook(url, "candidates.updated", {"id": 7}, secret="wh_old")
        await child.expect(r"^verified candidates\.updated \(secret #0\)$")
        await read_json(child)
        bad = await deliver_webhook(url, "candidates.created", PAYLOAD, secret="wh_wrong")
        rejected = await child.expect(r"^rejected .*")

        code, rest, err = await child.stop(signal.SIGINT)

    assert (good.status, old.status, bad.status) == (200, 200, 401)
    assert good.body["status"] == "processed"
    assert shown == PAYLOAD
    assert '  "note": "café"' in child.lines  # printed as text, not \u escapes
    assert "stop with Ctrl-C" in child.lines
    assert rejected[0] == (
        "rejected candidates.created: 401 Unauthorized, the signature does not match the secret"
    )
    assert (code, own_lines(err)) == (EXIT_INTERRUPTED, ["interrupted"])
    assert "verified" not in rest


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST raw bytes with exactly these headers; return the status."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        await r.read()
        return r.status


async def test_listen_says_why_it_rejects_and_when_a_delivery_is_a_duplicate() -> None:
    body = json.dumps(PAYLOAD).encode()
    signed = {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}
    async with spawn("webhooks", "listen", "--port", "0", "--secret", SECRET) as child:
        url = (await child.expect(r"^listening for webhooks on (http://127\.0\.0\.1:\d+/)$"))[1]

        first = await deliver_webhook(url, "candidates.created", PAYLOAD, secret=SECRET)
        await child.expect(r"^verified candidates\.created ")
        await read_json(child)
        again = await deliver_webhook(url, "candidates.created", PAYLOAD, secret=SECRET)
        duplicate = await child.line()
        no_verb = await post(url, body, signed)
        verbless = await child.line()
        unsigned = await post(url, body, {VERB_HEADER: "candidates.created"})
        no_signature = await child.line()
        not_json = await post(
            url, b"{oops", {VERB_HEADER: "x.y", SIGNATURE_HEADER: sign(b"{oops", SECRET)}
        )
        broken = await child.line()
        unfit = await deliver_webhook(url, "candidates.created", {"id": {}}, secret=SECRET)
        misfit = await child.line()

        code, rest, _ = await child.stop(signal.SIGTERM)

    assert (first.status, again.status) == (200, 200)
    assert again.body["status"] == "duplicate"
    assert duplicate == (
        "duplicate candidates.created: already processed here, so the handlers did not run"
    )
    assert no_verb == 400
    assert verbless == f"rejected ?: 400 Bad Request, no {VERB_HEADER} header"
    assert unsigned == 401
    assert no_signature == (
        f"rejected candidates.created: 401 Unauthorized, no {SIGNATURE_HEADER} header"
    )
    assert not_json == 400
    assert broken == "rejected x.y: 400 Bad Request, the body is not JSON"
    assert unfit.status == 400
    assert misfit == (
        "rejected candidates.created: 400 Bad Request, the payload does not fit "
        "CandidateCreated: expected an integer, got dict @ $.id"
    )
    assert code == EXIT_OK  # SIGTERM is a plain stop
    assert "verified" not in rest


async def test_listen_and_send_read_the_same_secret_variable_whole(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One secret, spaces and all, for both commands (and for `webhooks serve`).
    secret = "wh secret with spaces"
    monkeypatch.setenv("TAHDAH_WEBHOOK_SECRET", secret)
    env = child_env(TAHDAH_WEBHOOK_SECRET=secret)
    async with spawn("webhooks", "listen", "--port", "0", env=env) as child:
        url = (await child.expect(r"^listening for webhooks on (http://127\.0\.0\.1:\d+/)$"))[1]
        ran = await cli(
            "webhooks", "send", "--url", url, "--verb", "candidates.created", "--json", "{}"
        )
        verified = await child.expect(r"^verified candidates\.created \(secret #(\d+)\)$")

        await child.stop()

    assert ran.code == EXIT_OK, ran.err
    assert ran.out.startswith("200\n")
    assert verified[1] == "0"
    assert secret not in "\n".join(child.lines) + ran.out + ran.err


async def test_listen_without_a_secret_is_a_usage_error(cli: Cli) -> None:
    ran = await cli("webhooks", "listen", "--port", "0")

    assert ran.code == EXIT_USAGE
    assert "give the signing secret with --secret or TAHDAH_WEBHOOK_SECRET" in ran.err
    assert "listening" not in ran.out


async def test_listen_on_a_busy_port_is_a_usage_error(cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        ran = await cli("webhooks", "listen", "--port", str(port), "--secret", SECRET)

    assert ran.code == EXIT_USAGE
    assert f"error: cannot listen on 127.0.0.1:{port}" in ran.err


# -- send ----------------------------------------------------------------------------------


async def test_send_delivers_json_and_prints_the_answer(cli: Cli) -> None:
    heard: list[tuple[str, Any, Delivery]] = []
    async with receiver(heard) as url:
        ran = await cli(
            "webhooks",
            "send",
            "--url",
            url,
            "--secret",
            SECRET,
            "--verb",
            "candidates.created",
            "--json",
            json.dumps(PAYLOAD),
        )

    assert ran.code == EXIT_OK, ran.err
    status, _, body = ran.out.partition("\n")
    assert status == "200"
    assert json.loads(body)["status"] == "processed"
    ((verb, event, delivery),) = heard
    assert verb == "candidates.created"
    assert json.loads(delivery.body) == PAYLOAD
    assert (event.id, event.first_name) == (1008, "Ada")


async def test_send_reads_a_file_and_the_secret_from_the_environment(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps(PAYLOAD, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("TAHDAH_WEBHOOK_SECRET", SECRET)
    heard: list[tuple[str, Any, Delivery]] = []
    async with receiver(heard) as url:
        ran = await cli(
            "webhooks", "send", "--url", url, "--verb", "candidates.created", "--file", str(payload)
        )

    assert ran.code == EXIT_OK, ran.err
    assert ran.out.startswith("200\n")
    assert [json.loads(delivery.body) for _, _, delivery in heard] == [PAYLOAD]


async def test_send_with_the_wrong_secret_exits_1_with_the_answer(cli: Cli) -> None:
    heard: list[tuple[str, Any, Delivery]] = []
    async with receiver(heard) as url:
        ran = await cli(
            "webhooks",
            "send",
            "--url",
            url,
            "--secret",
            "wh_wrong",
            "--verb",
            "candidates.created",
            "--json",
            "{}",
        )

    assert ran.code == EXIT_FAILED
    status, _, body = ran.out.partition("\n")
    assert status == "401"
    assert json.loads(body) == {"status": "invalid_signature"}
    assert ran.err.strip() == "error: the receiver answered 401"
    assert heard == []


@pytest.mark.parametrize(
    ("payload_options", "message"),
    [
        (["--json", "{}", "--file", "PAYLOAD_FILE"], "give exactly one of --file and --json"),
        ([], "give exactly one of --file and --json"),
        (["--json", "{'id': 1}"], "--json is not valid JSON"),
        (["--file", "BAD_FILE"], "bad.json is not valid JSON"),
        (["--file", "MISSING_FILE"], "does not exist"),
    ],
    ids=["both", "neither", "bad-json", "bad-file", "missing-file"],
)
async def test_send_usage_errors(
    cli: Cli, tmp_path: Path, payload_options: list[str], message: str
) -> None:
    files = {
        "PAYLOAD_FILE": tmp_path / "payload.json",
        "BAD_FILE": tmp_path / "bad.json",
        "MISSING_FILE": tmp_path / "missing.json",
    }
    files["PAYLOAD_FILE"].write_text("{}", encoding="utf-8")
    files["BAD_FILE"].write_text("{oops", encoding="utf-8")
    options = [str(files[o]) if o in files else o for o in payload_options]
    heard: list[tuple[str, Any, Delivery]] = []
    async with receiver(heard) as url:
        ran = await cli(
            "webhooks", "send", "--url", url, "--secret", SECRET, "--verb", "x.y", *options
        )

    assert ran.code == EXIT_USAGE
    assert message in ran.err
    assert ran.out == ""
    assert heard == []


async def test_send_to_nowhere_exits_4(cli: Cli) -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/"
        ran = await cli(
            "webhooks", "send", "--url", url, "--secret", SECRET, "--verb", "x.y", "--json", "{}"
        )

    assert ran.code == EXIT_UNREACHABLE
    assert ran.err.startswith(f"error: could not deliver to {url}: ")
    assert ran.out == ""


async def test_send_a_file_that_is_not_utf8_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    payload = tmp_path / "latin1.json"
    payload.write_bytes('{"name": "café"}'.encode("latin-1"))

    ran = await cli(
        "webhooks", "send", "--url", "http://127.0.0.1:9/", "--secret", SECRET, "--verb", "x.y",
        "--file", str(payload),
    )  # fmt: skip

    assert ran.code == EXIT_USAGE
    assert "latin1.json" in ran.err


async def test_send_to_a_malformed_url_is_a_usage_error(cli: Cli) -> None:
    ran = await cli(
        "webhooks", "send", "--url", "receiver", "--secret", SECRET, "--verb", "x.y", "--json", "{}"
    )

    assert ran.code == EXIT_USAGE
    assert "receiver" in ran.err


async def test_send_without_a_secret_names_the_environment_variable(cli: Cli) -> None:
    ran = await cli(
        "webhooks", "send", "--url", "http://127.0.0.1:9/", "--verb", "x.y", "--json", "{}"
    )

    assert ran.code == EXIT_USAGE
    assert (
        "Missing option '--secret'. Give --secret or set the TAHDAH_WEBHOOK_SECRET environment "
        "variable." in " ".join(ran.err.split())
    )
    assert ran.out == ""
