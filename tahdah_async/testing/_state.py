"""The fake server's in-memory world, and the errors its rules raise.

Plain mutable records, one per thing the API manages. Wire data is kept as the JSON the API
would send (camelCase keys), so responses and webhook payloads are built without conversion.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

__all__ = [
    "Badge",
    "CandidateRecord",
    "CreditLot",
    "Experience",
    "FakeState",
    "LegalEntityRecord",
    "Membership",
    "Problem",
    "Registration",
    "TargetRecord",
    "TrustGroupRecord",
]


class Problem(Exception):
    """A request the fake refuses, answered as problem details."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        detail: str = "",
        errors: Mapping[str, list[str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = dict(errors or {})

    def body(self, trace_id: str) -> dict[str, Any]:
        """Return the ``application/problem+json`` body, shaped as ASP.NET writes it."""
        out: dict[str, Any] = {
            "type": f"https://tools.ietf.org/html/rfc9110#status.{self.status}",
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            out["detail"] = self.detail
        if self.errors:
            out["errors"] = self.errors
        out["traceId"] = trace_id
        return out


def not_found(what: str, ident: object) -> Problem:
    """Return the 404 for an unknown id."""
    return Problem(404, "Not Found", detail=f"No {what} with id {ident}")


def invalid_fields(errors: Mapping[str, list[str]]) -> Problem:
    """Return the 400 for a body with invalid fields, keyed by their wire paths."""
    return Problem(400, "One or more validation errors occurred.", errors=errors)


def invalid(field: str, message: str) -> Problem:
    """Return the 400 for one invalid field."""
    return invalid_fields({field: [message]})


def unprocessable(detail: str) -> Problem:
    """Return the 422 for a request that is well-formed but breaks a rule."""
    return Problem(422, "Unprocessable Entity", detail=detail)


def conflict(detail: str) -> Problem:
    """Return the 409 for a request that conflicts with the current state."""
    return Problem(409, "Conflict", detail=detail)


def now() -> dt.datetime:
    """The current time in UTC, to the millisecond, as the API writes it."""
    current = dt.datetime.now(dt.UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


def stamp(when: dt.datetime | None = None) -> str:
    """Return ``when`` (default: now) as the API writes date-times."""
    return (when or now()).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@attrs.define
class LegalEntityRecord:
    id: int
    owner_id: int | None
    data: dict[str, Any]
    people: list[dict[str, Any]] = attrs.field(factory=list)

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, **self.data}


@attrs.define
class Membership:
    legal_entity_id: int
    added_at: str
    status: str = "Active"


@attrs.define
class TrustGroupRecord:
    id: int
    owner_id: int
    data: dict[str, Any]
    members: dict[int, Membership] = attrs.field(factory=dict)

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, **self.data}


@attrs.define
class CandidateRecord:
    id: int
    legal_entity_id: int
    data: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, **self.data}

    @property
    def tags(self) -> list[str]:
        tags = self.data.setdefault("tags", [])
        assert isinstance(tags, list)
        return tags


@attrs.define
class Registration:
    candidate_id: int
    candidate_experience_id: int
    experience_id: int
    registration_date: str
    behavior: int


@attrs.define
class Experience:
    """A learning experience; the newer docs call the same thing a pathway."""

    id: int
    legal_entity_id: int
    data: dict[str, Any]
    registrations: list[Registration] = attrs.field(factory=list)
    registered: set[int] = attrs.field(factory=set)
    """The candidate ids in ``registrations``, for quick lookups."""

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, **self.data}


@attrs.define
class CreditLot:
    """Credits bought (or granted) together: removals draw on lots."""

    order_number: str | None
    remaining: int
    sequence: int


@attrs.define
class Badge:
    template_id: int
    legal_entity_id: int
    candidate_id: int
    issued_at: str
    recipient: dict[str, Any]


@attrs.define
class TargetRecord:
    id: int
    legal_entity_id: int
    candidate_id: int | None
    data: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, **self.data}
        if self.candidate_id is not None:
            out["candidateId"] = self.candidate_id
        return out


@attrs.define
class FakeState:
    """Everything the fake server knows. Read it in tests; change it through the API or seeds."""

    legal_entities: dict[int, LegalEntityRecord] = attrs.field(factory=dict)
    trust_groups: dict[int, TrustGroupRecord] = attrs.field(factory=dict)
    candidates: dict[int, CandidateRecord] = attrs.field(factory=dict)
    experiences: dict[int, Experience] = attrs.field(factory=dict)
    credits: dict[tuple[int, int], list[CreditLot]] = attrs.field(factory=dict)
    """Credit lots per (legal entity id, event template id)."""
    idempotency_keys: set[str] = attrs.field(factory=set)
    badge_templates: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    """Badge templates by id; each has ``legalEntityId``."""
    badges: list[Badge] = attrs.field(factory=list)
    targets: dict[int, TargetRecord] = attrs.field(factory=dict)
    catalogue_entries: list[dict[str, Any]] = attrs.field(factory=list)
    ledger_entries: list[dict[str, Any]] = attrs.field(factory=list)
    tokens: dict[str, int] = attrs.field(factory=dict)
    """API keys and the legal entity each is bound to."""
    _ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(1001))

    def next_id(self) -> int:
        """Return a fresh id (one sequence for everything, so ids never collide)."""
        return next(self._ids)

    def balance(self, legal_entity_id: int, event_template_id: int) -> int:
        """Return a legal entity's credit balance for one event template."""
        return sum(
            lot.remaining for lot in self.credits.get((legal_entity_id, event_template_id), [])
        )

    def candidate_of(self, legal_entity_id: int, candidate_id: int) -> CandidateRecord | None:
        """Return a candidate of a legal entity (its own, or of one it owns), else None.

        Another provider's candidate is answered like an unknown id, so ids never leak across
        providers.
        """
        found = self.candidates.get(candidate_id)
        if found is None or not self.acts_for(legal_entity_id, found.legal_entity_id):
            return None
        return found

    def acts_for(self, token_entity: int, legal_entity_id: int) -> bool:
        """Whether a key bound to ``token_entity`` may act for ``legal_entity_id``: itself, or
        any legal entity it owns, directly or through others."""
        seen: set[int] = set()
        current: int | None = legal_entity_id
        while current is not None and current not in seen:
            if current == token_entity:
                return True
            seen.add(current)
            record = self.legal_entities.get(current)
            current = record.owner_id if record else None
        return False
