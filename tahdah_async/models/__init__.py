"""Typed models of the Tahdah API, one module per area."""

from ._base import Model
from ._fields import (
    BadgeRecipientFields,
    CandidateFields,
    LegalEntityFields,
    PersonFields,
    TrustGroupFields,
)
from .candidates import Candidate
from .catalogue import CatalogueEntry
from .digital_badges import BadgeRecipient, BadgeTemplate
from .event_credits import EventTemplateCredit
from .finance import (
    Currency,
    Entity,
    InvoiceAddress,
    InvoiceDetail,
    InvoiceItem,
    LedgerEntry,
    LedgerHeader,
    PaymentDetail,
    PaymentItem,
)
from .learning import (
    LearnerRegistration,
    LearningExperience,
    Pathway,
    PathwayType,
    Registration,
    RegistrationResult,
)
from .legal_entities import LegalEntity, Person, Role
from .problem import ProblemDetails
from .tracker import Target
from .trust_groups import TrustGroup, TrustGroupMember

__all__ = [
    "BadgeRecipient",
    "BadgeRecipientFields",
    "BadgeTemplate",
    "Candidate",
    "CandidateFields",
    "CatalogueEntry",
    "Currency",
    "Entity",
    "EventTemplateCredit",
    "InvoiceAddress",
    "InvoiceDetail",
    "InvoiceItem",
    "LearnerRegistration",
    "LearningExperience",
    "LedgerEntry",
    "LedgerHeader",
    "LegalEntity",
    "LegalEntityFields",
    "Model",
    "Pathway",
    "PathwayType",
    "PaymentDetail",
    "PaymentItem",
    "Person",
    "PersonFields",
    "ProblemDetails",
    "Registration",
    "RegistrationResult",
    "Role",
    "Target",
    "TrustGroup",
    "TrustGroupFields",
    "TrustGroupMember",
]
