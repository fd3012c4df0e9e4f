"""Keyword bodies and models: typed for mypy --strict on user code, checked at run time."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import typing
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import tahdah_async.models as models
from tahdah_async import UNSET, Candidate, TahdahClient, TrustGroup
from tahdah_async._checks import check_fields
from tahdah_async.resources._base import body
from tests import modules
from tests.conftest import TOKEN

ROOT = Path(__file__).resolve().parent.parent


def _generator() -> Any:
    return modules.load(Path("scripts") / "generate_fields.py", "generate_fields")


def test_the_generated_keyword_types_match_the_models() -> None:
    generator = _generator()
    assert (ROOT / "tahdah_async" / "models" / "_fields.py").read_text() == generator.render()


@pytest.mark.parametrize(
    "model", [models.BadgeRecipient, models.Candidate, models.LegalEntity, models.TrustGroup]
)
def test_each_typed_dict_names_every_field_of_its_model(model: type[models.Model]) -> None:
    fields = getattr(models, f"{model.__name__}Fields")
    expected = {f.name for f in attrs.fields(model)} - {"extra"}
    assert set(typing.get_type_hints(fields)) == expected


sent: list[bytes] = []


@pytest.fixture
async def url() -> AsyncIterator[str]:
    sent.clear()

    async def record(request: web.Request) -> web.Response:
        sent.append(await request.read())
        return web.json_response({"id": 7})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with TestServer(app) as server:
        yield str(server.make_url("/"))


async def test_a_value_of_the_wrong_type_is_refused_before_anything_is_sent(url: str) -> None:
    async with TahdahClient(TOKEN, base_url=url) as client:
        with pytest.raises(
            TypeError, match="trust group field 'name' must be a str or None, got int"
        ):
            await client.trust_groups.create(1001, name=42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="'date_of_birth' must be a date or None, got str"):
            await client.candidates.create(first_name="Ada", date_of_birth="2001-02-03")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="'members_publicly_visible' must be a bool"):
            await client.trust_groups.create(1001, members_publicly_visible=1)  # type: ignore[arg-type]
    assert sent == []


async def test_keyword_values_are_sent_as_given(url: str) -> None:
    async with TahdahClient(TOKEN, base_url=url) as client:
        await client.trust_groups.create(
            1001, name="Partners", monthly_price=10, access_rights=[1, 2], description=None
        )
        await client.candidates.create(
            first_name="Ada",
            date_of_birth=dt.date(2001, 2, 3),
            email=UNSET,  # type: ignore[arg-type]
        )
    assert json.loads(sent[0]) == {
        "name": "Partners",
        "monthlyPrice": 10.0,
        "accessRights": [1, 2],
        "description": None,
    }
    assert json.loads(sent[1]) == {"firstName": "Ada", "dateOfBirth": "2001-02-03"}


def test_an_unknown_keyword_names_the_closest_field() -> None:
    with pytest.raises(
        TypeError, match=r"candidate has no field 'frist_name' \(did you mean 'first_name'\?\)"
    ):
        check_fields(Candidate, {"frist_name": "Ada"}, what="candidate")
    with pytest.raises(TypeError, match=r"candidate has no field 'zzz'$"):
        check_fields(Candidate, {"zzz": 1}, what="candidate")


def test_a_model_built_with_a_wrong_type_is_refused_too() -> None:
    group = TrustGroup(name=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'name' must be a str or None, got int"):
        body(TrustGroup, group, {}, what="trust group")


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ([1, 2], True),
        ((1, 2), True),
        ([], True),
        ([1, "2"], False),
        ([True], False),
        ("12", False),
        ({1: 2}, False),
    ],
)
def test_a_list_field_takes_a_list_or_tuple_of_its_item_type(value: object, accepted: bool) -> None:
    if accepted:
        check_fields(TrustGroup, {"access_rights": value}, what="trust group")
    else:
        with pytest.raises(TypeError, match="'access_rights' must be a list of"):
            check_fields(TrustGroup, {"access_rights": value}, what="trust group")


def test_a_number_field_takes_ints_and_floats_but_not_bools_or_strings() -> None:
    check_fields(TrustGroup, {"monthly_price": 3, "annual_price": 2.5}, what="trust group")
    for bad in (True, "3", [1]):
        with pytest.raises(TypeError, match="'monthly_price' must be a number"):
            check_fields(TrustGroup, {"monthly_price": bad}, what="trust group")


def test_a_wire_mapping_may_give_a_date_as_its_iso_string() -> None:
    instance, data = body(Candidate, {"dateOfBirth": "2001-02-03"}, {}, what="candidate")
    assert instance.date_of_birth == dt.date(2001, 2, 3)
    assert data == {"dateOfBirth": "2001-02-03"}
    with pytest.raises(TypeError, match="'date_of_birth' must be a date or str or None, got int"):
        body(Candidate, {"dateOfBirth": 20010203}, {}, what="candidate")


# -- what a type checker says about a user's code ------------------------------------------

USER_CODE = """
from __future__ import annotations

