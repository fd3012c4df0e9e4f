"""What each operation does to the fake's state: plain functions from a parsed call to a reply.

No aiohttp here. Each handler checks access and input, changes :class:`FakeState`, and returns
the response body and the webhook events the change fires. Rules the reference documents are
kept (credits never below zero, removals drawing on the given order first, idempotency keys
used once, the register-learners response with string ids); where it is silent the fake
chooses like the reference's provisional items.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, TypeVar

import attrs

from .._converter import StructureError, converter, structure
from ..models import (
    BadgeRecipient,
    Candidate,
    EventTemplateCredit,
    LearnerRegistration,
    LegalEntity,
    Model,
    Person,
    TrustGroup,
)
from ._state import (
    Badge,
    CandidateRecord,
    CreditLot,
    Experience,
    FakeState,
    LegalEntityRecord,
    Membership,
    Problem,
    Registration,
    TrustGroupRecord,
    conflict,
    invalid,
    invalid_fields,
    not_found,
    stamp,
    unprocessable,
)

__all__ = ["Call", "Event", "Reply", "handler_for"]

M = TypeVar("M", bound=Model)

Event = tuple[str, dict[str, Any]]
"""A webhook to send: its verb and its payload."""


@attrs.frozen
class Call:
    """One authenticated request, parsed."""

    operation: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Any
    acting: int
    """The legal entity the API key is bound to."""


@attrs.frozen
class Reply:
    status: int
    body: Any = None
    events: tuple[Event, ...] = ()


OK: Final = 200
CREATED: Final = 201
NO_CONTENT: Final = 204


# -- shared checks -------------------------------------------------------------------------


def as_id(value: object) -> int | None:
    """Return ``value`` as an id if it is one (an int, or a string of plain ASCII digits)."""
    # int() alone would also read True, "1_001", "+1001", " 1001" and other scripts' digits.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def id_list(value: object) -> list[int] | None:
    """Return a JSON array of ids as ints, or None if it is not one."""
    if not isinstance(value, list):
        return None
    ids = [ident for ident in map(as_id, value) if ident is not None]
    return ids if len(ids) == len(value) else None


def path_id(call: Call, name: str, what: str) -> int:
    """Return a path id as an int; one that is not an id names nothing (404)."""
    text = call.params[name]
    ident = as_id(text)
    if ident is None:
        raise not_found(what, text)
    return ident


def entity(state: FakeState, call: Call, name: str = "legalEntityId") -> LegalEntityRecord:
    """Return the legal entity named in the path, if the key may act for it (else 403/404)."""
    ident = path_id(call, name, "legal entity")
    record = state.legal_entities.get(ident)
    if record is None:
        raise not_found("legal entity", ident)
    if not state.acts_for(call.acting, ident):
        raise Problem(403, "Forbidden", detail=f"This API key may not act for legal entity {ident}")
    return record


def owned_entity(state: FakeState, call: Call) -> tuple[LegalEntityRecord, LegalEntityRecord]:
    """Return (owner, entity) for the legalentities routes; the entity must be the owner's."""
    owner = entity(state, call, "legalEntityOwnerId")
    child = entity(state, call, "legalEntityId")
    if child.owner_id != owner.id and child.id != owner.id:
        raise not_found("legal entity", child.id)
    return owner, child


def model_body(data: Any, model: type[M], required: tuple[str, ...] = ()) -> M:
    """Check a JSON body against a model, as an ASP.NET server would: 400 with every error."""
    if not isinstance(data, dict):
        raise invalid("$", "The request body must be a JSON object.")
    errors: dict[str, list[str]] = {}
    for field in required:
        value = data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[field] = [f"The {field} field is required."]
    try:
        instance = structure(data, model)
    except StructureError as exc:
        for where, message in wire_errors(exc):
            errors.setdefault(where or "$", []).append(message)
        raise invalid_fields(errors) from None
    if errors:
        raise invalid_fields(errors)
    return instance


