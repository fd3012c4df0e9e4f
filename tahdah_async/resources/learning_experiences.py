"""Learning experiences (REFERENCE 2.4, older docs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._decode import decode
from .._types import Id
from ..models import LearnerRegistration, LearningExperience, RegistrationResult
from ._base import Resource, bodies

__all__ = ["LearningExperiences"]


class LearningExperiences(Resource):
    """Learning experiences and registering learners on them."""

    __slots__ = ()

    async def register_learners(
        self,
        legal_entity_id: Id,
        experience_id: Id,
        learners: Iterable[LearnerRegistration | Mapping[str, Any]],
    ) -> list[RegistrationResult]:
        """Register learners on a learning experience.

        Each learner must already exist as a candidate (see ``candidates.create``).

        Args:
            learners: one :class:`LearnerRegistration` (or mapping of wire fields) per learner;
                must not be empty.

        Returns:
            One result per registration, with the candidate experience id.

        Route: ``POST /api/learningexperiences/legalentities/{legalEntityId}/experiences/
        {experienceId}/learners`` (documented, request and response).
        """
        response = await self._client._call(
            "learning_experiences.register_learners",
            {"legalEntityId": legal_entity_id, "experienceId": experience_id},
            json={"candidateIds": bodies(LearnerRegistration, learners, what="learners")},
        )
        return decode(response, list[RegistrationResult])

    async def list(self, legal_entity_id: Id) -> list[LearningExperience]:
        """List a legal entity's learning experiences.

        Route: ``GET /api/learningexperiences/legalentities/{legalEntityId}/experiences``
        (method documented, path provisional).
        """
        response = await self._client._call(
            "learning_experiences.list", {"legalEntityId": legal_entity_id}
        )
        return decode(response, list[LearningExperience])

    async def get(self, legal_entity_id: Id, experience_id: Id) -> LearningExperience:
        """Get one learning experience.

        Route: ``GET /api/learningexperiences/legalentities/{legalEntityId}/experiences/
        {experienceId}`` (method documented, path provisional).
        """
        response = await self._client._call(
            "learning_experiences.get",
            {"legalEntityId": legal_entity_id, "experienceId": experience_id},
        )
        return decode(response, LearningExperience)
