"""Every example runs, so none of them can rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType
from xml.etree import ElementTree

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tahdah_async import TahdahClient
from tahdah_async.batch import read_report
from tahdah_async.testing import FakeTahdah, deliver_webhook
from tests import modules

EXAMPLES = Path(__file__).parents[1] / "examples"


def load(name: str) -> ModuleType:
    return modules.load(Path("examples") / f"{name}.py", f"example_{name}")


async def test_quickstart(capsys: pytest.CaptureFixture[str]) -> None:
    await load("quickstart").main()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "created candidate 212233: Ada Lovelace"
    assert out[1] == "registered candidate 212233 as candidate experience 98001"
    assert out[2] == "trust group 7: Northern Partners (120.0/year)"
    assert out[3].startswith("  retrying PUT after ")
    assert out[4].startswith("added 10 credits (idempotency key ")
    assert out[5].startswith("as expected: NotFoundError: 404 Not Found for GET ")


async def test_the_service_calls_the_api_back_from_its_handler() -> None:
    example = load("service")
    secret = "wh_service"
    async with FakeTahdah(secret=secret) as fake:
        (group,) = fake.seed(trust_groups=[{"name": "New partners"}]).trust_groups
        settings = example.Settings(
            token=fake.token,
            base_url=fake.url,
            owner_id=fake.owner_id,
            trust_group_id=group,
            webhook_secret=secret,
        )
        async with TestClient(TestServer(example.make_app(settings))) as http:
            fake.subscribe(http.make_url("/tahdah/webhooks/"))
            async with TahdahClient(fake.token, base_url=fake.url) as client:
                entity = await client.legal_entities.create(fake.owner_id, name="Harbour Care")
                await client.candidates.create(first_name="Ada", last_name="Lovelace")
            await fake.settle()
            # A resend of the same delivery is answered without running the handler again.
            resent = await deliver_webhook(
                http.make_url("/tahdah/webhooks/"),
                "legalEntities.created",
                fake.deliveries[0].body,
                secret=secret,
            )
            health = await (await http.get("/health")).json()

    assert entity in fake.state.trust_groups[group].members
    assert [d.verb for d in fake.deliveries] == [
        "legalEntities.created",
        "candidates.created",
        "trustGroups.member.added",
    ]
    assert all(d.delivered for d in fake.deliveries)
    assert resent.status == 200
    assert resent.body["status"] == "duplicate"
    assert example.welcomed == ["Ada Lovelace"]
    assert health == {"ok": True, "welcomed": 1}


async def test_the_batch_job_resumes_where_it_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("batch_job")
    learners = EXAMPLES / "data" / "learners.csv"
    report = tmp_path / "report.csv"
    async with FakeTahdah() as fake, TahdahClient(fake.token, base_url=fake.url) as client:
        (experience,) = fake.seed(experiences=[{"name": "Fire safety"}]).experiences
        # The first run loses one chunk of registrations to a refused call.
        fake.faults.fail(422, operation="learning_experiences.register_learners")
        first = await example.run(client, learners, fake.owner_id, experience, report)
        again = await example.run(client, learners, fake.owner_id, experience, report)

    rows = read_report(report)
    assert first == {"imported": 0, "credit changes": 0}
    assert again == {"imported": 12, "credit changes": 1}
    assert len(fake.state.candidates) == 12  # none created twice
    assert {row.outcome for row in rows.values()} == {"ok"}
    assert fake.state.balance(fake.owner_id, 77) == 12
    assert capsys.readouterr().out.count("failed: NF-") == 12


def test_the_pytest_example_passes_with_the_plugin(tmp_path: Path) -> None:
    # A separate pytest run, as a user would start it: the fixtures come from the entry point.
    # Its outcome is read from its JUnit report, not its terminal: the run's output may hold
    # lines of the runtime (asyncio debug warnings on a loaded machine) besides pytest's.
    junit = tmp_path / "example.xml"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            "test_with_fake.py",
        ],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    # A passed case has no <failure>, <error> or <skipped> inside.
    assert {case.get("name"): [child.tag for child in case] for case in cases} == {
        "test_a_create_survives_a_rate_limit": [],
        "test_the_receiver_welcomes_a_signed_candidate": [],
    }
