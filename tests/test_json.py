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
        b"123456789012345678901234567890",
        b"-9223372036854775809",
        b"18446744073709551616",
        b'{"a": NaN, "b": -Infinity}',
        b"1E400",
        b"[1" + b"0" * 400 + b".0]",
        b'"\\ud800"',
        b'"\xed\xa0\x80"',
        b"\xef\xbb\xbf[1]",
        "[1, 2]".encode("utf-16"),
        b'{"a": 1, "a": 2}',
        b"7" * 4300,
    ],
)
def test_what_msgspec_refuses_is_decided_by_the_standard_library(
    document: bytes,
) -> None:
    assert repr(_json.loads(document)) == repr(json.loads(document))


def test_a_big_integer_stays_exact() -> None:
    value = _json.loads(b'{"id": 123456789012345678901234567890}')["id"]
    assert isinstance(value, int)
    assert value == 123456789012345678901234567890
    assert not math.isnan(_json.loads(b"1.5"))


def test_an_integer_over_the_digit_limit_is_refused_as_json_loads_refuses_it() -> None:
    with pytest.raises(ValueError, match="4300"):
        json.loads(b"7" * 4301)
    with pytest.raises(ValueError, match="4300"):
        _json.loads(b"7" * 4301)


def test_deep_nesting_raises_recursion_error_as_json_loads_does() -> None:
    document = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(document)
    with pytest.raises(RecursionError):
        _json.loads(document)
