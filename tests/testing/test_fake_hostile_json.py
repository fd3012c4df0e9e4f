"""Numbers JSON does not have, and shapes the backend refuses: 400 from the fake, never 500.

The real backend (ASP.NET, System.Text.Json) answers 400 to ``NaN``, ``Infinity``, ``1e999``
and to bodies nested deeper than 64 levels; so does the fake, and the SDK refuses to build
an input model holding a non-finite number, before anything is sent.
"""

from __future__ import annotations

import io
import math
import typing
from typing import Any

import aiohttp
import anyio
import attrs
import cattrs
import pytest
from aioresponses import aioresponses

import tahdah_async.models as models
from tahdah_async import TahdahClient
from tahdah_async._converter import converter, explain, make_converter
from tahdah_async.models import Model
from tahdah_async.resources._base import body
from tahdah_async.testing import FakeTahdah
from tahdah_async.testing.fake import MAX_BODY_DEPTH

GUARD = 60.0
"""Seconds a hostile request may take: generous; the quadratic or crashing case never ends."""

FloatOrStr: Any = float | str

NON_FINITE = [float("nan"), float("inf"), float("-inf")]


async def post(
    raw: aiohttp.ClientSession, fake: FakeTahdah, data: bytes, path: str = "/api/candidates"
) -> tuple[int, Any]:
    """POST raw bytes as JSON with the fake's key; return the status and decoded body."""
    headers = {"Authorization": f"Bearer {fake.token}", "Content-Type": "application/json"}
    with anyio.fail_after(GUARD):
        # A stream: aiohttp warns that a large bytes body would block its event loop.
        stream = io.BytesIO(data)
        async with raw.post(fake.url + path, headers=headers, data=stream) as response:
            return response.status, await response.json(content_type=None)


def candidate(extra: bytes) -> bytes:
    return b'{"firstName": "Ada", "lastName": "Lovelace", "note": ' + extra + b"}"


# -- the fake -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"[1e400]"]
)
async def test_a_number_that_is_not_finite_is_400_and_creates_nothing(
    fake: FakeTahdah, raw: aiohttp.ClientSession, number: bytes
) -> None:
    status, answer = await post(raw, fake, candidate(number))

    assert status == 400
    assert answer["detail"] == (
        "The request body holds a number that is not finite (NaN, Infinity or too large)"
    )
    assert fake.state.candidates == {}


@pytest.mark.parametrize("size", [MAX_BODY_DEPTH + 1, 1_000, 500_000])
async def test_a_body_nested_too_deeply_is_400(
    fake: FakeTahdah, raw: aiohttp.ClientSession, size: int
) -> None:
    # 500_000 levels (1 MB of brackets, under aiohttp's body limit) is past every parser's
    # stack: the case that was a 500.
    status, answer = await post(raw, fake, b"[" * size + b"]" * size)

    assert status == 400
    assert answer["title"] == "Bad Request"
    assert answer["detail"] in (
        "The request body is not valid JSON",
        f"The request body nests deeper than {MAX_BODY_DEPTH} levels",
    )


async def test_nesting_is_allowed_up_to_the_backend_s_limit_and_no_further(
    fake: FakeTahdah, raw: aiohttp.ClientSession
) -> None:
    inner = MAX_BODY_DEPTH - 1  # the body itself is the first level
    status, _ = await post(raw, fake, candidate(b"[" * inner + b"]" * inner))
    assert status == 201

    status, answer = await post(raw, fake, candidate(b"[" * (inner + 1) + b"]" * (inner + 1)))
    assert status == 400
    assert answer["detail"] == f"The request body nests deeper than {MAX_BODY_DEPTH} levels"
    assert len(fake.state.candidates) == 1


async def test_an_integer_too_long_to_read_is_400(
    fake: FakeTahdah, raw: aiohttp.ClientSession
) -> None:
    status, answer = await post(raw, fake, candidate(b"9" * 5_000))

    assert status == 400
    assert answer["detail"] == "The request body is not valid JSON"


