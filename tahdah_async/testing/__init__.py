"""Run a whole Tahdah integration offline: a stateful fake server that sends signed webhooks.

::

    from tahdah_async import TahdahClient
    from tahdah_async.testing import FakeTahdah

    async with FakeTahdah() as fake:
        async with TahdahClient(fake.token, base_url=fake.url) as tahdah:
            await tahdah.candidates.create(first_name="Ada", last_name="Lovelace")

The pytest plugin (``tahdah_async.testing.plugin``, registered automatically) adds the
fixtures ``fake_tahdah``, ``tahdah_client`` and ``tahdah_webhook``.

Without any server at all, :class:`MockTransport` answers the client's requests with a
function of yours::

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, json=[])

    async with TahdahClient("tk_test", transport=MockTransport(handler)) as tahdah:
        assert await tahdah.trust_groups.list(1001) == []
"""

import typing as _typing

from .._lazy import attach as _attach

if _typing.TYPE_CHECKING:
    from ._faults import Fault, Faults, Hold
    from ._mock import MockHandler, MockRequest, MockResponse, MockTransport
    from ._sender import Attempt, WebhookDelivery
    from ._state import FakeState, Problem
    from .fake import FakeTahdah, RequestRecord, Seeded
    from .webhooks import WebhookResponse, deliver_webhook

# Imported on first use, so that loading the pytest plugin (which imports this package)
# costs nothing until a test asks for a fixture.
_LAZY: dict[str, str] = {
    "Fault": "._faults",
    "Faults": "._faults",
    "Hold": "._faults",
    "MockHandler": "._mock",
    "MockRequest": "._mock",
    "MockResponse": "._mock",
    "MockTransport": "._mock",
    "Attempt": "._sender",
    "WebhookDelivery": "._sender",
    "FakeState": "._state",
    "Problem": "._state",
    "FakeTahdah": ".fake",
    "RequestRecord": ".fake",
    "Seeded": ".fake",
    "WebhookResponse": ".webhooks",
    "deliver_webhook": ".webhooks",
}


__getattr__, __dir__ = _attach(__name__, _LAZY)


__all__ = [
    "Attempt",
    "FakeState",
    "FakeTahdah",
    "Fault",
    "Faults",
    "Hold",
    "MockHandler",
    "MockRequest",
    "MockResponse",
    "MockTransport",
    "Problem",
    "RequestRecord",
    "Seeded",
    "WebhookDelivery",
    "WebhookResponse",
    "deliver_webhook",
]
