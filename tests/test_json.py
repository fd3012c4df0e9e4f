"""tahdah_async._json.loads answers exactly as json.loads does, only faster."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahdah_async import _json

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def outcome(decode: Any, data: bytes | str) -> tuple[str, str]:
    try:
        return "ok", repr(decode(data))
    except ValueError:
        return "error", ""


@settings(max_examples=300, deadline=None)
@given(value=json_values, ascii_only=st.booleans())
def test_documents_decode_to_the_same_values(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert outcome(_json.loads, text.encode()) == outcome(json.loads, text.encode())
    assert outcome(_json.loads, text) == outcome(json.loads, text)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
def test_any_bytes_give_the_same_answer_or_the_same_refusal(data: bytes) -> None:
    assert outcome(_json.loads, data) == outcome(json.loads, data)


@pytest.mark.parametrize(
    "document",
    [
        b"123456789012345678901234567890",  # orjson would make this a float
        b"-9223372036854775809",
        b"18446744073709551616",
        b'{"a": NaN, "b": -Infinity}',
        b'"\\ud800"',
        "[1, 2]".encode("utf-16"),
        b'{"a": 1, "a": 2}',
    ],
)
def test_what_orjson_treats_differently_is_decided_by_the_standard_library(
    document: bytes,
) -> None:
    assert repr(_json.loads(document)) == repr(json.loads(document))


def test_a_big_integer_stays_exact() -> None:
    value = _json.loads(b'{"id": 123456789012345678901234567890}')["id"]
    assert isinstance(value, int)
    assert value == 123456789012345678901234567890
    assert not math.isnan(_json.loads(b"1.5"))


def _naive_long_run(raw: bytes) -> bool:
    run = 0
    for byte in raw:
        run = run + 1 if 0x30 <= byte <= 0x39 else 0
        if run >= 19:
            return True
    return False


@settings(max_examples=500, deadline=None)
@given(
    pieces=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.text(alphabet="0123456789", min_size=1, max_size=40).map(str.encode),
        ),
        max_size=30,
    )
)
def test_the_sampled_digit_scan_finds_every_long_run(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    assert _json.has_long_digit_run(raw) is _naive_long_run(raw)


@pytest.mark.parametrize("filler", [b"x", b"1 "], ids=["text", "dense-digits"])
@pytest.mark.parametrize("where", [0, 17, 18, 35, 1000, -19], ids=str)
def test_a_run_of_19_digits_is_found_wherever_it_is(filler: bytes, where: int) -> None:
    body = bytearray(filler * 1200)
    start = where % (len(body) - 18)
    body[start : start + 19] = b"1" * 19
    assert _json.has_long_digit_run(bytes(body))
    body[start + 9] = ord(" ")  # two runs of 9 and 9: no long number any more
    assert not _json.has_long_digit_run(bytes(body))
