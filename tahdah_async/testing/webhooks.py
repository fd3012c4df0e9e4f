"""Signing and delivering a webhook to a receiver under test."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import attrs
from multidict import CIMultiDictProxy
from yarl import URL

from .._untrusted import decode
from ..webhooks.app import SIGNATURE_HEADER, VERB_HEADER
from ..webhooks.signature import sign

__all__ = ["WebhookResponse", "deliver_webhook"]


@attrs.frozen
class WebhookResponse:
    """What a receiver answered to a delivery."""

    status: int
    body: Any
    """The decoded JSON body (or the text when it is not JSON)."""
    headers: CIMultiDictProxy[str] = attrs.field(repr=False)


async def deliver_webhook(
    url: str | URL,
    verb: str,
    payload: Any,
    *,
    secret: str,
    signature: str | None = None,
    headers: Mapping[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
) -> WebhookResponse:
    """Sign ``payload`` and POST it to ``url`` as Tahdah would; return the receiver's answer.

    Args:
        url: the receiver's URL.
        verb: the ``Webhook-Verb``.
        payload: JSON-serialisable data, or ``bytes`` sent as they are.
        secret: the signing secret.
        signature: a signature to send instead of the right one (to test rejection).
        headers: extra headers.
        session: a session to use (one is opened and closed otherwise).
    """
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {
        "Content-Type": "application/json",
        VERB_HEADER: verb,
        SIGNATURE_HEADER: sign(body, secret) if signature is None else signature,
        **(headers or {}),
    }
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await _post(own, url, body, sent)
    return await _post(session, url, body, sent)


async def _post(
    session: aiohttp.ClientSession, url: str | URL, body: bytes, headers: Mapping[str, str]
) -> WebhookResponse:
    async with session.post(url, data=body, headers=headers) as response:
        # The receiver's answer is peer bytes: no charset or JSON shape may raise here.
        text = decode(await response.read(), response.charset)
        try:
            decoded: Any = json.loads(text)
        except (ValueError, RecursionError):
            decoded = text
        return WebhookResponse(response.status, decoded, response.headers)
