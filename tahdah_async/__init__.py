"""tahdah_async: the asyncio-native Python SDK for the Tahdah API.

The names below are imported on first use, so that ``import tahdah_async`` (or a service that
only needs ``tahdah_async.webhooks``) does not pay for the whole client up front.
"""

import importlib as _importlib
import logging as _logging
import typing as _typing

from ._version import __version__

# A library logs, the application decides where it goes (nothing, until it configures logging).
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

if _typing.TYPE_CHECKING:
    from ._client import DEFAULT_BASE_URL, TahdahClient
    from ._converter import converter
    from ._events import RequestEvent, ResponseEvent, RetryEvent
    from ._response import APIResponse, Response
    from ._retry import RetryPolicy
    from ._routes import ROUTES, Route
    from ._transport import AsyncTransport, Timeout
    from ._types import UNSET, Id, Maybe, UnsetType
    from .errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        InternalServerError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        ResponseDecodeError,
        ResponseTooLargeError,
        TahdahError,
        UnprocessableEntityError,
    )
    from .models import (
        BadgeRecipient,
        BadgeRecipientFields,
        BadgeTemplate,
        Candidate,
        CandidateFields,
        CatalogueEntry,
        Currency,
        Entity,
        EventTemplateCredit,
        InvoiceAddress,
        InvoiceDetail,
        InvoiceItem,
        LearnerRegistration,
        LearningExperience,
        LedgerEntry,
        LedgerHeader,
        LegalEntity,
        LegalEntityFields,
        Model,
        Pathway,
        PathwayType,
        PaymentDetail,
        PaymentItem,
        Person,
        PersonFields,
        ProblemDetails,
        Registration,
        RegistrationResult,
        Role,
        Target,
        TrustGroup,
        TrustGroupFields,
        TrustGroupMember,
    )

_LAZY: dict[str, str] = {
    "DEFAULT_BASE_URL": "._client",
    "TahdahClient": "._client",
    "converter": "._converter",
    "RequestEvent": "._events",
    "ResponseEvent": "._events",
    "RetryEvent": "._events",
    "APIResponse": "._response",
    "Response": "._response",
    "RetryPolicy": "._retry",
    "ROUTES": "._routes",
    "Route": "._routes",
    "AsyncTransport": "._transport",
    "Timeout": "._transport",
    "UNSET": "._types",
    "Id": "._types",
    "Maybe": "._types",
    "UnsetType": "._types",
    "APIConnectionError": ".errors",
    "APIStatusError": ".errors",
    "APITimeoutError": ".errors",
    "AuthenticationError": ".errors",
    "BadRequestError": ".errors",
    "ConflictError": ".errors",
    "InternalServerError": ".errors",
    "NotFoundError": ".errors",
    "PermissionDeniedError": ".errors",
    "RateLimitError": ".errors",
    "ResponseDecodeError": ".errors",
    "ResponseTooLargeError": ".errors",
    "TahdahError": ".errors",
    "UnprocessableEntityError": ".errors",
    "BadgeRecipient": ".models",
    "BadgeRecipientFields": ".models",
    "BadgeTemplate": ".models",
    "Candidate": ".models",
    "CandidateFields": ".models",
    "CatalogueEntry": ".models",
    "Currency": ".models",
    "Entity": ".models",
    "EventTemplateCredit": ".models",
    "InvoiceAddress": ".models",
    "InvoiceDetail": ".models",
    "InvoiceItem": ".models",
    "LearnerRegistration": ".models",
    "LearningExperience": ".models",
    "LedgerEntry": ".models",
    "LedgerHeader": ".models",
    "LegalEntity": ".models",
    "LegalEntityFields": ".models",
    "Model": ".models",
    "Pathway": ".models",
    "PathwayType": ".models",
    "PaymentDetail": ".models",
    "PaymentItem": ".models",
    "Person": ".models",
    "PersonFields": ".models",
    "ProblemDetails": ".models",
    "Registration": ".models",
    "RegistrationResult": ".models",
    "Role": ".models",
    "Target": ".models",
    "TrustGroup": ".models",
    "TrustGroupFields": ".models",
    "TrustGroupMember": ".models",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY.keys())


__all__ = [
    "DEFAULT_BASE_URL",
    "ROUTES",
    "UNSET",
    "APIConnectionError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "AsyncTransport",
    "AuthenticationError",
    "BadRequestError",
    "BadgeRecipient",
    "BadgeRecipientFields",
    "BadgeTemplate",
    "Candidate",
    "CandidateFields",
    "CatalogueEntry",
    "ConflictError",
    "Currency",
    "Entity",
    "EventTemplateCredit",
    "Id",
    "InternalServerError",
    "InvoiceAddress",
    "InvoiceDetail",
    "InvoiceItem",
    "LearnerRegistration",
    "LearningExperience",
    "LedgerEntry",
    "LedgerHeader",
    "LegalEntity",
    "LegalEntityFields",
    "Maybe",
    "Model",
    "NotFoundError",
    "Pathway",
    "PathwayType",
    "PaymentDetail",
    "PaymentItem",
    "PermissionDeniedError",
    "Person",
    "PersonFields",
    "ProblemDetails",
    "RateLimitError",
    "Registration",
    "RegistrationResult",
    "RequestEvent",
    "Response",
    "ResponseDecodeError",
    "ResponseEvent",
    "ResponseTooLargeError",
    "RetryEvent",
    "RetryPolicy",
    "Role",
    "Route",
    "TahdahClient",
    "TahdahError",
    "Target",
    "Timeout",
    "TrustGroup",
    "TrustGroupFields",
    "TrustGroupMember",
    "UnprocessableEntityError",
    "UnsetType",
    "__version__",
    "converter",
]
