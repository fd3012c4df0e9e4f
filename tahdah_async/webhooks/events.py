"""Webhook payload models and the verb registry (REFERENCE section 3).

A delivery's body is the bare resource, so each event is the resource's model under the event's
name (``LegalEntityCreated`` is a ``LegalEntity``), read with the client's converter and the same
open-model rules: unknown fields kept in ``extra``, unknown integer codes never raising. A verb
the registry does not know becomes an :class:`UnknownEvent`.

Verbs compare case-insensitively. Only ``legalEntities.created`` and ``finance.entry.created``
are documented; the others are provisional and can be re-pointed with ``router.alias``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final

import attrs

from ..models import (
    Candidate,
    CatalogueEntry,
    LedgerEntry,
    LegalEntity,
    Model,
    Person,
    Registration,
    Target,
    TrustGroupMember,
)

__all__ = [
    "DOCUMENTED_VERBS",
    "VERBS",
    "CandidateCreated",
    "CandidateDeleted",
    "CandidateUpdated",
    "CatalogueEntryCreated",
    "CatalogueEntryPublished",
    "EventCreditBalance",
    "EventCreditsUpdated",
    "LedgerEntryCreated",
    "LegalEntityCreated",
    "PersonAdded",
    "RegistrationCreated",
    "RolesUpdated",
    "TrackerTargetUpdated",
    "TrustGroupMemberAdded",
    "TrustGroupMemberUpdated",
    "UnknownEvent",
]


@attrs.frozen(kw_only=True, repr=False)
class LegalEntityCreated(LegalEntity):
    """A legal entity was created (documented)."""

    VERB: ClassVar[str] = "legalEntities.created"


@attrs.frozen(kw_only=True, repr=False)
class LedgerEntryCreated(LedgerEntry):
    """A finance ledger entry (invoice or payment) was posted (documented)."""

    VERB: ClassVar[str] = "finance.entry.created"


@attrs.frozen(kw_only=True, repr=False)
class TrustGroupMemberAdded(TrustGroupMember):
    """A member joined a trust group (older docs; verb provisional)."""

    VERB: ClassVar[str] = "trustGroups.member.added"


@attrs.frozen(kw_only=True, repr=False)
class TrustGroupMemberUpdated(TrustGroupMember):
    """A trust group membership changed (verb provisional)."""

    VERB: ClassVar[str] = "trustGroups.member.updated"


@attrs.frozen(kw_only=True, repr=False)
class EventCreditBalance(Model):
    """The new balance of one event template's credits (provisional fields)."""

    event_template_id: int | str | None = None
    balance: int | None = None


@attrs.frozen(kw_only=True, repr=False)
class EventCreditsUpdated(Model):
    """A provider allocated credits to an event: the new balances and what they were used for.

    Fires after credits are allocated (documented); the field names are provisional.
    """

    VERB: ClassVar[str] = "eventCredits.updated"

    legal_entity_id: int | str | None = None
    balances: tuple[EventCreditBalance, ...] | None = None
    usage: Any | None = None
    """What the credits were used for, as sent (its shape is not documented)."""


@attrs.frozen(kw_only=True, repr=False)
class CatalogueEntryCreated(CatalogueEntry):
    """An entry was published to a catalogue the subscriber owns (older docs; verb provisional)."""

    VERB: ClassVar[str] = "catalogue.entry.created"


@attrs.frozen(kw_only=True, repr=False)
class CatalogueEntryPublished(CatalogueEntry):
    """An entry was published to a catalogue (newer docs; verb provisional)."""

    VERB: ClassVar[str] = "catalogue.entry.published"


@attrs.frozen(kw_only=True, repr=False)
class RegistrationCreated(Registration):
    """A learner was registered on an experience or pathway (verb provisional)."""

    VERB: ClassVar[str] = "registrations.created"


@attrs.frozen(kw_only=True, repr=False)
class PersonAdded(Person):
    """A person was connected to a legal entity (verb provisional)."""

    VERB: ClassVar[str] = "legalEntities.person.added"


@attrs.frozen(kw_only=True, repr=False)
class RolesUpdated(Person):
    """A person's roles in a legal entity changed (verb provisional)."""

    VERB: ClassVar[str] = "legalEntities.roles.updated"


@attrs.frozen(kw_only=True, repr=False)
class TrackerTargetUpdated(Target):
    """A tracker target changed for a candidate (verb provisional)."""

    VERB: ClassVar[str] = "tracker.target.updated"


@attrs.frozen(kw_only=True, repr=False)
class CandidateCreated(Candidate):
    """A candidate was created (verb provisional)."""

    VERB: ClassVar[str] = "candidates.created"


@attrs.frozen(kw_only=True, repr=False)
class CandidateUpdated(Candidate):
    """A candidate was updated (verb provisional)."""

    VERB: ClassVar[str] = "candidates.updated"


@attrs.frozen(kw_only=True, repr=False)
class CandidateDeleted(Candidate):
    """A candidate was deleted (verb provisional)."""

    VERB: ClassVar[str] = "candidates.deleted"


@attrs.frozen(kw_only=True, repr=False)
class UnknownEvent:
    """A delivery whose verb no event type is registered for: the verb and the decoded JSON."""

    verb: str
    data: Any


_EVENTS: Final = (
    LegalEntityCreated,
    LedgerEntryCreated,
    TrustGroupMemberAdded,
    TrustGroupMemberUpdated,
    EventCreditsUpdated,
    CatalogueEntryCreated,
    CatalogueEntryPublished,
    RegistrationCreated,
    PersonAdded,
    RolesUpdated,
    TrackerTargetUpdated,
    CandidateCreated,
    CandidateUpdated,
    CandidateDeleted,
)

VERBS: Final[Mapping[str, type[Model]]] = MappingProxyType({e.VERB: e for e in _EVENTS})
"""Every verb in the reference and its event type, spelled as the reference spells it."""

DOCUMENTED_VERBS: Final = frozenset({"legalEntities.created", "finance.entry.created"})
"""The verbs the API documentation confirms; the rest of :data:`VERBS` are provisional."""
