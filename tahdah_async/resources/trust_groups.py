"""Trust groups (REFERENCE 2.1)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any, Unpack

from .._decode import decode
from .._types import Id
from ..models import TrustGroup, TrustGroupFields, TrustGroupMember
from ._base import Resource, body, check_id, check_ids, created

__all__ = ["TrustGroups"]


class TrustGroups(Resource):
    """Trust groups a legal entity owns, and their members."""

    __slots__ = ()

    async def list(self, legal_entity_id: Id) -> list[TrustGroup]:
        """List the trust groups a legal entity owns.

        Route: ``GET /api/trustgroups/legalentities/{legalEntityId}/trustgroups`` (method
        documented, path provisional).
        """
        response = await self._client._call("trust_groups.list", {"legalEntityId": legal_entity_id})
        return decode(response, list[TrustGroup])

    async def create(
        self,
        legal_entity_id: Id,
        group: TrustGroup | Mapping[str, Any] | None = None,
        **fields: Unpack[TrustGroupFields],
    ) -> TrustGroup:
        """Create a trust group owned by a legal entity.

        Args:
            legal_entity_id: the owner.
            group: the group as a :class:`TrustGroup` or a mapping of wire fields; or give
                its fields as keyword arguments instead (``name="Partners"``).

        Returns:
            The created group: the response body when it is an object, else the group as
            sent with the id the response returned (the response is not documented).

        Route: ``PUT /api/trustgroups/legalentities/{legalEntityId}/trustgroup`` (method
        documented, path provisional).
        """
        sent, data = body(TrustGroup, group, fields, what="trust group")
        response = await self._client._call(
            "trust_groups.create", {"legalEntityId": legal_entity_id}, json=data
        )
        return created(response, sent)

    async def update(
        self,
        legal_entity_id: Id,
        trust_group_id: Id,
        group: TrustGroup | Mapping[str, Any] | None = None,
        **fields: Unpack[TrustGroupFields],
    ) -> None:
        """Update a trust group; only the fields given are sent.

        Route: ``POST /api/trustgroups/legalentities/{legalEntityId}/trustgroup/{trustGroupId}``
        (documented).
        """
        _, data = body(TrustGroup, group, fields, what="trust group")
        await self._client._call(
            "trust_groups.update",
            {"legalEntityId": legal_entity_id, "trustGroupId": trust_group_id},
            json=data,
        )

    async def list_legal_entity_members(
        self, legal_entity_id: Id, trust_group_ids: Iterable[Id] | None = None
    ) -> builtins.list[TrustGroupMember]:
        """List the legal entities that are members of any group the legal entity owns.

        Args:
            trust_group_ids: only members of these groups (sent comma-separated as
                ``trustGroupIds``, a provisional name).

        Route: ``GET /api/trustgroups/legalentities/{legalEntityId}/legalentities``
        (documented, marked *Developing*).
        """
        response = await self._client._call(
            "trust_groups.list_legal_entity_members",
            {
                "legalEntityId": legal_entity_id,
                "trustGroupIds": check_ids(trust_group_ids, "trust_group_ids"),
            },
        )
        return decode(response, list[TrustGroupMember])

    async def list_candidate_members(
        self, legal_entity_id: Id, trust_group_ids: Iterable[Id] | None = None
    ) -> builtins.list[TrustGroupMember]:
        """List the candidates that are members of any group the legal entity owns.

        Args:
            trust_group_ids: only members of these groups (``trustGroupIds``, provisional).

        Route: ``GET /api/trustgroups/legalentities/{legalEntityId}/candidates`` (method
        documented, path provisional).
        """
        response = await self._client._call(
            "trust_groups.list_candidate_members",
            {
                "legalEntityId": legal_entity_id,
                "trustGroupIds": check_ids(trust_group_ids, "trust_group_ids"),
            },
        )
        return decode(response, list[TrustGroupMember])

    async def add_member(
        self, legal_entity_id: Id, trust_group_id: Id, member_legal_entity_id: Id
    ) -> None:
        """Add a legal entity to a trust group.

        Route: ``PUT .../trustgroup/{trustGroupId}/members`` with body
        ``{"legalEntityId": <member>}`` (documented, marked *Pending*).
        """
        await self._client._call(
            "trust_groups.add_member",
            {"legalEntityId": legal_entity_id, "trustGroupId": trust_group_id},
            json={"legalEntityId": check_id(member_legal_entity_id, "member_legal_entity_id")},
        )

    async def remove_member(
        self, legal_entity_id: Id, trust_group_id: Id, member_legal_entity_id: Id
    ) -> None:
        """Remove a legal entity from a trust group.

        Route: ``DELETE .../trustgroup/{trustGroupId}/members/{memberLegalEntityId}`` (method
        documented, path provisional).
        """
        await self._client._call(
            "trust_groups.remove_member",
            {
                "legalEntityId": legal_entity_id,
                "trustGroupId": trust_group_id,
                "memberLegalEntityId": member_legal_entity_id,
            },
        )
