"""Candidates (REFERENCE 2.7)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Unpack

from .._types import Id
from ..models import Candidate, CandidateFields
from ._base import Resource, body, created

__all__ = ["Candidates"]


class Candidates(Resource):
    """Candidates (learners) of the legal entity the API key belongs to."""

    __slots__ = ()

    async def create(
        self,
        candidate: Candidate | Mapping[str, Any] | None = None,
        **fields: Unpack[CandidateFields],
    ) -> Candidate:
        """Create a candidate, attached to the legal entity of the API key.

        Args:
            candidate: a :class:`Candidate` or a mapping of wire fields; or its fields as
                keyword arguments (``first_name="Ada"``).

        Returns:
            The created candidate: the response body when it is an object, else the candidate
            as sent with the id the response returned.

        Route: ``POST /api/candidates`` (documented, marked *Developing*; fields provisional).
        """
        sent, data = body(Candidate, candidate, fields, what="candidate")
        response = await self._client._call("candidates.create", json=data)
        return created(response, sent)

    async def update(
        self,
        candidate_id: Id,
        candidate: Candidate | Mapping[str, Any] | None = None,
        **fields: Unpack[CandidateFields],
    ) -> None:
        """Update a candidate; only the fields given are sent.

        Route: ``PUT /api/candidates/{candidateId}`` (method documented, path provisional).
        """
        _, data = body(Candidate, candidate, fields, what="candidate")
        await self._client._call("candidates.update", {"candidateId": candidate_id}, json=data)

    async def delete(self, candidate_id: Id) -> None:
        """Delete a candidate.

        Route: ``DELETE /api/candidates/{candidateId}`` (method documented, path provisional).
        """
        await self._client._call("candidates.delete", {"candidateId": candidate_id})

    async def update_tags(
        self, candidate_id: Id, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        """Add and remove a candidate's tags in one call.

        Raises:
            TypeError: a single string instead of a list of tags.
            ValueError: nothing to change, a blank tag, or a tag both added and removed.

        Route: ``PUT /api/candidates/{candidateId}/tags`` with body ``{"add": [...],
        "remove": [...]}`` (method documented; path and body provisional).
        """
        adding, removing = _tags(add, "add"), _tags(remove, "remove")
        if not adding and not removing:
            raise ValueError("update_tags needs at least one tag to add or remove")
        both = set(adding) & set(removing)
        if both:
            raise ValueError(f"tags both added and removed: {sorted(both)}")
        await self._client._call(
            "candidates.update_tags",
            {"candidateId": candidate_id},
            json={"add": adding, "remove": removing},
        )


def _tags(values: Iterable[str], name: str) -> list[str]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of tags, not a single value")
    tags = list(values)
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValueError(f"{name} holds a tag that is not a non-empty string: {tag!r}")
    return tags
