"""Every example runs, so none of them can rot."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tahdah_async.webhooks import sign

EXAMPLES = Path(__file__).parents[1] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_quickstart(capsys: pytest.CaptureFixture[str]) -> None:
    await load("quickstart").main()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "created candidate 212233: Ada Lovelace"
    assert out[1] == "registered candidate 212233 as candidate experience 98001"
    assert out[2] == "trust group 7: Northern Partners (120.0/year)"
    assert out[3].startswith("  retrying PUT after ")
    assert out[4].startswith("added 10 credits (idempotency key ")
    assert out[5].startswith("as expected: NotFoundError: 404 Not Found for GET ")


async def test_webhook_receiver() -> None:
    example = load("webhook_receiver")
    body = json.dumps({"name": "Northfield Training Ltd", "childAgeLimit": 16}).encode()
    async with TestClient(TestServer(example.make_app("wh_test"))) as client:
        signed = await client.post(
            "/tahdah/webhooks/",
            data=body,
            headers={
                "Webhook-Verb": "legalEntities.created",
                "Webhook-Signature": sign(body, "wh_test"),
            },
        )
        forged = await client.post(
            "/tahdah/webhooks/",
            data=body,
            headers={"Webhook-Verb": "legalEntities.created", "Webhook-Signature": "0" * 64},
        )
        health = await (await client.get("/health")).json()
    assert signed.status == 200
    assert forged.status == 401
    assert example.seen == ["legal entity Northfield Training Ltd (secret #0)"]
    assert health == {"ok": True, "seen": 1}


def test_the_pytest_example_passes_with_the_plugin() -> None:
    # A separate pytest run, as a user would start it: the fixtures come from the entry point.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_with_fake.py"],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