async def test_a_duplicate_key_takes_the_last_value_as_system_text_json_does(
    fake: FakeTahdah, raw: aiohttp.ClientSession
) -> None:
    status, created = await post(
        raw, fake, b'{"firstName": "Ada", "firstName": "Grace", "lastName": "Hopper"}'
    )

    assert status == 201
    assert created["firstName"] == "Grace"


async def test_update_tags_with_a_body_that_is_not_an_object_is_400(
    fake: FakeTahdah, raw: aiohttp.ClientSession
) -> None:
    status, made = await post(raw, fake, b'{"firstName": "Ada", "lastName": "Lovelace"}')
    assert status == 201
    headers = {"Authorization": f"Bearer {fake.token}", "Content-Type": "application/json"}

    for data in (b'["vip"]', b'"vip"', b"7"):
        url = f"{fake.url}/api/candidates/{made['id']}/tags"
        async with raw.put(url, headers=headers, data=data) as response:
            answer = await response.json(content_type=None)
        assert (response.status, answer["errors"]) == (
            400,
            {"$": ["The request body must be a JSON object."]},
        )


# -- the SDK's converter ----------------------------------------------------------------------


def float_fields() -> list[tuple[type[Model], str]]:
    """Every (model, attribute name) of a float field among the public models."""
    out: list[tuple[type[Model], str]] = []
    for name in models.__all__:
        model = getattr(models, name)
        if isinstance(model, type) and issubclass(model, Model):
            hints = typing.get_type_hints(model)
            out += [
                (model, field) for field, hint in hints.items() if float in typing.get_args(hint)
            ]
    return out


FLOAT_FIELDS = float_fields()


def test_the_models_have_float_fields_to_check() -> None:
    assert len(FLOAT_FIELDS) >= 10


@pytest.mark.parametrize(
    "value", [*NON_FINITE, "NaN", "inf", "-Infinity", "1e999", 10**400], ids=repr
)
@pytest.mark.parametrize(
    ("model", "field"), FLOAT_FIELDS, ids=[f"{m.__name__}.{f}" for m, f in FLOAT_FIELDS]
)
def test_an_input_model_refuses_a_non_finite_number_before_sending(
    model: type[Model], field: str, value: object
) -> None:
    if isinstance(value, str):  # a string is not a number: never converted into one
        with pytest.raises(TypeError, match=f"field '{field}' must be a number"):
            body(model, None, {field: value}, what="body")
        return
    with pytest.raises(ValueError, match="expected a finite number"):
        body(model, None, {field: value}, what="body")


@attrs.frozen(kw_only=True)
class Sample(Model):
    """Scalars of every shape the fast path inlines: a float, unions with one, a str."""

    number: float = 0.0
    either: float | str = ""
    maybe: float | None = None
    text: str = ""


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
@pytest.mark.parametrize("strict", [False, True], ids=["loose", "strict"])
def test_both_converter_paths_refuse_non_finite_numbers(value: float, strict: bool) -> None:
    conv = make_converter(strict=strict)
    for key in ("number", "either", "maybe", "text"):
        with pytest.raises(cattrs.BaseValidationError) as caught:
            conv.structure({key: value}, Sample)
        assert (
            explain(caught.value) == f"expected a finite number, got NaN or an infinity @ $.{key}"
        )
    assert conv.structure({"number": 1.5, "either": 2.5, "maybe": 3, "text": 4.5}, Sample) == (
        Sample(number=1.5, either=2.5, maybe=3.0, text="4.5")
    )


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
def test_a_union_of_scalars_refuses_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValueError, match="expected a finite number"):
        converter.structure(value, FloatOrStr)
    assert math.isclose(converter.structure(0.5, FloatOrStr), 0.5)


async def test_creating_a_trust_group_with_a_nan_price_sends_nothing(
    client: TahdahClient, mocked: aioresponses
) -> None:
    with pytest.raises(ValueError, match=r"expected a finite number.*monthly_price"):
        await client.trust_groups.create(42, name="Partners", monthly_price=float("nan"))

    assert mocked.requests == {}
