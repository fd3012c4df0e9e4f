"""Event models and the verb registry: one realistic payload per verb, aliases, unknown verbs."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import attrs
import pytest

from tahdah_async import converter
from tahdah_async._converter import make_converter
from tahdah_async.models import Candidate, LegalEntity, Model, TrustGroupMember
from tahdah_async.webhooks import PayloadError, WebhookRouter
from tahdah_async.webhooks import events as ev
from tests.webhooks.helpers import REFERENCE_PATH, vector

LEGAL_ENTITY = json.loads(vector("legal-entity-created-pretty-printed").body)
LEDGER_ENTRY = json.loads(vector("ledger-entry-created-non-ascii").body)

UNKNOWN_FIELD = "futureField"
"""A wire field no model knows: it must land in ``extra``."""

MEMBER = {
    "trustGroupId": 7,
    "legalEntityId": 12,
    "name": "Northfield Training Ltd",
    "addedAt": "2026-01-02T10:00:00.000Z",
    "status": "active",
}
PERSON = {
    "candidateId": 212233,
    "email": "sam@example.com",
    "firstName": "Sam",
    "lastName": "Okafor",
    "roles": [{"id": 3, "name": "Assessor"}],
    "legalEntityId": 12,
}
CATALOGUE_ENTRY = {
    "id": 501,
    "catalogueId": 9,
    "title": "Level 3 Team Leader",
    "description": "Apprenticeship standard",
    "publishedAt": "2026-03-01T09:30:00Z",
    "price": 1500.5,
}
CANDIDATE = {
    "id": 212233,
    "externalId": "EXT-0042",
    "firstName": "Sam",
    "lastName": "Okafor",
    "email": "sam@example.com",
    "dateOfBirth": "2001-02-03",
    "tags": ["cohort-2026", "leeds"],
}

PAYLOADS: dict[str, dict[str, Any]] = {
    "legalEntities.created": LEGAL_ENTITY,
    "finance.entry.created": LEDGER_ENTRY,
    "trustGroups.member.added": MEMBER,
    "trustGroups.member.updated": {**MEMBER, "status": "suspended"},
    "eventCredits.updated": {
        "legalEntityId": 12,
        "balances": [
            {"eventTemplateId": 31, "balance": 40},
            {"eventTemplateId": "tpl-7", "balance": 0},
        ],
        "usage": {"eventId": 884, "credits": 5, "note": "Spring cohort"},
    },
    "catalogue.entry.created": CATALOGUE_ENTRY,
    "catalogue.entry.published": CATALOGUE_ENTRY,
    "registrations.created": {
        "candidateId": "212233",
        "candidateExperienceId": "cx-77",
        "experienceId": 44,
        "registrationDate": "2026-01-05T00:00:00Z",
    },
    "legalEntities.person.added": PERSON,
    "legalEntities.roles.updated": PERSON,
    "tracker.target.updated": {
        "id": 3,
        "name": "Off-the-job hours",
        "target": 278,
        "achieved": 120.5,
        "dueDate": "2026-06-30",
        "status": "on-track",
        "candidateId": 212233,
    },
    "candidates.created": CANDIDATE,
    "candidates.updated": {**CANDIDATE, "email": "sam.okafor@example.com"},
    "candidates.deleted": {"id": 212233},
}
"""A realistic payload per verb (the documented two are the reference's own examples)."""


def with_unknown_field(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, UNKNOWN_FIELD: {"nested": [1, 2, 3]}}


def test_there_is_a_payload_for_every_verb() -> None:
    assert set(PAYLOADS) == set(ev.VERBS)


@pytest.mark.parametrize("verb", sorted(ev.VERBS))
def test_each_verb_parses_into_its_event_keeping_unknown_fields(verb: str) -> None:
    router = WebhookRouter()
    event = router.parse(verb, with_unknown_field(PAYLOADS[verb]))
    event_type = ev.VERBS[verb]
    assert type(event) is event_type
    assert verb == event_type.VERB
    assert event.extra == {UNKNOWN_FIELD: {"nested": [1, 2, 3]}}
    # Every other key is a known field: nothing is dropped, and the event writes back every key
    # that holds a value (a null reads as None, which is not written).
    held = {key for key, value in PAYLOADS[verb].items() if value is not None}
    assert set(converter.unstructure(event)) == held | {UNKNOWN_FIELD}
    strict = make_converter(strict=True)
    assert type(strict.structure(PAYLOADS[verb], event_type)) is event_type


def test_legal_entity_created_reads_the_documented_example() -> None:
    event = WebhookRouter().parse("legalEntities.created", LEGAL_ENTITY)
    assert isinstance(event, ev.LegalEntityCreated)
    assert isinstance(event, LegalEntity)
    assert event.name == "Northfield Training Ltd"
    assert event.trading_name == "Northfield"
    assert event.added_at == dt.datetime(2019, 8, 24, 14, 15, 22, 123000, tzinfo=dt.UTC)
    assert event.child_age_limit == 16
    assert event.currency_id == 1
    assert event.timezone == "UK/London"
    assert event.charity_number == ""
    assert event.extra == {}


def test_ledger_entry_created_reads_the_documented_example() -> None:
    event = WebhookRouter().parse("finance.entry.created", LEDGER_ENTRY)
    assert isinstance(event, ev.LedgerEntryCreated)
    assert event.item_type == 1
    assert event.debit == 120.0
    assert event.credit == 0.0
    assert event.currency
    assert event.currency.symbol == "£"
    assert event.currency.iso_code == "GBP"
    header = event.header
    assert header
    assert header.beneficiary
    assert header.beneficiary.id == 12
    assert header.beneficiary_address
    assert header.beneficiary_address.town == "Leeds"
    assert header.beneficiary_address.company_number == "0123"
    assert header.payer_address is None
    assert event.payment_detail is None
    detail = event.invoice_detail
    assert detail
    assert detail.items
    assert detail.items[0].nominal_code == "4000"
    assert detail.items[0].date_cancelled is None
    assert detail.payments == ()
    assert event.extra == {}


def test_unknown_integer_codes_are_kept() -> None:
    payload = json.loads(json.dumps(LEDGER_ENTRY))
    payload["itemType"] = 987
    payload["header"]["payer"]["entityType"] = 55
    payload["invoiceDetail"]["items"][0]["itemType"] = 4242
    payload["paymentDetail"] = {"paymentMethod": 77, "paymentStatus": 91}
    event = WebhookRouter().parse("finance.entry.created", payload)
    assert event.item_type == 987
    assert event.header.payer.entity_type == 55
    assert event.invoice_detail.items[0].item_type == 4242
    assert event.payment_detail.payment_method == 77
    assert event.payment_detail.payment_status == 91

    entity = WebhookRouter().parse("legalEntities.created", {**LEGAL_ENTITY, "currencyId": 999})
    assert entity.currency_id == 999


def test_unknown_fields_of_nested_models_are_kept_too() -> None:
    payload = json.loads(json.dumps(LEDGER_ENTRY))
    payload["currency"]["minorUnits"] = 2
    event = WebhookRouter().parse("finance.entry.created", payload)
    assert event.currency.extra == {"minorUnits": 2}
    credits_payload = json.loads(json.dumps(PAYLOADS["eventCredits.updated"]))
    credits_payload["balances"][0]["reserved"] = 2
    credits = WebhookRouter().parse("eventCredits.updated", credits_payload)
    assert credits.balances[0].extra == {"reserved": 2}
    assert credits.balances[1].extra == {}
    person_payload = {**PERSON, "roles": [{"id": 3, "name": "Assessor", "scope": "site"}]}
    person = WebhookRouter().parse("legalEntities.roles.updated", person_payload)
    assert person.roles[0].extra == {"scope": "site"}
    assert credits.usage == {"eventId": 884, "credits": 5, "note": "Spring cohort"}


# -- verbs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "LEGALENTITIES.CREATED",
        "legalentities.created",
        "LegalEntities.Created",
        " legalEntities.created ",
    ],
)
def test_verbs_compare_case_insensitively(spelling: str) -> None:
    router = WebhookRouter()
    assert router.event_type(spelling) is ev.LegalEntityCreated
    assert isinstance(router.parse(spelling, LEGAL_ENTITY), ev.LegalEntityCreated)


