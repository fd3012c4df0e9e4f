"""Signing and verifying: the known-answer vectors, secret rotation, errors, and properties."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tahdah_async.webhooks import match_secret, sign, verify_signature
from tahdah_async.webhooks.signature import resolve_secrets
from tests.webhooks.helpers import VECTORS, VECTORS_PATH, Vector, load_vectors

VALID = [v for v in VECTORS if v.valid]
INVALID = [v for v in VECTORS if not v.valid]
DISTRACTOR = "wh_distractor-9f2c"
"""A secret no vector was signed with."""

secrets_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=40,
)
"""Secrets: any non-empty text that has a UTF-8 encoding. No NUL: HMAC pads short keys with
zero bytes, so ``"k"`` and ``"k\\x00"`` are the same key by design."""


def test_the_vector_file_is_read_whole() -> None:
    assert VECTORS_PATH.is_file()
    assert len(VALID) >= 6
    assert len(INVALID) >= 9
    assert len({v.name for v in VECTORS}) == len(VECTORS)
    assert load_vectors() == VECTORS


@pytest.mark.parametrize("vec", VALID, ids=lambda v: v.name)
def test_valid_vector_verifies(vec: Vector) -> None:
    assert verify_signature(vec.body, vec.signature, vec.secret) is True
    assert sign(vec.body, vec.secret) == vec.signature.lower()
    assert match_secret(vec.body, vec.signature, vec.secret) == 0
    # Among other secrets, it is found at its own index.
    assert match_secret(vec.body, vec.signature, [DISTRACTOR, vec.secret]) == 1


@pytest.mark.parametrize("vec", INVALID, ids=lambda v: v.name)
def test_invalid_vector_is_rejected_without_raising(vec: Vector) -> None:
    assert verify_signature(vec.body, vec.signature, vec.secret) is False
    assert match_secret(vec.body, vec.signature, vec.secret) is None
    assert match_secret(vec.body, vec.signature, [DISTRACTOR, vec.secret]) is None


def test_sign_returns_64_lower_case_hex_of_hmac_sha256() -> None:
    signature = sign(b"payload", "wh_5627AHddd")
    assert signature == hmac.new(b"wh_5627AHddd", b"payload", hashlib.sha256).hexdigest()
    assert len(signature) == 64
    assert signature == signature.lower()


def test_sign_accepts_bytes_like_bodies() -> None:
    expected = sign(b"abc", "wh_x")
    assert sign(bytearray(b"abc"), "wh_x") == expected
    assert sign(memoryview(b"abc"), "wh_x") == expected


def test_the_secret_is_keyed_as_utf8_with_its_prefix() -> None:
    secret = "wh_üñîçødé"
    assert sign(b"x", secret) == hmac.new(secret.encode(), b"x", hashlib.sha256).hexdigest()
    assert sign(b"x", secret) != sign(b"x", secret.removeprefix("wh_"))


def test_a_missing_signature_is_not_valid() -> None:
    assert verify_signature(b"{}", None, "wh_x") is False
    assert match_secret(b"{}", None, "wh_x") is None


# -- secret rotation --------------------------------------------------------------------------


def test_a_list_of_secrets_accepts_each_and_reports_its_index() -> None:
    old, new, stranger = "wh_old-secret", "wh_new-secret", "wh_someone-else"
    body = b'{"candidateId":212233}'
    secrets = [old, new]
    assert match_secret(body, sign(body, old), secrets) == 0
    assert match_secret(body, sign(body, new), secrets) == 1
    assert match_secret(body, sign(body, stranger), secrets) is None
    assert verify_signature(body, sign(body, new), tuple(secrets)) is True
    assert verify_signature(body, sign(body, stranger), secrets) is False


def test_a_secret_listed_twice_matches_its_first_index() -> None:
    body = b"{}"
    assert match_secret(body, sign(body, "wh_a"), ["wh_b", "wh_a", "wh_a"]) == 1


def test_a_callable_is_asked_for_the_current_secrets_on_every_call() -> None:
    body = b'{"id":1}'
    current: list[str] = ["wh_first"]
    calls: list[int] = []

    def provider() -> list[str]:
        calls.append(1)
        return list(current)

    first, second = sign(body, "wh_first"), sign(body, "wh_second")
    assert match_secret(body, first, provider) == 0
    assert match_secret(body, second, provider) is None

    current[:] = ["wh_first", "wh_second"]  # rotation under way
    assert match_secret(body, first, provider) == 0
    assert match_secret(body, second, provider) == 1

    current[:] = ["wh_second"]  # rotation finished
    assert verify_signature(body, first, provider) is False
    assert match_secret(body, second, provider) == 0
    assert len(calls) == 6


def test_a_callable_may_return_a_single_secret() -> None:
    body = b"{}"
    assert match_secret(body, sign(body, "wh_only"), lambda: "wh_only") == 0
    assert resolve_secrets(lambda: "wh_only") == ("wh_only",)


def test_resolve_secrets_returns_a_tuple_of_the_current_secrets() -> None:
    assert resolve_secrets("wh_a") == ("wh_a",)
    assert resolve_secrets(["wh_a", "wh_b"]) == ("wh_a", "wh_b")
    assert resolve_secrets(lambda: ("wh_a", "wh_b")) == ("wh_a", "wh_b")


# -- type and value errors --------------------------------------------------------------------


def test_sign_rejects_an_empty_secret() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign(b"{}", "")


@pytest.mark.parametrize("secret", [b"wh_bytes", None, 42, ["wh_a"]], ids=repr)
def test_sign_rejects_a_secret_that_is_not_a_str(secret: object) -> None:
    with pytest.raises(TypeError, match="str"):
        sign(b"{}", secret)  # type: ignore[arg-type]


@pytest.mark.parametrize("body", ["{}", None, 42], ids=repr)
def test_sign_rejects_a_body_that_is_not_bytes(body: object) -> None:
    with pytest.raises(TypeError, match="bytes"):
        sign(body, "wh_x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "secrets",
    [[], (), "", ["wh_a", ""], lambda: [], lambda: ""],
    ids=["empty-list", "empty-tuple", "empty-str", "one-empty", "callable-none", "callable-empty"],
)
def test_no_secret_or_an_empty_one_is_a_value_error(secrets: object) -> None:
    with pytest.raises(ValueError, match="secret"):
        resolve_secrets(secrets)  # type: ignore[arg-type]
    # Verifying a well-formed signature against no secret is a configuration error, not False.
    with pytest.raises(ValueError, match="secret"):
        match_secret(b"{}", "a" * 64, secrets)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "secrets",
    [["wh_a", 1], [b"wh_bytes"], b"wh_bytes", lambda: [None]],
    ids=["int-in-list", "bytes-in-list", "bytes", "callable-none-item"],
)
def test_a_secret_that_is_not_a_str_is_a_type_error(secrets: object) -> None:
    with pytest.raises(TypeError, match="str"):
        resolve_secrets(secrets)  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------------


@st.composite
def body_and_mutation(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A body and the same body with one byte replaced, inserted or deleted."""
    body = draw(st.binary(min_size=1, max_size=512))
    index = draw(st.integers(0, len(body) - 1))
    kind = draw(st.sampled_from(["replace", "insert", "delete"]))
    if kind == "replace":
        byte = draw(st.integers(0, 255).filter(lambda b: b != body[index]))
        return body, body[:index] + bytes([byte]) + body[index + 1 :]
    if kind == "insert":
        byte = draw(st.integers(0, 255))
        return body, body[:index] + bytes([byte]) + body[index:]
    return body, body[:index] + body[index + 1 :]


