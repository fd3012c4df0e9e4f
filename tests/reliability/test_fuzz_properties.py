"""Properties over arbitrary input: the webhook receiver's answers and the SDK's decoding.

* Any request a sender can put on the wire (any body bytes, any ``Webhook-Verb``,
  ``Webhook-Signature``, ``Content-Type`` or ``Authorization`` value, any method) gets one of
  the statuses in :mod:`tahdah_async.webhooks.app`'s table, and exactly the one that table
  gives; aiohttp never logs an unhandled exception, and a 500 needs a failing handler.
* A correctly signed body with any JSON, for every verb, is processed, or refused with
  ``400 invalid_payload`` exactly when the router cannot read it as the verb's event.
* Every output model, read from any JSON (or any bytes) the way the client reads responses,
  gives the model or :class:`ResponseDecodeError`, nothing else; every event type, read the
  way the router reads deliveries, gives the event or :class:`PayloadError`.

One server serves every example of a property (an ``asyncio.Runner`` per test), so a few
hundred examples over real sockets take a second or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import importlib
import json
import logging
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs
import pytest
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import tahdah_async.models as models
from tahdah_async._converter import converter, wire_name
from tahdah_async._decode import decode
from tahdah_async._response import Response
from tahdah_async._types import UnsetType
from tahdah_async.errors import APIStatusError, ResponseDecodeError, status_error
from tahdah_async.models import Candidate, Model, ProblemDetails, TrustGroup
from tahdah_async.resources._base import created, created_id
from tahdah_async.webhooks import (
    ACK_THEN_PROCESS,
    RECEIVER,
    SIGNATURE_HEADER,
    VERB_HEADER,
    Delivery,
    PayloadError,
    WebhookRouter,
    create_webhook_app,
    sign,
    verify_signature,
)
from tahdah_async.webhooks.events import VERBS, UnknownEvent
from tests.webhooks.helpers import MOUNT, SECRET

PER_TYPE: Final = 50
"""Examples per model or event type: 41 types, so about 2,000 examples in all."""
MARK: Final = "Zq9~"
"""Starts every arbitrary string value generated here: no error message may quote one."""

# -- JSON ---------------------------------------------------------------------------------------

keys = st.text(max_size=8).filter(lambda k: MARK not in k)
texts = st.text(max_size=12).map(lambda t: MARK + t)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),  # too large for a float
    st.floats(),  # NaN and the infinities too: json.loads reads them
    texts,
    st.sampled_from(["", " ", "7", "-0", "1e400", "2026-11-28", "2026-11-28T10:00:00Z"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=16,
)


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def canonical(value: Any) -> str:
    """A model or JSON value as comparable text (NaN is not equal to itself)."""
    return json.dumps(converter.unstructure(value), sort_keys=True, default=repr)


def _iso_dates() -> st.SearchStrategy[str]:
    return st.one_of(
        st.dates().map(dt.date.isoformat),
        st.datetimes().map(dt.datetime.isoformat),
        st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
        st.from_regex(
            r"\A\d{1,5}-\d{1,2}-\d{1,3}([T ]\d{1,2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?)?"
            r"(Z|[+-]\d{2}(:?\d{2})?)?\Z"
        ),
    )


def for_type(tp: Any) -> st.SearchStrategy[Any]:
    """Values close to what ``tp`` reads, or anything at all (a third of the time)."""
    return st.one_of(_plausible(tp), _plausible(tp), json_values)


def _plausible(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(
            *(
                st.none() if a is type(None) else for_type(a)
                for a in typing.get_args(tp)
                if a is not UnsetType
            )
        )
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers() | st.integers().map(str) | st.floats()
    if tp is float:
        return st.floats() | st.integers() | st.floats().map(str)
    if tp is str:
        return texts | st.integers() | st.floats()
    if tp in (dt.date, dt.datetime):
        return _iso_dates()
    if origin in (tuple, list):
        return st.lists(for_type(typing.get_args(tp)[0]), max_size=3)
    if isinstance(origin, type) and issubclass(origin, Mapping):
        args = typing.get_args(tp)
        values = for_type(args[1]) if args and args[1] is not Any else json_values
        return st.dictionaries(keys, values, max_size=3)
    if isinstance(tp, type) and issubclass(tp, Model):
        return model_payloads(tp)
    return json_values


_PAYLOADS: dict[type[Model], st.SearchStrategy[dict[str, Any]]] = {}


def model_payloads(cls: type[Model]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the model's wire keys (any subset) given fitting or arbitrary values, and
    perhaps keys the model does not know."""
    if cls not in _PAYLOADS:
        attrs.resolve_types(cls)
        fields = {wire_name(f): for_type(f.type) for f in attrs.fields(cls) if f.name != "extra"}
        _PAYLOADS[cls] = st.builds(
            lambda known, unknown: {**unknown, **known},
            st.fixed_dictionaries({}, optional=fields),
            st.dictionaries(keys, json_values, max_size=2),
        )
    return _PAYLOADS[cls]