def body_item(item: Any, model: type[M], field: str) -> M:
    """Check one element of a body's array against a model: 400 naming the element."""
    try:
        return structure(item, model)
    except StructureError as exc:
        messages = [
            f"{where}: {message}" if where else message for where, message in wire_errors(exc)
        ]
        raise invalid_fields({field: messages}) from None


def wire_errors(error: StructureError) -> Iterator[tuple[str, str]]:
    """Yield each problem of a structuring error with its path in wire names, as the client
    sent them (``monthlyPrice``, ``roles[0].name``); the path of the value itself is ``""``."""
    for problem in error.problems:
        if problem.missing:
            name = problem.wire_path.rpartition(".")[2]
            yield problem.wire_path, f"The {name} field is required."
        else:
            yield problem.wire_path, problem.message


def wire(instance: Model) -> dict[str, Any]:
    """Return a checked model as the wire data the fake stores."""
    data: dict[str, Any] = converter.unstructure(instance)
    return data


def list_of(data: Any, field: str) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get(field), list):
        raise invalid(field, f"The {field} field is required and must be an array.")
    items: list[Any] = data[field]
    return items


# -- trust groups --------------------------------------------------------------------------


def trust_group(state: FakeState, owner: LegalEntityRecord, call: Call) -> TrustGroupRecord:
    ident = path_id(call, "trustGroupId", "trust group")
    group = state.trust_groups.get(ident)
    if group is None or group.owner_id != owner.id:
        raise not_found("trust group", ident)
    return group