import datetime as dt

from tahdah_async import LearnerRegistration, TahdahClient, TrustGroup
from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app
from tahdah_async.webhooks.events import TrustGroupMemberAdded

router = WebhookRouter()


@router.on(TrustGroupMemberAdded)
async def welcome(event: TrustGroupMemberAdded, delivery: Delivery) -> None:
    print(event.trust_group_id, delivery.verb)


async def register(client: TahdahClient) -> str:
    ada = await client.candidates.create(first_name="Ada", email="ada@example.com")
    if ada.id is None:
        raise RuntimeError("no candidate id")
    day = dt.date(2026, 1, 5)
    learner = LearnerRegistration(candidate_id=ada.id, behavior=2, registration_date=day)
    results = await client.learning_experiences.register_learners(1001, 42, [learner])
    return results[0].candidate_experience_id


async def main(client: TahdahClient) -> None:
    created: TrustGroup = await client.trust_groups.create(1001, name="Partners")
    groups: list[TrustGroup] = await client.trust_groups.list(1001)
    await client.trust_groups.update(1001, 5, description=None, access_rights=[1, 2])
    await client.candidates.create(first_name="Ada", tags=["first-aid"])
    print(created.name, len(groups), create_webhook_app(router, secrets="wh_x"))
"""

MISTAKES = """

async def mistakes(client: TahdahClient) -> None:
    await client.candidates.create(frist_name="Ada")  # MISTAKE call-arg
    await client.trust_groups.create(1001, name=42)  # MISTAKE arg-type


@router.on(TrustGroupMemberAdded)  # MISTAKE arg-type
async def wrong(event: TrustGroupMemberAdded) -> None:
    print(event)
"""


def _mypy(tmp_path: Path, source: str) -> list[str]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "user_code.py").write_text(textwrap.dedent(source))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "user_code.py",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in result.stdout.splitlines() if ": error:" in line]


def test_a_user_s_typed_calls_pass_mypy_strict_and_each_mistake_is_reported(
    tmp_path: Path,
) -> None:
    errors = _mypy(tmp_path, USER_CODE + MISTAKES)
    source = (USER_CODE + MISTAKES).splitlines()
    expected = {
        (number, line.rsplit("MISTAKE ", 1)[1])
        for number, line in enumerate(source, start=1)
        if "# MISTAKE" in line
    }
    found = {(int(error.split(":")[1]), error.rsplit("[", 1)[1].rstrip("]")) for error in errors}
    assert found == expected, "\n".join(errors)


# -- the shared argument checks ---------------------------------------------------------------


def test_counts_and_seconds_are_checked_alike_everywhere() -> None:
    from tahdah_async._checks import check_count, check_seconds

    assert check_count(3, "n") == 3
    assert check_count(0, "n", minimum=0) == 0
    with pytest.raises(TypeError, match="n must be an int, got bool"):
        check_count(True, "n")
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        check_count(0, "n")
    assert check_seconds(2, "t") == 2.0
    assert check_seconds(None, "t", optional=True) is None
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="t must be a positive, finite number of seconds"):
            check_seconds(bad, "t")
    with pytest.raises(TypeError, match="t must be a number of seconds, got NoneType"):
        check_seconds(None, "t")
    with pytest.raises(TypeError, match="t must be a number of seconds or None, got str"):
        check_seconds("1", "t", optional=True)
