"""Digital badges (REFERENCE 2.5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

from .._decode import decode
from .._types import Id
from ..models import BadgeRecipient, BadgeRecipientFields, BadgeTemplate
from ._base import Resource, body, given

__all__ = ["DigitalBadges"]


class DigitalBadges(Resource):
    """Issuing digital badges, and the templates they are issued from."""

    __slots__ = ()

    async def issue(
        self,
        legal_entity_id: Id,
        badge_template_id: Id,
        learner: BadgeRecipient | Mapping[str, Any] | None = None,
        **fields: Unpack[BadgeRecipientFields],
    ) -> None:
        """Issue a badge to a learner at once.

        The template must exist, and the token needs a role that may issue for the legal
        entity. The learner is matched on ``external_id``, then ``candidate_id``, then
        ``email``; no match creates a learner, and a match whose other details disagree is
        an error. The response is not documented (see ``with_raw_response``).

        Args:
            learner: a :class:`BadgeRecipient` or a mapping of wire fields; or give its
                fields as keyword arguments (``email="ada@example.com"``).

        Raises:
            ValueError: a learner with none of ``external_id``, ``candidate_id``, ``email``.

        Route: ``POST /api/digitalbadges/{legalEntityId}/templates/{badgeTemplateId}/issueBadge``
        (documented; body field names provisional).
        """
        recipient, data = body(BadgeRecipient, learner, fields, what="learner")
        if not any(
            given(value)
            for value in (recipient.external_id, recipient.candidate_id, recipient.email)
        ):
            raise ValueError("the learner needs an external_id, a candidate_id or an email")
        await self._client._call(
            "digital_badges.issue",
            {"legalEntityId": legal_entity_id, "badgeTemplateId": badge_template_id},
            json=data,
        )

    async def list_templates(self, legal_entity_id: Id) -> list[BadgeTemplate]:
        """List the badge templates of a legal entity.

        Route: ``GET /api/digitalbadges/{legalEntityId}/templates`` (method documented, path
        provisional).
        """
        response = await self._client._call(
            "digital_badges.list_templates", {"legalEntityId": legal_entity_id}
        )
        return decode(response, list[BadgeTemplate])