def trust_groups_list(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    groups = [g.wire() for g in state.trust_groups.values() if g.owner_id == owner.id]
    return Reply(OK, groups)


def trust_groups_create(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    data = wire(model_body(call.body, TrustGroup, required=("name",)))
    data.pop("id", None)
    data.setdefault("uid", str(uuid.uuid4()))
    if any(
        g.owner_id == owner.id and g.data.get("name") == data["name"]
        for g in state.trust_groups.values()
    ):
        raise conflict(f"Legal entity {owner.id} already has a trust group named {data['name']!r}")
    group = TrustGroupRecord(id=state.next_id(), owner_id=owner.id, data=data)
    state.trust_groups[group.id] = group
    return Reply(CREATED, group.wire())


def trust_groups_update(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    group = trust_group(state, owner, call)
    changes = wire(model_body(call.body, TrustGroup))
    changes.pop("id", None)
    group.data.update(changes)
    return Reply(NO_CONTENT)


def _group_filter(state: FakeState, owner: LegalEntityRecord, call: Call) -> list[TrustGroupRecord]:
    groups = [g for g in state.trust_groups.values() if g.owner_id == owner.id]
    wanted = call.query.get("trustGroupIds")
    if wanted is None:
        return groups
    ids = {as_id(part.strip()) for part in wanted.split(",") if part.strip()}
    if None in ids:
        raise invalid("trustGroupIds", "Must be a comma-separated list of ids.")
    return [g for g in groups if g.id in ids]


def member_wire(state: FakeState, group: TrustGroupRecord, member: Membership) -> dict[str, Any]:
    record = state.legal_entities.get(member.legal_entity_id)
    return {
        "trustGroupId": group.id,
        "legalEntityId": member.legal_entity_id,
        "name": record.data.get("name") if record else None,
        "addedAt": member.added_at,
        "status": member.status,
    }


def trust_groups_list_legal_entity_members(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    members = [
        member_wire(state, group, member)
        for group in _group_filter(state, owner, call)
        for member in group.members.values()
    ]
    return Reply(OK, members)


def trust_groups_list_candidate_members(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    out = []
    for group in _group_filter(state, owner, call):
        for member in group.members.values():
            record = state.legal_entities.get(member.legal_entity_id)
            for person in record.people if record else []:
                if "candidateId" in person:
                    candidate = state.candidates.get(person["candidateId"])
                    name = (
                        " ".join(
                            str(candidate.data.get(k, "")) for k in ("firstName", "lastName")
                        ).strip()
                        if candidate
                        else None
                    )
                    out.append(
                        {
                            "trustGroupId": group.id,
                            "candidateId": person["candidateId"],
                            "legalEntityId": member.legal_entity_id,
                            "name": name,
                            "addedAt": member.added_at,
                            "status": member.status,
                        }
                    )
    return Reply(OK, out)


def add_membership(state: FakeState, group: TrustGroupRecord, member_id: int) -> Event:
    """Put a legal entity into a group and return the webhook it fires; checks come first."""
    member = Membership(legal_entity_id=member_id, added_at=stamp())
    group.members[member_id] = member
    return ("trustGroups.member.added", member_wire(state, group, member))


def trust_groups_add_member(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    group = trust_group(state, owner, call)
    body = call.body
    member_id = as_id(body.get("legalEntityId")) if isinstance(body, dict) else None
    if member_id is None:
        raise invalid("legalEntityId", "The legalEntityId field is required and must be an id.")
    if member_id not in state.legal_entities:
        raise unprocessable(f"No legal entity with id {member_id} to add")
    if member_id in group.members:
        raise conflict(f"Legal entity {member_id} is already a member of trust group {group.id}")
    return Reply(NO_CONTENT, events=(add_membership(state, group, member_id),))


def trust_groups_remove_member(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    group = trust_group(state, owner, call)
    member_id = path_id(call, "memberLegalEntityId", "member")
    if group.members.pop(member_id, None) is None:
        raise not_found("member", member_id)
    return Reply(NO_CONTENT)


# -- event credits -------------------------------------------------------------------------


def event_credits_add(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    body = call.body
    if not isinstance(body, dict):
        raise invalid("$", "The request body must be a JSON object.")
    key = body.get("idempotencyKey")
    if not isinstance(key, str) or not key.strip():
        raise invalid("idempotencyKey", "The idempotencyKey field is required.")
    order = body.get("orderNumber")
    if order is not None and not isinstance(order, str):
        raise invalid("orderNumber", "The orderNumber field must be a string.")
    changes = []
    for index, item in enumerate(list_of(body, "eventTemplateCredits")):
        field = f"eventTemplateCredits[{index}]"
        credit = body_item(item, EventTemplateCredit, field)
        template = as_id(credit.event_template_id)
        if template is None:
            raise invalid(field, "eventTemplateId: expected an id")
        changes.append((template, credit.number_of_credits))
    if not changes:
        raise invalid("eventTemplateCredits", "At least one credit change is required.")
    if key in state.idempotency_keys:
        raise conflict(f"The idempotency key {key!r} was already used")
    # Check every removal first, so a refused request changes nothing.
    needed: dict[int, int] = {}
    for template, amount in changes:
        needed[template] = needed.get(template, 0) + amount
    for template, total in needed.items():
        if state.balance(owner.id, template) + total < 0:
            raise unprocessable(
                f"Event template {template} has {state.balance(owner.id, template)} credits; "
                f"cannot remove {-total}"
            )
    state.idempotency_keys.add(key)
    # Applied as the net change per template, which is what was checked above.
    for template, amount in needed.items():
        lots = state.credits.setdefault((owner.id, template), [])
        if amount > 0:
            lots.append(CreditLot(order_number=order, remaining=amount, sequence=state.next_id()))
        elif amount < 0:
            _draw(lots, -amount, order)
    balances = [
        {"eventTemplateId": template, "balance": state.balance(owner.id, template)}
        for template in needed
    ]
    usage = {
        "orderNumber": order,
        "changes": [{"eventTemplateId": t, "numberOfCredits": n} for t, n in changes],
    }
    events: list[Event] = [
        ("eventCredits.updated", {"legalEntityId": owner.id, "balances": balances, "usage": usage})
    ]
    bought = sum(amount for _, amount in changes if amount > 0)
    if order is not None and bought:
        events.append(("finance.entry.created", ledger_entry(state, owner, order, bought)))
    return Reply(OK, {"legalEntityId": owner.id, "balances": balances}, tuple(events))


def _draw(lots: list[CreditLot], amount: int, order: str | None) -> None:
    """Remove credits: the given order's lots first, then the others oldest first."""
    if order is None:
        ordered = sorted(lots, key=lambda lot: lot.sequence)
    else:
        ordered = sorted(lots, key=lambda lot: (lot.order_number != order, lot.sequence))
    for lot in ordered:
        taken = min(lot.remaining, amount)
        lot.remaining -= taken
        amount -= taken
        if not amount:
            break
    lots[:] = [lot for lot in lots if lot.remaining]


UNIT_PRICE: Final = 10.0


def ledger_entry(
    state: FakeState, owner: LegalEntityRecord, order: str, credits: int
) -> dict[str, Any]:
    """Return the ledger entry (an invoice) for credits bought against an order."""
    when = stamp()
    net = credits * UNIT_PRICE
    entry: dict[str, Any] = {
        "header": {
            "beneficiary": {"name": "Tahdah", "id": 1, "entityType": 2},
            "payer": {"name": owner.data.get("name", ""), "id": owner.id, "entityType": 1},
            "beneficiaryAddress": None,
            "payerAddress": None,
            "invoiceLogo": "",
            "invoicePaymentText": "",
            "createdDate": when,
            "dueDate": stamp(dt.datetime.now(dt.UTC) + dt.timedelta(days=30)),
            "postingDate": when,
            "notes": "",
            "description": f"Event credits for order {order}",
            "postedBy": {"name": "System", "id": 1, "entityType": 2},
        },
        "itemType": 1,
        "invoiceDetail": {
            "number": f"INV-{state.next_id()}",
            "poNumber": order,
            "poDocumentUrl": "",
            "items": [
                {
                    "id": state.next_id(),
                    "description": f"{credits} event credits",
                    "amount": net * 1.2,
                    "unitCost": UNIT_PRICE,
                    "quantity": credits,
                    "nominalCode": "4000",
                    "tax": net * 0.2,
                    "taxName": "VAT",
                    "itemType": 0,
                    "itemTypeName": "Event credits",
                    "dateSent": when,
                    "dateCancelled": None,
                }
            ],
            "payments": [],
        },
        "paymentDetail": None,
        "currency": {"id": 1, "name": "Pound sterling", "symbol": "£", "isoCode": "GBP"},
        "credit": 0,
        "debit": net * 1.2,
    }
    state.ledger_entries.append(entry)
    return entry


# -- tracker -------------------------------------------------------------------------------


def tracker_candidate_targets(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    candidate_id = path_id(call, "candidateId", "candidate")
    if state.candidate_of(owner.id, candidate_id) is None:
        raise not_found("candidate", candidate_id)
    targets = [
        t.wire()
        for t in state.targets.values()
        if t.legal_entity_id == owner.id and t.candidate_id == candidate_id
    ]
    return Reply(OK, targets)


def tracker_legal_entity_targets(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    return Reply(OK, [t.wire() for t in state.targets.values() if t.legal_entity_id == owner.id])


# -- learning experiences and pathways -----------------------------------------------------


def experience(state: FakeState, owner: LegalEntityRecord, call: Call, name: str) -> Experience:
    ident = path_id(call, name, "learning experience")
    found = state.experiences.get(ident)
    if found is None or found.legal_entity_id != owner.id:
        raise not_found("learning experience", ident)
    return found


def learning_experiences_register_learners(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    target = experience(state, owner, call, "experienceId")
    items = list_of(call.body, "candidateIds")
    if not items:
        raise invalid("candidateIds", "At least one learner is required.")
    learners = [
        body_item(item, LearnerRegistration, f"candidateIds[{index}]")
        for index, item in enumerate(items)
    ]
    # Every malformed item is a 400 before any rule about the state is checked.
    named: set[int] = set()
    for index, learner in enumerate(learners):
        if learner.candidate_id in named:
            raise invalid(
                f"candidateIds[{index}]",
                f"candidateId: candidate {learner.candidate_id} is named twice in this request",
            )
        named.add(learner.candidate_id)
    for index, learner in enumerate(learners):
        if state.candidate_of(owner.id, learner.candidate_id) is None:
            raise unprocessable(
                f"candidateIds[{index}]: no candidate with id {learner.candidate_id}"
            )
        if learner.candidate_id in target.registered:
            raise conflict(f"Candidate {learner.candidate_id} is already registered on {target.id}")
    made = []
    for learner in learners:
        registration = Registration(
            candidate_id=learner.candidate_id,
            candidate_experience_id=state.next_id(),
            experience_id=target.id,
            registration_date=learner.registration_date.isoformat(),
            behavior=learner.behavior,
        )
        target.registrations.append(registration)
        target.registered.add(registration.candidate_id)
        made.append(registration)
    # The documented response: every value a string.
    body = [
        {
            "candidateId": str(r.candidate_id),
            "candidateExperienceId": str(r.candidate_experience_id),
            "registrationDate": r.registration_date,
        }
        for r in made
    ]
    events = tuple(("registrations.created", registration_wire(r)) for r in made)
    return Reply(OK, body, events)


def registration_wire(registration: Registration) -> dict[str, Any]:
    return {
        "candidateId": registration.candidate_id,
        "candidateExperienceId": registration.candidate_experience_id,
        "experienceId": registration.experience_id,
        "registrationDate": registration.registration_date,
    }


def learning_experiences_list(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    return Reply(
        OK, [e.wire() for e in state.experiences.values() if e.legal_entity_id == owner.id]
    )


def learning_experiences_get(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    return Reply(OK, experience(state, owner, call, "experienceId").wire())


def pathways_get(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    return Reply(OK, experience(state, owner, call, "pathwayId").wire())


def pathways_list_registrations(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    found = experience(state, owner, call, "pathwayId")
    return Reply(OK, [registration_wire(r) for r in found.registrations])


# -- digital badges ------------------------------------------------------------------------


def digital_badges_list_templates(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    templates = [
        {k: v for k, v in t.items() if k != "legalEntityId"}
        for t in state.badge_templates.values()
        if t["legalEntityId"] == owner.id
    ]
    return Reply(OK, templates)


def digital_badges_issue(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call)
    template_id = path_id(call, "badgeTemplateId", "badge template")
    template = state.badge_templates.get(template_id)
    if template is None or template["legalEntityId"] != owner.id:
        raise not_found("badge template", template_id)
    recipient = model_body(call.body, BadgeRecipient)
    candidate, events = match_learner(state, owner, recipient)
    badge = Badge(
        template_id=template_id,
        legal_entity_id=owner.id,
        candidate_id=candidate.id,
        issued_at=stamp(),
        recipient=wire(recipient),
    )
    state.badges.append(badge)
    return Reply(OK, {"candidateId": candidate.id, "badgeTemplateId": template_id}, events)


def match_learner(
    state: FakeState, owner: LegalEntityRecord, recipient: BadgeRecipient
) -> tuple[CandidateRecord, tuple[Event, ...]]:
    """Find the learner by external id, then candidate id, then email; or create one."""
    keys = (
        ("externalId", recipient.external_id),
        ("id", recipient.candidate_id),
        ("email", recipient.email),
    )
    if not any(isinstance(value, int | str) and str(value).strip() for _, value in keys):
        raise invalid("learner", "An externalId, candidateId or email is required.")
    # Only the issuer's learners (or its entities'): never another provider's candidate.
    learners = [c for c in state.candidates.values() if state.acts_for(owner.id, c.legal_entity_id)]
    for field, value in keys:
        if not isinstance(value, int | str):
            continue
        for candidate in learners:
            if candidate.wire().get(field) == value:
                for name, given in (
                    ("firstName", recipient.first_name),
                    ("lastName", recipient.last_name),
                    ("email", recipient.email),
                ):
                    if isinstance(given, str) and candidate.data.get(name) not in (None, given):
                        raise conflict(
                            f"Learner {candidate.id} matched on {field} but its {name} differs"
                        )
                return candidate, ()
    data = {
        k: v
        for k, v in wire(recipient).items()
        if k in ("externalId", "email", "firstName", "lastName")
    }
    candidate = CandidateRecord(id=state.next_id(), legal_entity_id=owner.id, data=data)
    state.candidates[candidate.id] = candidate
    return candidate, (("candidates.created", candidate.wire()),)


# -- legal entities and people -------------------------------------------------------------


def legal_entities_get(state: FakeState, call: Call) -> Reply:
    _, child = owned_entity(state, call)
    return Reply(OK, child.wire())


def legal_entities_create(state: FakeState, call: Call) -> Reply:
    owner = entity(state, call, "legalEntityOwnerId")
    body = dict(call.body) if isinstance(call.body, dict) else call.body
    given = body.pop("trustGroupIds", None) if isinstance(body, dict) else None
    data = wire(model_body(body, LegalEntity, required=("name",)))
    data.pop("id", None)
    group_ids = [] if given is None else id_list(given)
    if group_ids is None:
        raise invalid("trustGroupIds", "Must be an array of trust group ids.")
    if len(set(group_ids)) != len(group_ids):
        raise invalid("trustGroupIds", "A trust group is named twice.")
    groups = []
    for group_id in group_ids:
        group = state.trust_groups.get(group_id)
        if group is None or group.owner_id != owner.id:
            raise unprocessable(f"Trust group {group_id} is not one of {owner.id}'s")
        groups.append(group)
    if any(
        e.owner_id == owner.id and e.data.get("name") == data["name"]
        for e in state.legal_entities.values()
    ):
        raise conflict(f"Legal entity {owner.id} already owns one named {data['name']!r}")
    # Everything is checked: from here on nothing refuses, so nothing is half-applied.
    data.setdefault("addedAt", stamp())
    record = LegalEntityRecord(id=state.next_id(), owner_id=owner.id, data=data)
    state.legal_entities[record.id] = record
    events: list[Event] = [("legalEntities.created", record.wire())]
    events.extend(add_membership(state, group, record.id) for group in groups)
    return Reply(CREATED, record.id, tuple(events))


def legal_entities_connect_person(state: FakeState, call: Call) -> Reply:
    owner, child = owned_entity(state, call)
    data = wire(model_body(call.body, Person))
    data.pop("legalEntityId", None)
    email = data.get("email")
    candidate_id = None
    if data.get("candidateId") is not None:
        candidate_id = as_id(data["candidateId"])
        if candidate_id is None:
            raise invalid("candidateId", "The candidateId field must be a candidate id.")
        data["candidateId"] = candidate_id
    elif not email:
        raise invalid("candidateId", "A candidateId or an email is required.")
    if not any(
        g.owner_id == owner.id and child.id in g.members for g in state.trust_groups.values()
    ):
        raise unprocessable(
            f"Legal entity {child.id} is not a member of any trust group of {owner.id}"
        )
    if candidate_id is not None and state.candidate_of(owner.id, candidate_id) is None:
        raise unprocessable(f"No candidate with id {candidate_id}")
    for existing in child.people:
        same = (candidate_id is not None and existing.get("candidateId") == candidate_id) or (
            email and existing.get("email") == email
        )
        if same:
            if existing.get("roles") == data.get("roles"):
                return Reply(NO_CONTENT)
            existing.update(data)
            payload = {**existing, "legalEntityId": child.id}
            return Reply(NO_CONTENT, events=(("legalEntities.roles.updated", payload),))
    child.people.append(data)
    return Reply(
        NO_CONTENT, events=(("legalEntities.person.added", {**data, "legalEntityId": child.id}),)
    )


def legal_entities_list_people(state: FakeState, call: Call) -> Reply:
    _, child = owned_entity(state, call)
    return Reply(OK, list(child.people))


# -- candidates ----------------------------------------------------------------------------


def candidate(state: FakeState, call: Call) -> CandidateRecord:
    ident = path_id(call, "candidateId", "candidate")
    found = state.candidates.get(ident)
    if found is None:
        raise not_found("candidate", ident)
    if not state.acts_for(call.acting, found.legal_entity_id):
        raise Problem(403, "Forbidden", detail=f"This API key may not change candidate {ident}")
    return found


def candidates_create(state: FakeState, call: Call) -> Reply:
    data = wire(model_body(call.body, Candidate, required=("firstName", "lastName")))
    data.pop("id", None)
    external = data.get("externalId")
    if external is not None and any(
        c.data.get("externalId") == external and c.legal_entity_id == call.acting
        for c in state.candidates.values()
    ):
        raise conflict(f"A candidate with externalId {external!r} already exists")
    record = CandidateRecord(id=state.next_id(), legal_entity_id=call.acting, data=data)
    state.candidates[record.id] = record
    return Reply(CREATED, record.wire(), (("candidates.created", record.wire()),))


def candidates_update(state: FakeState, call: Call) -> Reply:
    record = candidate(state, call)
    changes = wire(model_body(call.body, Candidate))
    changes.pop("id", None)
    record.data.update(changes)
    return Reply(NO_CONTENT, events=(("candidates.updated", record.wire()),))


def candidates_delete(state: FakeState, call: Call) -> Reply:
    record = candidate(state, call)
    del state.candidates[record.id]
    return Reply(NO_CONTENT, events=(("candidates.deleted", record.wire()),))


def candidates_update_tags(state: FakeState, call: Call) -> Reply:
    record = candidate(state, call)
    body = call.body
    if not isinstance(body, dict):
        raise invalid("$", "The request body must be a JSON object.")
    add, remove = body.get("add", []), body.get("remove", [])
    for field, tags in (("add", add), ("remove", remove)):
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise invalid(field, f"The {field} field must be an array of non-empty strings.")
    if not add and not remove:
        raise invalid("add", "Give at least one tag to add or remove.")
    tags = [t for t in record.tags if t not in remove]
    tags.extend(t for t in add if t not in tags)
    record.data["tags"] = tags
    return Reply(NO_CONTENT, events=(("candidates.updated", record.wire()),))


Handler = Callable[[FakeState, Call], Reply]

_HANDLERS: Final[dict[str, Handler]] = {
    "trust_groups.list": trust_groups_list,
    "trust_groups.create": trust_groups_create,
    "trust_groups.update": trust_groups_update,
    "trust_groups.list_legal_entity_members": trust_groups_list_legal_entity_members,
    "trust_groups.list_candidate_members": trust_groups_list_candidate_members,
    "trust_groups.add_member": trust_groups_add_member,
    "trust_groups.remove_member": trust_groups_remove_member,
    "event_credits.add": event_credits_add,
    "tracker.candidate_targets": tracker_candidate_targets,
    "tracker.legal_entity_targets": tracker_legal_entity_targets,
    "learning_experiences.register_learners": learning_experiences_register_learners,
    "learning_experiences.list": learning_experiences_list,
    "learning_experiences.get": learning_experiences_get,
    "pathways.list": learning_experiences_list,
    "pathways.get": pathways_get,
    "pathways.list_registrations": pathways_list_registrations,
    "pathways.create_registrations": learning_experiences_register_learners,
    "digital_badges.issue": digital_badges_issue,
    "digital_badges.list_templates": digital_badges_list_templates,
    "legal_entities.get": legal_entities_get,
    "legal_entities.create": legal_entities_create,
    "legal_entities.connect_person": legal_entities_connect_person,
    "legal_entities.list_people": legal_entities_list_people,
    "candidates.create": candidates_create,
    "candidates.update": candidates_update,
    "candidates.delete": candidates_delete,
    "candidates.update_tags": candidates_update_tags,
}


def handler_for(operation: str) -> Handler:
    """Return the handler of an operation of the route table."""
    return _HANDLERS[operation]