def test_every_registered_verb_maps_to_its_event_type() -> None:
    router = WebhookRouter()
    for verb, event_type in ev.VERBS.items():
        assert router.event_type(verb) is event_type
        assert router.event_type(verb.upper()) is event_type
        assert issubclass(event_type, Model)


def test_alias_adds_a_verb_in_one_line() -> None:
    router = WebhookRouter()
    assert router.event_type("trustGroups.memberAdded") is None
    router.alias("trustgroups.memberadded", ev.TrustGroupMemberAdded)
    assert router.event_type("trustGroups.memberAdded") is ev.TrustGroupMemberAdded
    event = router.parse("TRUSTGROUPS.MEMBERADDED", MEMBER)
    assert isinstance(event, ev.TrustGroupMemberAdded)
    assert event.trust_group_id == 7
    # The old spelling still works, and other routers are not affected.
    assert router.event_type("trustGroups.member.added") is ev.TrustGroupMemberAdded
    assert WebhookRouter().event_type("trustgroups.memberadded") is None


def test_alias_re_points_a_provisional_verb() -> None:
    @attrs.frozen(kw_only=True)
    class MemberJoined(TrustGroupMember):
        tier: str | None = None

    router = WebhookRouter()
    router.alias("trustGroups.member.added", MemberJoined)
    event = router.parse("trustGroups.member.added", {**MEMBER, "tier": "gold"})
    assert type(event) is MemberJoined
    assert event.tier == "gold"
    assert event.extra == {}
    assert WebhookRouter().event_type("trustGroups.member.added") is ev.TrustGroupMemberAdded


