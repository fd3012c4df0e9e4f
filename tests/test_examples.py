"""Every example runs, so none of them can rot."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

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
