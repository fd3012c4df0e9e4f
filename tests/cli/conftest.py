"""Fixtures for the ``tahdah`` command's tests."""

from __future__ import annotations

import asyncio

import pytest

from tahdah_async.cli import main

from .helpers import ENV_NAMES, WAIT, Cli, Ran


@pytest.fixture(autouse=True)
def _no_tahdah_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's TAHDAH_* variables out of the commands under test."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``main(args)`` in a worker thread; return its exit code and captured output."""

    async def run(*args: str) -> Ran:
        capsys.readouterr()
        code = await asyncio.wait_for(asyncio.to_thread(main, list(args)), WAIT)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run
