"""Legal entities and their people (REFERENCE 2.6)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Unpack

from .._decode import decode
from .._types import Id
from ..models import LegalEntity, LegalEntityFields, Person, PersonFields
from ._base import Resource, body, check_ids, created_id, given

__all__ = ["LegalEntities"]


class LegalEntities(Resource):
    """Legal entities (organisations) under an owner, and the people connected to them."""

    __slots__ = ()

    async def get(self, owner_id: Id, legal_entity_id: Id) -> LegalEntity:
        """Get a legal entity's details ("Legal Entity Details").

        Route: ``GET /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}``
        (method documented, path provisional).
        """
        response = await self._client._call(
            "legal_entities.get",
            {"legalEntityOwnerId": owner_id, "legalEntityId": legal_entity_id},
        )
        return decode(response, LegalEntity)

    async def create(
        self,
        owner_id: Id,
        entity: LegalEntity | Mapping[str, Any] | None = None,
        trust_group_ids: Iterable[Id] | None = None,
        **fields: Unpack[LegalEntityFields],
    ) -> int | str:
        """Create a legal entity under an owner, optionally putting it into trust groups.

        Args:
            owner_id: the owning legal entity.
            entity: a :class:`LegalEntity` or a mapping of wire fields; or give its fields as
                keyword arguments (``name="Northfield Training Ltd"``).
            trust_group_ids: trust groups of the owner to add it to (body field
                ``trustGroupIds``, provisional).

        Returns:
            The new legal entity's id.

        Route: ``POST /api/legalentities/{legalEntityOwnerId}/legalentities`` (documented,
        marked *Developing*).
        """
        _, data = body(LegalEntity, entity, fields, what="legal entity")
        groups = check_ids(trust_group_ids, "trust_group_ids")
        if groups is not None:
            data["trustGroupIds"] = groups
        response = await self._client._call(
            "legal_entities.create", {"legalEntityOwnerId": owner_id}, json=data
        )
        return created_id(response)

    async def connect_person(
        self,
        owner_id: Id,
        legal_entity_id: Id,
        person: Person | Mapping[str, Any] | None = None,
        **fields: Unpack[PersonFields],
    ) -> None:
        """Connect a member of staff or a candidate to a legal entity.

        The legal entity must exist and be a member of a trust group of the owner.

        Args:
            person: a :class:`Person` or a mapping of wire fields; or its fields as keyword
                arguments. It needs a ``candidate_id`` or an ``email``.

        Route: ``POST /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}/
        people`` (documented, marked *Developing*; body fields provisional).
        """
        sent, data = body(Person, person, fields, what="person")
        if not given(sent.candidate_id) and not given(sent.email):
            raise ValueError("the person needs a candidate_id or an email")
        await self._client._call(
            "legal_entities.connect_person",
            {"legalEntityOwnerId": owner_id, "legalEntityId": legal_entity_id},
            json=data,
        )

    async def list_people(self, owner_id: Id, legal_entity_id: Id) -> list[Person]:
        """List the people connected to a legal entity ("Legal Entity People List").

        Route: ``GET /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}/
        people`` (method documented, path provisional).
        """
        response = await self._client._call(
            "legal_entities.list_people",
            {"legalEntityOwnerId": owner_id, "legalEntityId": legal_entity_id},
        )
        return decode(response, list[Person])