# -- the client's decoding path ---------------------------------------------------------------

RESPONSE_MODELS: Final = sorted(
    (m for m in vars(models).values() if isinstance(m, type) and issubclass(m, Model)),
    key=lambda m: m.__qualname__,
)
"""Every model the package exports (responses, and the request models besides)."""
assert Model in RESPONSE_MODELS
RESPONSE_MODELS.remove(Model)


def response(content: bytes, *, status: int = 200, content_type: str | None = None) -> Response:
    headers = CIMultiDict[str]()
    if content_type is not None:
        headers["Content-Type"] = content_type
    return Response(
        method="GET",
        url=URL("https://api.tahdah.test/api/things"),
        status=status,
        reason="Whatever",
        headers=CIMultiDictProxy(headers),
        content=content,
        elapsed=0.0,
    )


def bodies_for(cls: type[Model]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        model_payloads(cls).map(dumps),
        st.lists(model_payloads(cls), max_size=3).map(dumps),
        json_values.map(dumps),
        st.binary(max_size=64),
    )


def decoded_or_decode_error(content: bytes, into: Any) -> Any:
    """Decode as the client does; fail the test on anything but ResponseDecodeError."""
    try:
        return decode(response(content), into)
    except ResponseDecodeError as exc:
        error = exc
    message = str(error)
    assert message.startswith("the 200 response to GET /api/things ")
    assert MARK not in message, "an error message quotes a value from the body"
    assert error.response.content == content
    return error


@pytest.mark.parametrize("cls", RESPONSE_MODELS, ids=lambda m: m.__qualname__)
@settings(max_examples=PER_TYPE, deadline=None)
@given(data=st.data())
def test_any_body_decodes_into_a_model_or_a_decode_error(
    cls: type[Model], data: st.DataObject
) -> None:
    content = data.draw(bodies_for(cls), label="body")
    one = decoded_or_decode_error(content, cls)
    many = decoded_or_decode_error(content, list[cls])  # type: ignore[valid-type]
    assert isinstance(one, (cls, ResponseDecodeError))
    assert isinstance(many, (list, ResponseDecodeError))
    if isinstance(many, list):
        assert all(isinstance(item, cls) for item in many)
        assert isinstance(json.loads(content), list)
    if isinstance(one, cls):
        parsed = json.loads(content)
        assert isinstance(parsed, dict)
        known = {wire_name(f) for f in attrs.fields(cls) if f.name != "extra"}
        unknown = {k: v for k, v in parsed.items() if k not in known}
        assert canonical(dict(one.extra)) == canonical(unknown)


@settings(max_examples=150, deadline=None)
@given(content=st.one_of(bodies_for(Candidate), bodies_for(TrustGroup)), which=st.booleans())
def test_create_replies_give_a_model_an_id_or_a_decode_error(content: bytes, which: bool) -> None:
    sent: Candidate | TrustGroup = Candidate(first_name="Ada") if which else TrustGroup(name="G")
    made: Any
    try:
        made = created(response(content), sent)
    except ResponseDecodeError as exc:
        made = exc
    assert type(made) in (type(sent), ResponseDecodeError)
    if isinstance(made, ResponseDecodeError):
        assert MARK not in str(made)
    ident: Any
    try:
        ident = created_id(response(content))
    except ResponseDecodeError as exc:
        ident = exc
    assert type(ident) in (int, str, ResponseDecodeError)
    if isinstance(ident, ResponseDecodeError):
        assert MARK not in str(ident)