@settings(max_examples=200, deadline=None)
@given(pair=body_and_mutation(), secret=secrets_text)
def test_any_one_byte_change_to_the_body_fails(pair: tuple[bytes, bytes], secret: str) -> None:
    body, changed = pair
    assert changed != body
    signature = sign(body, secret)
    assert verify_signature(body, signature, secret) is True
    assert verify_signature(changed, signature, secret) is False


@st.composite
def signature_and_mutation(draw: st.DrawFn) -> tuple[bytes, str, str]:
    """A body, its signature, and the signature with one character changed (not just its case),
    removed or added."""
    body = draw(st.binary(max_size=64))
    signature = sign(body, "wh_prop")
    index = draw(st.integers(0, len(signature) - 1))
    kind = draw(st.sampled_from(["replace", "insert", "delete"]))
    if kind == "replace":
        original = signature[index]
        char = draw(st.characters().filter(lambda c: c.lower() != original.lower()))
        return body, signature, signature[:index] + char + signature[index + 1 :]
    if kind == "insert":
        char = draw(st.characters())
        return body, signature, signature[:index] + char + signature[index:]
    return body, signature, signature[:index] + signature[index + 1 :]


@settings(max_examples=200, deadline=None)
@given(case=signature_and_mutation())
def test_any_single_character_change_to_the_signature_fails(case: tuple[bytes, str, str]) -> None:
    body, signature, changed = case
    assert verify_signature(body, signature, "wh_prop") is True
    assert verify_signature(body, changed, "wh_prop") is False
    assert match_secret(body, changed, ["wh_other", "wh_prop"]) is None


