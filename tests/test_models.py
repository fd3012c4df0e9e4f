"""The converter's wire rules, on the models of every area."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import cattrs
import pytest

from tahdah_async import (
    UNSET,
    Candidate,
    EventTemplateCredit,
    LearnerRegistration,
    LedgerEntry,
    LegalEntity,
    Person,
    ProblemDetails,
    RegistrationResult,
    Role,
    TrustGroup,
    converter,
)
from tahdah_async._converter import make_converter, to_camel
from tahdah_async.models import Model
from tahdah_async.resources._base import body

LEGAL_ENTITY = {
    "addedAt": "2019-08-24T14:15:22.123Z",
    "name": "Northfield Training Ltd",
    "tradingName": "Northfield",
    "description": "Apprenticeship provider",
    "logoUrl": "http://example.com/logo.png",
    "publicWebsiteAddress": "http://example.com",
    "contactEmail": "info@example.com",
    "contactUsLink": "http://example.com/contact",
    "vatNumber": "GB123456789",
    "charityNumber": "",
    "childAgeLimit": 16,
    "address1": "1 High Street",
    "address2": "",
    "address3": "",
    "town": "Leeds",
    "county": "West Yorkshire",
    "postcode": "LS1 1AA",
    "currencyId": 1,
    "timezone": "UK/London",
}

LEDGER_ENTRY: dict[str, Any] = {
    "header": {
        "beneficiary": {"name": "Northfield", "id": 12, "entityType": 1},
        "payer": {"name": "Acme", "id": 34, "entityType": 1},
        "beneficiaryAddress": {
            "name": "Northfield",
            "address1": "1 High Street",
            "address2": "",
            "address3": "",
            "t": "Leeds",
            "county": "West Yorkshire",
            "postcode": "LS1 1AA",
            "country": "UK",
            "companynumber": "0123",
            "charitynumber": "",
            "vatnumber": "GB1",
            "website": "http://example.com",
        },
        "payerAddress": None,
        "invoiceLogo": "",
        "invoicePaymentText": "",
        "createdDate": "2026-01-02T10:00:00Z",
        "dueDate": "2026-02-01T10:00:00Z",
        "postingDate": "2026-01-02T10:00:00Z",
        "notes": "",
        "description": "Membership",
        "postedBy": {"name": "System", "id": 1, "entityType": 2},
    },
    "itemType": 1,
    "invoiceDetail": {
        "number": "INV-7",
        "poNumber": "",
        "poDocumentUrl": "",
        "items": [
            {
                "id": 1,
                "description": "Annual membership",
                "amount": 120.0,
                "unitCost": 100.0,
                "quantity": 1.0,
                "nominalCode": "4000",
                "tax": 20.0,
                "taxName": "VAT",
                "itemType": 0,
                "itemTypeName": "Membership",
                "dateSent": "2026-01-02T10:00:00Z",
                "dateCancelled": None,
            }
        ],
        "payments": [],
    },
    "paymentDetail": None,
    "currency": {"id": 1, "name": "Pound sterling", "symbol": "£", "isoCode": "GBP"},
    "credit": 0.0,
    "debit": 120.0,
}


def test_camel_case_names() -> None:
    assert to_camel("candidate_experience_id") == "candidateExperienceId"
    assert to_camel("address1") == "address1"
    assert to_camel("name") == "name"


def test_legal_entity_from_the_documented_example() -> None:
    entity = converter.structure(LEGAL_ENTITY, LegalEntity)
    assert entity.added_at == dt.datetime(2019, 8, 24, 14, 15, 22, 123000, tzinfo=dt.UTC)
    assert entity.child_age_limit == 16
    assert entity.timezone == "UK/London"
    assert entity.id is None
    assert entity.extra == {}
    assert make_converter(strict=True).structure(LEGAL_ENTITY, LegalEntity) == entity


def test_ledger_entry_keeps_odd_wire_names_and_round_trips() -> None:
    entry = converter.structure(LEDGER_ENTRY, LedgerEntry)
    assert entry.header is not None
    address = entry.header.beneficiary_address
    assert address is not None
    assert address.town == "Leeds"
    assert address.company_number == "0123"
    assert entry.header.payer_address is None
    assert entry.payment_detail is None
    assert entry.invoice_detail is not None
    assert entry.invoice_detail.items is not None
    assert entry.invoice_detail.items[0].date_cancelled is None
    # Written back, it carries the same keys but the nulls: a None field is not sent.
    assert converter.unstructure(entry) == _without_nulls(LEDGER_ENTRY)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def test_unknown_fields_are_kept_and_sent_back() -> None:
    data = {"name": "Partners", "futureField": {"nested": [1, 2]}, "accessRights": [1, 99]}
    group = converter.structure(data, TrustGroup)
    assert group.extra == {"futureField": {"nested": [1, 2]}}
    assert group.access_rights == (1, 99)
    assert converter.unstructure(group) == data


def test_unknown_fields_in_nested_models_round_trip() -> None:
    data = {"email": "a@example.com", "roles": [{"id": 3, "name": "Tutor", "scope": "all"}]}
    person = converter.structure(data, Person)
    assert person.roles is not None
    assert person.roles == (Role(id=3, name="Tutor", extra={"scope": "all"}),)
    assert converter.unstructure(person) == data


def test_strict_converter_rejects_unknown_fields() -> None:
    with pytest.raises(cattrs.ForbiddenExtraKeysError, match="TrustGroup"):
        make_converter(strict=True).structure({"name": "x", "surprise": 1}, TrustGroup)


def test_absent_and_null_both_read_as_none() -> None:
    candidate = converter.structure({"firstName": "Ada", "email": None}, Candidate)
    assert candidate.first_name == "Ada"
    assert candidate.email is None
    assert candidate.last_name is None
    assert converter.unstructure(candidate) == {"firstName": "Ada"}


def test_an_update_sends_only_what_was_set_and_nulls_only_when_asked() -> None:
    assert converter.unstructure(Candidate(last_name="Byron")) == {"lastName": "Byron"}
    assert converter.unstructure(Candidate(email=None)) == {}
    assert converter.unstructure(Candidate(extra={"nickname": "A"})) == {"nickname": "A"}
    assert body(Candidate, None, {"email": None}, what="candidate")[1] == {"email": None}
    assert body(Candidate, {"email": None}, {}, what="candidate")[1] == {"email": None}


def test_a_repr_shows_the_set_fields_and_counts_the_unknown_ones() -> None:
    group = converter.structure(
        {"name": "Partners", "x": 1, "y": 2, "accessRights": [1]}, TrustGroup
    )
    assert repr(group) == "TrustGroup(name='Partners', access_rights=(1,), extra=<2 fields>)"
    assert repr(Candidate()) == "Candidate()"
    assert repr(Candidate(id=7, extra={"a": 1})) == "Candidate(id=7, extra=<1 field>)"


def test_to_dict_gives_python_or_wire_names_and_to_json_the_wire_form() -> None:
    data = {"email": "a@example.com", "roles": [{"id": 3, "name": "Tutor", "scope": "all"}]}
    person = converter.structure(data, Person)
    assert person.to_dict() == {
        "email": "a@example.com",
        "roles": [{"id": 3, "name": "Tutor", "extra": {"scope": "all"}}],
    }
    assert person.to_dict(wire=True) == data
    assert json.loads(person.to_json()) == data
    candidate = Candidate(first_name="Zoë", date_of_birth=dt.date(2001, 2, 3))
    assert candidate.to_dict() == {"first_name": "Zoë", "date_of_birth": dt.date(2001, 2, 3)}
    assert candidate.to_json() == '{"firstName":"Zoë","dateOfBirth":"2001-02-03"}'


def test_known_fields_win_over_extra() -> None:
    candidate = Candidate(first_name="Ada", extra={"firstName": "Other", "x": 1})
    assert converter.unstructure(candidate) == {"firstName": "Ada", "x": 1}


def test_unknown_integer_codes_never_raise() -> None:
    data = dict(LEDGER_ENTRY, itemType=987654)
    assert converter.structure(data, LedgerEntry).item_type == 987654
    registration = LearnerRegistration(
        candidate_id=1, behavior=12345, registration_date=dt.date(2025, 1, 1)
    )
    assert converter.unstructure(registration)["behavior"] == 12345


def test_registration_result_ids_are_strings() -> None:
    result = converter.structure(
        {"candidateId": "212233", "candidateExperienceId": 98001, "registrationDate": "2025-09-03"},
        RegistrationResult,
    )
    assert result == RegistrationResult(
        candidate_id="212233",
        candidate_experience_id="98001",
        registration_date=dt.date(2025, 9, 3),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-09-03", dt.date(2025, 9, 3)),
        ("2025-09-03T00:00:00", dt.date(2025, 9, 3)),
        ("2025-09-03T23:59:59.1234567Z", dt.date(2025, 9, 3)),
    ],
)
def test_dates_parse(text: str, expected: dt.date) -> None:
    assert converter.structure(text, dt.date) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-08-24T14:15:22.123Z", dt.datetime(2019, 8, 24, 14, 15, 22, 123000, tzinfo=dt.UTC)),
        (
            "2019-08-24T14:15:22.1234567+01:00",
            dt.datetime(2019, 8, 24, 14, 15, 22, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        ),
        ("2019-08-24T14:15:22", dt.datetime(2019, 8, 24, 14, 15, 22)),
    ],
)
def test_datetimes_parse(text: str, expected: dt.datetime) -> None:
    assert converter.structure(text, dt.datetime) == expected


def test_utc_datetimes_are_written_with_z() -> None:
    when = dt.datetime(2026, 1, 2, 10, 0, tzinfo=dt.UTC)
    assert converter.unstructure(when) == "2026-01-02T10:00:00Z"
    assert converter.unstructure(dt.date(2026, 1, 2)) == "2026-01-02"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"childAgeLimit": "sixteen"}, "child_age_limit"),
        ({"addedAt": "yesterday"}, "added_at"),
        ({"name": ["a"]}, "name"),
        ({"currencyId": True}, "currency_id"),
    ],
)
def test_bad_values_are_decode_errors_not_silent(data: dict[str, Any], field: str) -> None:
    with pytest.raises(cattrs.ClassValidationError) as caught:
        converter.structure(data, LegalEntity)
    assert any(field in line for line in cattrs.transform_error(caught.value))


def test_bools_are_not_coerced_from_strings() -> None:
    with pytest.raises(cattrs.ClassValidationError):
        converter.structure({"showOnBadge": "false"}, TrustGroup)


def test_numbers_are_accepted_for_string_ids_and_numeric_strings_for_numbers() -> None:
    group = converter.structure({"id": 5, "monthlyPrice": "9.5"}, TrustGroup)
    assert group.id == 5
    assert group.monthly_price == 9.5


def test_a_non_object_for_a_model_is_an_error() -> None:
    with pytest.raises(TypeError, match="expected an object"):
        converter.structure(["not", "an", "object"], TrustGroup)


def test_problem_details() -> None:
    problem = converter.structure(
        {
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": {"Name": ["The Name field is required."]},
            "traceId": "00-abc-def-00",
        },
        ProblemDetails,
    )
    assert problem.trace_id == "00-abc-def-00"
    assert problem.errors == {"Name": ("The Name field is required.",)}


def test_models_are_frozen_slotted_and_keyword_only() -> None:
    group = TrustGroup(name="x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        group.name = "y"  # type: ignore[misc]
    assert not hasattr(group, "__dict__")
    with pytest.raises(TypeError):
        TrustGroup("x")  # type: ignore[call-arg, arg-type]


def test_every_model_is_frozen_slotted_and_keyword_only() -> None:
    import tahdah_async.models as models

    classes = [getattr(models, name) for name in models.__all__ if not name.endswith("Fields")]
    assert len(classes) > 20
    for cls in classes:
        assert issubclass(cls, Model)
        assert "__slots__" in cls.__dict__, cls
        assert all(field.kw_only for field in attrs.fields(cls)), cls


def test_input_models_validate_on_construction() -> None:
    with pytest.raises(ValueError, match="must not be 0"):
        EventTemplateCredit(event_template_id=77, number_of_credits=0)
    with pytest.raises(TypeError, match="registration_date"):
        LearnerRegistration(
            candidate_id=1,
            behavior=1,
            registration_date="2025-01-01",  # type: ignore[arg-type]
        )
    with pytest.raises(TypeError, match="registration_date"):
        LearnerRegistration(candidate_id=1, behavior=1, registration_date=dt.datetime(2025, 1, 1))
    with pytest.raises(TypeError, match="behavior"):
        LearnerRegistration(
            candidate_id=1,
            behavior="2",  # type: ignore[arg-type]
            registration_date=dt.date(2025, 1, 1),
        )
    with pytest.raises(ValueError, match="candidate_id"):
        LearnerRegistration(candidate_id=0, behavior=1, registration_date=dt.date(2025, 1, 1))


def test_unset_is_falsy_and_reprs_plainly() -> None:
    assert not UNSET
    assert repr(UNSET) == "UNSET"