problem_bodies = st.one_of(
    model_payloads(ProblemDetails).map(dumps),
    st.dictionaries(st.sampled_from(["title", "detail", "errors", "type"]), json_values).map(dumps),
    json_values.map(dumps),
    st.binary(max_size=64),
    st.text(max_size=40).map(str.encode),
)


@settings(max_examples=200, deadline=None)
@given(
    content=problem_bodies,
    status=st.sampled_from([400, 401, 403, 404, 409, 418, 422, 429, 500, 502, 503]),
    content_type=st.sampled_from(
        [None, "application/json", "application/problem+json", "text/html", "text/plain"]
    ),
)
def test_any_error_body_becomes_a_status_error(
    content: bytes, status: int, content_type: str | None
) -> None:
    # Problem details are the one model read from error bodies: never a reason to raise.
    error = status_error(response(content, status=status, content_type=content_type))
    assert isinstance(error, APIStatusError)
    assert error.status == status
    assert str(error).startswith(f"{status} Whatever for GET /api/things")
    assert error.problem is None or isinstance(error.problem, ProblemDetails)


# Nesting deeper than the interpreter's recursion limit makes json.loads raise RecursionError,
# which is not a ValueError; the webhook receiver catches it (a 400), the client does not.
nesting = st.builds(
    lambda depth, opener: opener * depth + b"1" + (b"]" if opener == b"[" else b"}") * depth,
    st.integers(min_value=1, max_value=50_000),
    st.sampled_from([b"[", b'{"a":']),
)


@settings(max_examples=50, deadline=None)
@given(content=nesting)
def test_a_deeply_nested_body_is_a_decode_error(content: bytes) -> None:
    decoded_or_decode_error(content, list[Candidate])


@settings(max_examples=50, deadline=None)
@given(content=nesting)
def test_a_deeply_nested_error_body_still_becomes_a_status_error(content: bytes) -> None:
    error = status_error(response(content, status=500, content_type="application/json"))
    assert isinstance(error, APIStatusError)


# -- the router's path --------------------------------------------------------------------------

EVENT_VERBS: Final = sorted(VERBS)


def parsed_or_payload_error(router: WebhookRouter, verb: str, payload: Any) -> Any:
    """Parse as the receiver does; fail the test on anything but PayloadError."""
    try:
        return router.parse(verb, payload)
    except PayloadError as exc:
        error = exc
    event_type = router.event_type(verb)
    assert event_type is not None
    assert str(error).startswith(f"the payload does not fit {event_type.__name__}: ")
    assert MARK not in str(error), "a webhook error detail quotes a value from the payload"
    return error


@pytest.mark.parametrize("verb", EVENT_VERBS)
@settings(max_examples=PER_TYPE, deadline=None)
@given(data=st.data())
def test_any_payload_parses_into_its_event_or_a_payload_error(
    verb: str, data: st.DataObject
) -> None:
    event_type = VERBS[verb]
    payload = data.draw(model_payloads(event_type) | json_values, label="payload")
    spelled = data.draw(st.sampled_from([verb.upper(), verb.lower(), f"  {verb}\t"]))
    router = WebhookRouter()
    result = parsed_or_payload_error(router, verb, payload)
    assert isinstance(result, (event_type, PayloadError))
    if isinstance(result, event_type):
        assert isinstance(payload, dict)
    # However the sender spells the verb, the router reads the payload the same way.
    again = parsed_or_payload_error(router, spelled, payload)
    assert type(again) is type(result)
    if isinstance(result, PayloadError):
        assert str(again) == str(result)
    else:
        assert canonical(again) == canonical(result)


KNOWN: Final = frozenset(v.lower() for v in VERBS)


@settings(max_examples=100, deadline=None)
@given(
    verb=st.text(min_size=1, max_size=30).filter(lambda v: v.strip().lower() not in KNOWN),
    payload=json_values,
)
def test_an_unknown_verb_is_an_unknown_event_carrying_the_payload(verb: str, payload: Any) -> None:
    event = WebhookRouter().parse(verb, payload)
    assert isinstance(event, UnknownEvent)
    assert event.verb == verb
    assert event.data is payload


# -- the receiver over a socket -----------------------------------------------------------------