@settings(max_examples=200, deadline=None)
@given(header=st.text(max_size=10_000))
@example(header="0" * 64)
@example(header="é" * 64)
@example(header="sha256=" + "0" * 64)
@example(header=" " + "0" * 63)
@example(header="a" * 10_000)
def test_any_text_header_is_false_never_an_exception(header: str) -> None:
    assert verify_signature(b'{"candidateId":212233}', header, "wh_5627AHddd") is False


@settings(max_examples=200, deadline=None)
@given(header=st.binary(max_size=10_000).map(lambda raw: raw.decode("latin-1")))
@example(header="\xff" + "a" * 63)
@example(header="\x00" * 64)
def test_any_latin1_header_is_false_never_an_exception(header: str) -> None:
    assert verify_signature(b'{"candidateId":212233}', header, "wh_5627AHddd") is False


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=1024), secret=secrets_text)
def test_sign_matches_hmac_and_its_upper_case_form_verifies(body: bytes, secret: str) -> None:
    signature = sign(body, secret)
    assert signature == hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert verify_signature(body, signature, secret) is True
    assert verify_signature(body, signature.upper(), secret) is True


@settings(max_examples=100, deadline=None)
@given(
    secrets=st.lists(secrets_text, min_size=1, max_size=5, unique=True),
    pick=st.integers(0, 4),
    body=st.binary(max_size=256),
)
def test_match_secret_finds_the_signing_secret(secrets: list[str], pick: int, body: bytes) -> None:
    index = pick % len(secrets)
    provider: Callable[[], list[str]] = lambda: secrets  # noqa: E731
    assert match_secret(body, sign(body, secrets[index]), secrets) == index
    assert match_secret(body, sign(body, secrets[index]), provider) == index


@settings(max_examples=300, deadline=None)
@given(
    tail=st.text(alphabet=st.sampled_from("0123456789abcdefABCDEF \t\n\x0b\r\u0663g"), min_size=2)
)
def test_a_signature_verifies_only_as_64_hex_characters(tail: str) -> None:
    # The signature's last two characters replaced by anything, whitespace and non-ASCII
    # digits included: it verifies exactly when they are the right hex digits in any case.
    body, secret = b'{"id": 1}', "wh_shape"
    signature = sign(body, secret)
    header = signature[:62] + tail
    expected = 0 if len(header) == 64 and tail.lower() == signature[62:] else None
    assert match_secret(body, header, secret) == expected
