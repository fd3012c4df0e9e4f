"""Event credits (REFERENCE 2.2)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .._types import Id
from ..models import EventTemplateCredit
from ._base import Resource, bodies

__all__ = ["EventCredits"]


class EventCredits(Resource):
    """Event credit balances, per legal entity and event template."""

    __slots__ = ()

    async def add(
        self,
        legal_entity_id: Id,
        credits: Iterable[EventTemplateCredit | Mapping[str, Any]],
        order_number: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Add (positive) or remove (negative) event credits, per event template.

        Removals draw first on ``order_number``, then on other orders oldest first; a balance
        never goes below zero. The key is generated (UUID4) when none is given and sent
        unchanged on every retry of this call, so a change is never applied twice. The server
        answers a reused key with an error: if a retry gets 409 or 422, an earlier attempt
        may have succeeded, and the error says so (check the balance before trying again).

        Args:
            legal_entity_id: whose balances change.
            credits: one :class:`EventTemplateCredit` (or mapping of wire fields) per template.
            order_number: the order the credits belong to (``orderNumber``; its place in the
                body is provisional).
            idempotency_key: a key unique to this change; generated when ``None``.

        Returns:
            The idempotency key that was sent, to record with the change.

        Route: ``PUT /api/eventcredits/legalentities/{legalEntityId}`` (documented, marked
        *Pending*; the ``eventTemplateCredits`` wrapper name is provisional).
        """
        items = bodies(EventTemplateCredit, credits, what="credits")
        key = _text(idempotency_key, "idempotency_key") or str(uuid.uuid4())
        data: dict[str, Any] = {"idempotencyKey": key}
        order = _text(order_number, "order_number")
        if order is not None:
            data["orderNumber"] = order
        data["eventTemplateCredits"] = items
        await self._client._call(
            "event_credits.add", {"legalEntityId": legal_entity_id}, json=data, repeatable=True
        )
        return key


def _text(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be blank")
    return value
