"""Tracker targets (REFERENCE 2.3)."""

from __future__ import annotations

from .._decode import decode
from .._types import Id
from ..models import Target
from ._base import Resource

__all__ = ["Tracker"]


class Tracker(Resource):
    """Targets that learners and legal entities are tracked against."""

    __slots__ = ()

    async def candidate_targets(self, legal_entity_id: Id, candidate_id: Id) -> list[Target]:
        """List a candidate's targets.

        Route: ``GET /api/tracker/legalentities/{legalEntityId}/candidates/{candidateId}/targets``
        (method documented, path provisional).
        """
        response = await self._client._call(
            "tracker.candidate_targets",
            {"legalEntityId": legal_entity_id, "candidateId": candidate_id},
        )
        return decode(response, list[Target])

    async def legal_entity_targets(self, legal_entity_id: Id) -> list[Target]:
        """List a legal entity's targets.

        Route: ``GET /api/tracker/legalentities/{legalEntityId}/targets`` (method documented,
        path provisional).
        """
        response = await self._client._call(
            "tracker.legal_entity_targets", {"legalEntityId": legal_entity_id}
        )
        return decode(response, list[Target])
