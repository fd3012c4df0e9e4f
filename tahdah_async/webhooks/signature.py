"""Signing and verifying webhook bodies: pure functions, no I/O.

A delivery's ``Webhook-Signature`` is the HMAC-SHA256 of the **raw body bytes**, keyed with the
UTF-8 bytes of the whole secret (its ``wh_`` prefix included), written as 64 hexadecimal
characters. The header's shape is checked before any comparison, and digests are compared in
constant time as bytes, so upper-case hex verifies and nothing a sender puts in the header can
raise.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Final, TypeAlias

__all__ = ["Secrets", "match_secret", "resolve_secrets", "sign", "verify_signature"]

SIGNATURE_LENGTH: Final = 64
_DIGEST_SIZE: Final = 32

Secrets: TypeAlias = str | Iterable[str] | Callable[[], str | Iterable[str]]
"""One secret, several (during a rotation), or a callable returning the current ones."""


def sign(body: bytes | bytearray | memoryview, secret: str) -> str:
    """Return the ``Webhook-Signature`` value for ``body``: 64 lower-case hex characters.

    Raises:
        TypeError: ``body`` is not bytes or ``secret`` not a str.
        ValueError: an empty secret.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"body must be bytes, got {type(body).__name__}")
    return hmac.digest(_key(secret), body, "sha256").hex()


def resolve_secrets(secrets: Secrets) -> tuple[str, ...]:
    """Return the secrets in force now, calling ``secrets`` if it is a callable.

    Raises:
        TypeError: a secret that is not a str.
        ValueError: no secret, or an empty one.
    """
    current = secrets() if callable(secrets) else secrets
    found = (current,) if isinstance(current, str) else tuple(current)
    if not found:
        raise ValueError("no webhook secret is configured")
    for secret in found:
        _key(secret)
    return found


def match_secret(body: bytes, signature: str | None, secrets: Secrets) -> int | None:
    """Return the index of the secret that signed ``body``, or ``None`` if none did.

    A missing, empty, truncated, prefixed, non-hex or oversized ``signature`` is ``None``.
    """
    return match_key(body, signature, secret_keys(resolve_secrets(secrets)))


def secret_keys(secrets: tuple[str, ...]) -> tuple[bytes, ...]:
    """Return the HMAC keys of resolved ``secrets`` (for :func:`match_key`)."""
    return tuple(secret.encode("utf-8") for secret in secrets)


def match_key(body: bytes, signature: str | None, keys: tuple[bytes, ...]) -> int | None:
    """Return the index of the key that signed ``body``, or ``None``: :func:`match_secret`
    with the secrets' keys computed once (:func:`secret_keys`)."""
    if not isinstance(signature, str) or len(signature) != SIGNATURE_LENGTH:
        return None
    try:
        given = bytes.fromhex(signature)
    except ValueError:  # not hex, or not ASCII
        return None
    if len(given) != _DIGEST_SIZE:  # fromhex skips whitespace: 64 characters, 32 bytes
        return None
    found = None
    for index, key in enumerate(keys):
        expected = hmac.digest(key, body, "sha256")
        # Compare against every key, so the time taken does not say which one matched.
        if hmac.compare_digest(expected, given) and found is None:
            found = index
    return found


def verify_signature(body: bytes, signature: str | None, secrets: Secrets) -> bool:
    """Return whether ``signature`` is a valid ``Webhook-Signature`` of ``body``.

    Args:
        body: the raw request body, exactly as received.
        signature: the header value (``None`` when absent).
        secrets: the signing secret, several during a rotation, or a callable returning them.
    """
    return match_secret(body, signature, secrets) is not None


def _key(secret: str) -> bytes:
    if not isinstance(secret, str):
        raise TypeError(f"a webhook secret must be a str, got {type(secret).__name__}")
    if not secret:
        raise ValueError("a webhook secret must not be empty")
    return secret.encode("utf-8")
