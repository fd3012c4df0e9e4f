"""Shared fixtures."""

from __future__ import annotations

import inspect
import logging
import re
import types
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses, core
from hypothesis import HealthCheck, settings

from tahdah_async import RetryPolicy, TahdahClient

TOKEN = "tk_live_s3cr3t-token-value"
BASE_URL = "https://api.tahdah.test"

# aioresponses 0.7.9 (the latest release) builds ClientResponse without the ``stream_writer``
# argument aiohttp >= 3.14 requires. Until its fix is released, give it a response class that
# supplies a finished writer when aiohttp's signature asks for one. Remove with a fixed release.
if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:

    class _ShimResponse(aiohttp.ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
            super().__init__(*args, **kwargs)

    core.ClientResponse = _ShimResponse  # type: ignore[attr-defined]


# Property tests judge behaviour, never speed: on a loaded machine an example may take seconds,
# so neither Hypothesis' per-example deadline nor its "too slow" health checks apply.
settings.register_profile(
    "suite",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("suite")


# -- no credential in any log line, across the whole suite ---------------------------------
#
# Every test runs with the SDK's and aiohttp's loggers at DEBUG, and a handler on the root
# logger formats every record (message, arguments, traceback) and looks for the suite's
# token, any key the fake server issued, and any bearer credential that is not redacted.
# A test whose logs leak one fails in its teardown.

_CREDENTIALS = re.compile(
    re.escape(TOKEN) + r"|fake_[A-Za-z0-9_-]{24}|Bearer (?!\*\*\*)[A-Za-z0-9._~+/=-]{8,}"
)


class _CredentialGuard(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []
        self._format = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self._format.format(record)
        except Exception:
            return
        if _CREDENTIALS.search(text):
            self.leaks.append(text[:300])


_GUARD = _CredentialGuard()
logging.getLogger().addHandler(_GUARD)
for _name in ("tahdah_async", "aiohttp"):
    logging.getLogger(_name).setLevel(logging.DEBUG)


@pytest.fixture(autouse=True)
def no_credentials_in_logs() -> Iterator[None]:
    _GUARD.leaks.clear()
    yield
    if _GUARD.leaks:
        pytest.fail("a log line contains a credential: " + " | ".join(_GUARD.leaks[:3]))


class RecordingSleep:
    """An injectable sleep that records the delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def finishes_at_once(coroutine: Coroutine[Any, Any, None]) -> bool:
    """Whether ``coroutine`` finishes in its first step, never suspending to wait for anything."""
    try:
        coroutine.send(None)
    except StopIteration:
        return True
    coroutine.close()
    return False


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as mock:
        yield mock


@pytest.fixture
async def client(sleeps: RecordingSleep) -> AsyncIterator[TahdahClient]:
    async with TahdahClient(
        TOKEN, base_url=BASE_URL, retry=RetryPolicy(sleep=sleeps, random=lambda: 0.0)
    ) as client:
        yield client


# -- stable test ids -------------------------------------------------------------------------
#
# A parameter's default id can hold a memory address (``<object object at 0x7f...>``). Such a
# test has a new name every run, so reports across runs (scripts/stress) cannot match it up, and
# parallel workers would collect different tests.

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unstable = [item.nodeid for item in items if _ADDRESS.search(item.nodeid)]
    if unstable:
        raise pytest.UsageError("test ids with a memory address: " + ", ".join(unstable[:5]))