ACK_MOUNT: Final = "/ack/"
"""A second receiver: ack-then-process, 404 for unknown verbs, an Authorization check and a
512-byte body limit."""
AUTH: Final = "Bearer partner-key-81"
HANG_GUARD: Final = 60.0
"""Seconds an exchange or a drain may take before it counts as hung: generous, so only a real
hang reaches it, however loaded the machine (nothing here checks how long anything took)."""
ACK_LIMIT: Final = 512
DOCUMENTED: Final = frozenset({200, 202, 400, 401, 404, 405, 413, 500, 503})
WHATS: Final = frozenset(
    {
        "processed",
        "duplicate",
        "accepted",
        "unknown_verb",
        "invalid_signature",
        "unauthorized",
        "missing_verb",
        "invalid_json",
        "invalid_payload",
        "payload_too_large",
        "method_not_allowed",
        "handler_failed",
        "shutting_down",
    }
)


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Recording(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def recording(name: str, level: int) -> Iterator[Recording]:
    logger = logging.getLogger(name)
    handler = Recording()
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


class Live:
    """Both receivers on one loopback server, run by a private event loop for a whole
    Hypothesis run; the handlers record every event and never fail."""

    def __init__(self, runner: asyncio.Runner) -> None:
        self.runner = runner
        self.events: list[tuple[Any, Delivery]] = []
        router = WebhookRouter()

        @router.on_any
        async def record(event: Any, delivery: Delivery) -> None:
            self.events.append((event, delivery))

        self.router = router
        app = web.Application()
        app.add_subapp(MOUNT, create_webhook_app(router, SECRET))
        self.ack = create_webhook_app(
            router,
            SECRET,
            mode=ACK_THEN_PROCESS,
            unknown_verb_status=404,
            authorization=AUTH,
            max_body_size=ACK_LIMIT,
        )
        app.add_subapp(ACK_MOUNT, self.ack)
        self.server = TestServer(app)

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    async def exchange(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        """Send one hand-written HTTP/1.1 request, any header bytes, and read the answer."""
        assert self.server.port is not None
        reader, writer = await asyncio.open_connection(self.server.host, self.server.port)
        try:
            head = [
                f"{method} {path} HTTP/1.1".encode(),
                b"Host: localhost",
                b"Connection: close",
                b"Content-Length: " + str(len(body)).encode(),
                *(name + b": " + value for name, value in headers),
            ]
            writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            await writer.drain()
            async with asyncio.timeout(HANG_GUARD):
                raw = await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        top, _, payload = raw.partition(b"\r\n\r\n")
        status_line, *lines = top.decode("latin-1").split("\r\n")
        fields = dict(line.split(": ", 1) for line in lines)
        return Answer(int(status_line.split(" ")[1]), fields, payload)

    async def settle(self) -> None:
        """Wait for the ack-then-process receiver's background handlers (which never fail and
        never wait) to finish. The drain's own limit must never fire (it would cancel them
        quietly), so it is longer than the guard: a hang fails here instead."""
        async with asyncio.timeout(HANG_GUARD):
            await self.ack[RECEIVER].drain(within=2 * HANG_GUARD)


@pytest.fixture
def live() -> Iterator[Live]:
    with asyncio.Runner() as runner:
        server = Live(runner)
        runner.run(server.server.start_server())
        try:
            yield server
        finally:
            runner.run(server.settle())
            runner.run(server.server.close())


# Header values a sender can write: any text but CR and LF (which end the field), as UTF-8, or
# any bytes; control characters included (aiohttp's parser refuses most of them), and values
# longer than aiohttp's 8190-byte field limit.
header_values = st.one_of(
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=80).map(str.encode),
    st.text(st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=20).map(
        str.encode
    ),
    st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.builds(lambda c, n: c.encode() * n, st.sampled_from("ab\té"), st.integers(4000, 9000)),
)


def weighted(usual: Any, *others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` (a value) about half the time, else one of ``others``."""
    return st.one_of(*[st.just(usual)] * len(others), *others)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, list[tuple[bytes, bytes]], bytes]:
    """One request: method, path, headers (name, raw value) and body.

    Each part is usually what Tahdah sends, so that most requests get past the earlier guards
    and the later ones are exercised too, and otherwise anything a sender could write.
    """
    topic = draw(st.sampled_from(EVENT_VERBS), label="topic")
    body = draw(
        st.one_of(
            model_payloads(VERBS[topic]).map(dumps),
            model_payloads(VERBS[topic]).map(dumps),
            json_values.map(dumps),
            st.binary(max_size=300),
        ),
        label="body",
    )
    good = sign(body, SECRET)
    signature = draw(
        weighted(
            good.encode(),
            st.sampled_from(
                [good.upper(), f" {good}\t", "sha256=" + good[7:], good[:-1], good + "0"]
            ).map(str.encode),
            st.sampled_from([sign(body, "wh_other"), sign(body + b" ", SECRET), ""]).map(
                str.encode
            ),
            st.from_regex(r"\A[0-9a-fA-F]{64}\Z").map(str.encode),
            st.none(),
            header_values,
        ),
        label="signature",
    )
    verb = draw(
        weighted(
            topic.encode(),
            st.sampled_from([topic.upper(), topic.lower(), f"\t{topic} "]).map(str.encode),
            st.sampled_from([b"widgets.exploded", b"Widgets.Exploded"]),
            st.sampled_from(BLANK_VERBS),
            st.none(),
            header_values,
        ),
        label="verb",
    )
    content_type = draw(
        weighted(
            b"application/json",
            st.none(),
            st.sampled_from(
                [
                    b"application/json; charset=utf-16",
                    b"text/plain",
                    b"multipart/form-data; boundary=x",
                    b"application/x-www-form-urlencoded",
                ]
            ),
            header_values,
        ),
        label="content_type",
    )
    authorization = draw(
        weighted(AUTH.encode(), st.none(), st.just(AUTH.lower().encode()), header_values),
        label="authorization",
    )
    method = draw(weighted("POST", st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])))
    path = draw(st.sampled_from([MOUNT, ACK_MOUNT]), label="path")
    headers = [
        (name, value)
        for name, value in (
            (SIGNATURE_HEADER.encode(), signature),
            (VERB_HEADER.encode(), verb),
            (b"Content-Type", content_type),
            (b"Authorization", authorization),
        )
        if value is not None
    ]
    return method, path, headers, body


BLANK_VERBS: Final = (b"", b"   ", "\u00a0".encode(), "\u3000\u2003".encode())
"""Verbs that are blank once stripped, by aiohttp (blanks, tabs) or the receiver (any space)."""


def signed_request(path: str, verb: bytes) -> tuple[str, str, list[tuple[bytes, bytes]], bytes]:
    body = b'{"id": 7, "name": "Example Ltd"}'
    headers = [
        (SIGNATURE_HEADER.encode(), sign(body, SECRET).encode()),
        (VERB_HEADER.encode(), verb),
        (b"Authorization", AUTH.encode()),
    ]
    return "POST", path, headers, body


def seen(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """A header's value as the application sees it: trimmed of blanks and tabs, decoded as
    UTF-8 with undecodable bytes kept as surrogates."""
    for key, value in headers:
        if key.decode().lower() == name.lower():
            return value.strip(b" \t").decode("utf-8", "surrogateescape")
    return None


def expected(
    router: WebhookRouter, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> set[tuple[int, str]]:
    """The status table of ``webhooks/app.py``, as a reference for one request."""
    acking = path == ACK_MOUNT
    if method != "POST":
        return {(405, "method_not_allowed")}
    if acking and len(body) > ACK_LIMIT:
        return {(413, "payload_too_large")}
    if acking and seen(headers, "Authorization") != AUTH:
        return {(401, "unauthorized")}
    if not verify_signature(body, seen(headers, SIGNATURE_HEADER), SECRET):
        return {(401, "invalid_signature")}
    verb = (seen(headers, VERB_HEADER) or "").strip()
    if not verb:
        return {(400, "missing_verb")}
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return {(400, "invalid_json")}
    try:
        event = router.parse(verb, payload)
    except PayloadError:
        return {(400, "invalid_payload")}
    if isinstance(event, UnknownEvent):
        new = (404, "unknown_verb") if acking else (202, "unknown_verb")
    else:
        new = (202, "accepted") if acking else (200, "processed")
    return {new, (200, "duplicate")}


def test_any_request_gets_the_documented_status(live: Live) -> None:
    with (
        recording("aiohttp.server", logging.DEBUG) as server_log,
        recording("tahdah_async.webhooks", logging.INFO) as receiver_log,
    ):

        @settings(
            max_examples=200,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(request=requests())
        @example(request=signed_request(MOUNT, "\u3000".encode()))  # blank once stripped
        @example(request=signed_request(ACK_MOUNT, b"widgets.exploded"))  # 404
        @example(request=signed_request(ACK_MOUNT, b"\tlegalentities.CREATED "))  # 202
        def check(request: tuple[str, str, list[tuple[bytes, bytes]], bytes]) -> None:
            method, path, headers, body = request
            server_log.records.clear()
            receiver_log.records.clear()
            answer = live.run(live.exchange(method, path, headers, body))
            live.run(live.settle())
            problems = [r for r in server_log.records if r.levelno >= logging.WARNING]
            assert answer.status in DOCUMENTED
            assert answer.status != 500, answer.body
            if problems:
                # aiohttp's HTTP parser refused the request (a control character in a field,
                # a field over 8190 bytes) before any application code ran.
                assert answer.status == 400
                for record in problems:
                    assert record.exc_info is not None
                    assert isinstance(record.exc_info[1], HttpProcessingError), record.exc_info
                assert receiver_log.records == []
                event("refused by aiohttp's parser")
                return
            what = answer.json()["status"]
            event(f"{answer.status} {what}")
            assert what in WHATS
            assert (answer.status, what) in expected(live.router, method, path, headers, body)
            if answer.status == 503:
                pytest.fail("nothing is shutting down")
            (line,) = (r for r in receiver_log.records if "->" in r.getMessage())
            assert f"-> {answer.status} {what}" in line.getMessage()

        check()


def test_any_signed_json_is_processed_or_refused_as_not_fitting(live: Live) -> None:
    with recording("aiohttp.server", logging.DEBUG) as server_log:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(data=st.data())
        def check(data: st.DataObject) -> None:
            verb = data.draw(st.sampled_from(EVENT_VERBS), label="verb")
            payload = data.draw(model_payloads(VERBS[verb]) | json_values, label="payload")
            body = dumps(payload)
            headers = [
                (SIGNATURE_HEADER.encode(), sign(body, SECRET).encode()),
                (VERB_HEADER.encode(), verb.encode()),
                (b"Content-Type", b"application/json"),
            ]
            before = len(live.events)
            answer = live.run(live.exchange("POST", MOUNT, headers, body))
            assert server_log.records == []
            reply = answer.json()
            event = parsed_or_payload_error(live.router, verb, payload)
            if isinstance(event, PayloadError):
                assert (answer.status, reply["status"]) == (400, "invalid_payload")
                assert reply["detail"] == str(event)
                assert len(live.events) == before
                return
            assert answer.status == 200, answer.body
            if reply["status"] == "processed":
                assert reply["handlers"] == 1
                ((got, delivery),) = live.events[before:]
                assert canonical(got) == canonical(event)
                assert type(got) is VERBS[verb]
                assert delivery.body == body
                assert delivery.body_sha256 == hashlib.sha256(body).hexdigest()
            else:
                assert reply == {"status": "duplicate"}
                assert len(live.events) == before

        check()


RESOURCE_MODULES: Final = (
    "candidates",
    "digital_badges",
    "event_credits",
    "learning_experiences",
    "legal_entities",
    "pathways",
    "tracker",
    "trust_groups",
)


def test_the_decoding_properties_cover_every_output_type() -> None:
    # Every model a resource module names (what it sends or decodes) is exported, so the decode
    # property above runs over each of them.
    used: set[type[Model]] = set()
    for name in RESOURCE_MODULES:
        module = importlib.import_module(f"tahdah_async.resources.{name}")
        used |= {v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Model)}
    used.discard(Model)
    assert used <= set(RESPONSE_MODELS)
    assert {models.LegalEntity, models.TrustGroupMember, models.RegistrationResult} <= used
    exported = {name for name in models.__all__ if not name.endswith("Fields")}  # TypedDicts
    assert {m.__qualname__ for m in RESPONSE_MODELS} == exported - {"Model"}
