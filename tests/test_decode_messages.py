"""Messages derived from what a peer sent stay short, printable and free of secrets.

- ``explain`` (and so ``ResponseDecodeError``, the webhook ``PayloadError`` and the batch
  ``LearnerFileError``) lists a few problems and counts the rest, however many items were wrong;
- the webhook sender's record of a failed attempt, and ``tahdah webhooks send``'s error line,
  show aiohttp's error text (which quotes the receiver's bytes) through ``peer_text``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import cattrs
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tahdah_async import LearnerRegistration, Person, Response, ResponseDecodeError
from tahdah_async._converter import (
    PROBLEMS_SHOWN,
    StructureError,
    converter,
    explain,
    structure,
)
from tahdah_async._decode import decode
from tahdah_async.cli import main
from tahdah_async.testing._sender import WebhookSender
from tests.servers import HANG, Script, raw_server, respond, serve

SECRET = "whsec_do-not-show-this"


def response(body: bytes) -> Response:
    return Response(
        method="GET",
        url=URL("https://api.example/api/things"),
        status=200,
        reason="OK",
        headers=CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"})),
        content=body,
        elapsed=0.0,
    )


def test_a_decode_error_for_8000_wrong_items_has_a_short_message() -> None:
    body = b"[" + b",".join([b'"not a number"'] * 8000) + b"]"
    with pytest.raises(ResponseDecodeError) as caught:
        decode(response(body), list[int])
    message = str(caught.value)
    assert len(message) < 3000  # it was 415,000 characters
    assert message.startswith("the 200 response to GET /api/things does not fit list: ")
    assert message.count(" @ $[") == PROBLEMS_SHOWN
    assert message.endswith("; ... and 7,990 more problems")
    # Every problem stays on the error behind it, with its path.
    cause = caught.value.__cause__
    assert isinstance(cause, StructureError)
    assert len(cause.problems) == 8000
    assert cause.problems[7999].path == "$[7999]"
    assert isinstance(cause.__cause__, cattrs.BaseValidationError)


def test_one_problem_over_the_shown_ones_is_counted_in_the_singular() -> None:
    with pytest.raises(cattrs.BaseValidationError) as caught:
        converter.structure(["x"] * (PROBLEMS_SHOWN + 1), list[int])
    assert explain(caught.value).endswith("; ... and 1 more problem")
    assert "more problem" not in explain(caught.value, limit=PROBLEMS_SHOWN + 1)


def test_few_problems_are_all_listed() -> None:
    with pytest.raises(cattrs.BaseValidationError) as caught:
        converter.structure([1, "x", 3], list[int])
    assert explain(caught.value) == "expected an integer, got a string that is not one @ $[1]"


def test_a_key_the_peer_chose_is_bounded_in_the_path() -> None:
    key = "\x1b[31m" + "k" * 100_000
    with pytest.raises(ResponseDecodeError) as caught:
        decode(response(json.dumps({key: "x"}).encode()), dict[str, int])
    message = str(caught.value)
    assert "does not fit" in message
    assert len(message) < 500  # the old message held the whole 100,000-character key
    assert "\x1b" not in message
    assert message.isprintable()


@contextlib.asynccontextmanager
async def garbage_receiver() -> AsyncIterator[str]:
    """A receiver answering with a 5 kB malformed status line that holds the secret."""
    async with raw_server(b"HTTP/1.1 2" + SECRET.encode() + b"X" * 5000 + b"\r\n\r\n") as (url, _):
        yield str(url)


async def test_the_sender_records_a_bounded_masked_printable_error() -> None:
    async with garbage_receiver() as url:
        sender = WebhookSender([url], SECRET, max_attempts=1)
        await sender.start()
        try:
            sender.send("candidates.created", {"id": 1})
            async with asyncio.timeout(HANG):
                await sender.settle()
        finally:
            await sender.stop()
    [attempt] = sender.deliveries[0].attempts
    assert attempt.status is None
    assert attempt.error is not None
    assert attempt.error.startswith("ClientResponseError: ")
    assert len(attempt.error) <= 300  # it held all 5,000 bytes
    assert SECRET not in attempt.error
    assert attempt.error.isprintable()  # aiohttp's message has line breaks


async def test_webhooks_send_prints_a_bounded_masked_printable_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with garbage_receiver() as url:
        argv = ["webhooks", "send", "--url", url, "--secret", SECRET, "--verb", "x.y"]
        capsys.readouterr()
        code = await asyncio.wait_for(asyncio.to_thread(main, [*argv, "--json", "{}"]), HANG)
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith(f"error: could not deliver to {url}: 400, message=")
    assert SECRET not in err
    assert len(err) < 600
    assert err.rstrip("\n").count("\n") == 0  # one line: no line breaks from the peer


async def test_webhooks_send_prints_a_text_answer_bounded_and_printable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = "\x1b]0;pwned\x07 refused " + SECRET + " " + "A" * 5000
    async with serve(Script(respond(500, text=answer))) as url:
        argv = ["webhooks", "send", "--url", str(url), "--secret", SECRET, "--verb", "x.y"]
        capsys.readouterr()
        code = await asyncio.wait_for(asyncio.to_thread(main, [*argv, "--json", "{}"]), HANG)
    status, _, shown = capsys.readouterr().out.partition("\n")
    assert code != 0
    assert status == "500"
    assert shown.startswith("]0;pwned refused *** AAA")  # the escape's control bytes are gone
    assert shown.rstrip("\n").isprintable()
    assert len(shown) < 2100


def test_structure_is_the_one_entry_point_and_its_error_has_every_problem_with_paths() -> None:
    data = {"email": 7, "roles": [{"id": 1, "name": ["x"]}], "candidateId": "ada"}
    with pytest.raises(StructureError) as caught:
        structure(data, Person)
    found = {(p.path, p.wire_path) for p in caught.value.problems}
    assert found == {
        ("$.candidate_id", "candidateId"),
        ("$.roles[0].name", "roles[0].name"),
    }
    assert isinstance(caught.value, ValueError)
    assert caught.value.into is Person
    assert str(caught.value) == explain(caught.value)
    with pytest.raises(StructureError) as missing:
        structure({"candidateId": 1, "behavior": 1}, LearnerRegistration)
    (problem,) = missing.value.problems
    assert problem.missing
    assert (problem.path, problem.wire_path) == ("$.registration_date", "registrationDate")
