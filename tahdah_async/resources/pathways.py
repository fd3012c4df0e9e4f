"""Pathways and registrations (REFERENCE 2.4, newer docs)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from .._decode import decode
from .._types import Id
from ..models import LearnerRegistration, Pathway, Registration, RegistrationResult
from ._base import Resource, bodies

__all__ = ["Pathways"]


class Pathways(Resource):
    """Learning pathways and the registrations on them."""

    __slots__ = ()

    async def list(self, legal_entity_id: Id) -> list[Pathway]:
        """List a legal entity's pathways ("Get Legal Entity Pathways").

        Route: ``GET /api/pathways/legalentities/{legalEntityId}/pathways`` (method documented,
        path provisional).
        """
        response = await self._client._call("pathways.list", {"legalEntityId": legal_entity_id})
        return decode(response, list[Pathway])

    async def get(self, legal_entity_id: Id, pathway_id: Id) -> Pathway:
        """Get one pathway.

        Route: ``GET /api/pathways/legalentities/{legalEntityId}/pathways/{pathwayId}`` (method
        documented, path provisional).
        """
        response = await self._client._call(
            "pathways.get", {"legalEntityId": legal_entity_id, "pathwayId": pathway_id}
        )
        return decode(response, Pathway)

    async def list_registrations(
        self, legal_entity_id: Id, pathway_id: Id
    ) -> builtins.list[Registration]:
        """List the registrations on a pathway.

        Route: ``GET /api/pathways/legalentities/{legalEntityId}/pathways/{pathwayId}/
        registrations`` (method documented, path provisional).
        """
        response = await self._client._call(
            "pathways.list_registrations",
            {"legalEntityId": legal_entity_id, "pathwayId": pathway_id},
        )
        return decode(response, list[Registration])

    async def create_registrations(
        self,
        legal_entity_id: Id,
        pathway_id: Id,
        learners: Iterable[LearnerRegistration | Mapping[str, Any]],
    ) -> builtins.list[RegistrationResult]:
        """Register learners on a pathway ("Create Registrations").

        The newer docs' page for the documented register-learners endpoint: the same request
        and response as ``learning_experiences.register_learners``, with the pathway id in the
        experience's place.

        Route: ``POST /api/learningexperiences/legalentities/{legalEntityId}/experiences/
        {experienceId}/learners`` (documented).
        """
        response = await self._client._call(
            "pathways.create_registrations",
            {"legalEntityId": legal_entity_id, "experienceId": pathway_id},
            json={"candidateIds": bodies(LearnerRegistration, learners, what="learners")},
        )
        return decode(response, list[RegistrationResult])