def test_alias_rejects_a_bad_verb_or_type() -> None:
    router = WebhookRouter()
    with pytest.raises(ValueError, match="verb"):
        router.alias("  ", ev.CandidateCreated)
    with pytest.raises(ValueError, match="verb"):
        router.alias(None, ev.CandidateCreated)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model"):
        router.alias("x.y", dict)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model"):
        router.alias("x.y", Candidate(id=1))  # type: ignore[arg-type]


def test_an_unknown_verb_parses_into_an_unknown_event() -> None:
    data = {"anything": [1, "two", None]}
    event = WebhookRouter().parse("widgets.exploded", data)
    assert event == ev.UnknownEvent(verb="widgets.exploded", data=data)
    assert WebhookRouter().parse("widgets.exploded", [1, 2]) == ev.UnknownEvent(
        verb="widgets.exploded", data=[1, 2]
    )
    assert WebhookRouter().event_type("widgets.exploded") is None


@pytest.mark.parametrize("payload", [[], [LEGAL_ENTITY], "Northfield", 3, None, True])
def test_a_payload_that_is_not_an_object_does_not_fit(payload: Any) -> None:
    with pytest.raises(PayloadError, match="LegalEntityCreated"):
        WebhookRouter().parse("legalEntities.created", payload)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"childAgeLimit": "sixteen"}, "$.child_age_limit"),
        ({"addedAt": "yesterday"}, "$.added_at"),
        ({"name": {"first": "x"}}, "$.name"),
        ({"currencyId": True}, "$.currency_id"),
    ],
    ids=["int", "datetime", "str", "bool-for-int"],
)
def test_a_field_of_the_wrong_type_does_not_fit(payload: dict[str, Any], path: str) -> None:
    with pytest.raises(PayloadError) as raised:
        WebhookRouter().parse("legalEntities.created", payload)
    assert isinstance(raised.value, ValueError)
    assert "LegalEntityCreated" in str(raised.value)
    assert path in str(raised.value)


# -- the documented verbs ---------------------------------------------------------------------


def reference_verbs() -> dict[str, str]:
    """The ``Webhook-Verb`` values of REFERENCE section 3's event table, with their mark."""
    text = REFERENCE_PATH.read_text(encoding="utf-8")
    section = text.split("## 3. Webhooks", 1)[1].split("## 4.", 1)[0]
    table = section.split("| event (docs title)", 1)[1]
    verbs: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        for verb in re.findall(r"`([^`]+)`", cells[1]):
            verbs[verb] = cells[2]
    return verbs


def test_the_registry_holds_exactly_the_reference_verbs() -> None:
    verbs = reference_verbs()
    assert len(verbs) == 14
    assert set(ev.VERBS) == set(verbs)


def test_documented_verbs_are_exactly_the_two_documented_ones() -> None:
    assert {"legalEntities.created", "finance.entry.created"} == ev.DOCUMENTED_VERBS
    assert {v for v, mark in reference_verbs().items() if mark == "D"} == ev.DOCUMENTED_VERBS
    assert set(ev.VERBS) >= ev.DOCUMENTED_VERBS
    assert ev.VERBS["legalEntities.created"] is ev.LegalEntityCreated
    assert ev.VERBS["finance.entry.created"] is ev.LedgerEntryCreated


def test_the_verb_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        ev.VERBS["x.y"] = ev.CandidateCreated  # type: ignore[index]


@pytest.mark.parametrize(
    ("verb", "payload"),
    [
        ("candidates.created", {"id": 1, "tags": "vip"}),
        ("legalEntities.roles.updated", {"candidateId": 1, "roles": ""}),
        ("eventCredits.updated", {"balances": {"eventTemplateId": 1, "balance": 2}}),
    ],
    ids=["tags", "roles", "balances"],
)
def test_a_string_or_object_where_a_list_is_expected_does_not_fit(verb: str, payload: Any) -> None:
    # Not split into characters (or keys): "never a silently mangled value".
    with pytest.raises(PayloadError, match="list"):
        WebhookRouter().parse(verb, payload)
