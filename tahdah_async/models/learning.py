"""Learning experiences, pathways and registrations (REFERENCE 2.4)."""

from __future__ import annotations

import datetime as dt

import attrs

from ._base import Model

__all__ = [
    "LearnerRegistration",
    "LearningExperience",
    "Pathway",
    "PathwayType",
    "Registration",
    "RegistrationResult",
]


def _candidate_id(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{attribute.name} must be a positive Tahdah candidate id, got {value}")


def _code(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int code, got {type(value).__name__}")


def _plain_date(_: object, attribute: attrs.Attribute[dt.date], value: dt.date) -> None:
    # A datetime is a date subclass, but the wire format is a bare YYYY-MM-DD.
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"{attribute.name} must be a datetime.date, got {type(value).__name__}")


@attrs.frozen(kw_only=True, repr=False)
class LearnerRegistration(Model):
    """One learner to register on an experience or pathway (documented body)."""

    candidate_id: int = attrs.field(validator=_candidate_id)
    """The learner's Tahdah candidate id (create the candidate first)."""
    behavior: int = attrs.field(validator=_code)
    """A registration behaviour code; meanings are not documented, so any integer is sent."""
    registration_date: dt.date = attrs.field(validator=_plain_date)


@attrs.frozen(kw_only=True, repr=False)
class RegistrationResult(Model):
    """One registration made by ``register_learners`` (documented: every value a string)."""

    candidate_id: str
    candidate_experience_id: str
    registration_date: dt.date


@attrs.frozen(kw_only=True, repr=False)
class PathwayType(Model):
    """The type of a pathway or experience (provisional fields)."""

    id: int | str | None = None
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class LearningExperience(Model):
    """A learning experience (older docs; provisional fields)."""

    id: int | str | None = None
    name: str | None = None
    pathway_type: PathwayType | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None


@attrs.frozen(kw_only=True, repr=False)
class Pathway(Model):
    """A learning pathway (newer docs; provisional fields)."""

    id: int | str | None = None
    name: str | None = None
    pathway_type: PathwayType | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None


@attrs.frozen(kw_only=True, repr=False)
class Registration(Model):
    """A learner's registration on a pathway (provisional fields)."""

    candidate_id: int | str | None = None
    candidate_experience_id: int | str | None = None
    experience_id: int | str | None = None
    registration_date: dt.date | None = None
