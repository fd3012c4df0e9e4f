"""The pytest plugin: its fixtures used directly, and a user's test files run under pytester.

The pytester runs get their own ini (the project's pyproject does not reach them), with
``asyncio_mode = auto`` and ``filterwarnings = error`` as a user's strict suite would have.
What loading the plugin imports is read from a fresh interpreter: this one has long imported
everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import tahdah_async.testing.plugin
from tahdah_async import TahdahClient
from tahdah_async.testing import FakeTahdah
from tahdah_async.testing.fake import DEFAULT_SECRET
from tahdah_async.testing.plugin import MISSING_PYTEST_ASYNCIO, SendWebhook
from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app
from tahdah_async.webhooks.events import CandidateCreated

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
asyncio_default_test_loop_scope = function
filterwarnings = error
"""

STRICT_MODE_INI = INI.replace("asyncio_mode = auto", "asyncio_mode = strict")

WITHOUT_ASYNCIO_INI = """
[pytest]
filterwarnings = error
"""

CANDIDATE = {"id": 42, "firstName": "Ada", "lastName": "Lovelace"}


def run(pytester: pytest.Pytester, source: str, *args: str, ini: str = INI) -> pytest.RunResult:
    """Run one user test file under pytester, with a strict asyncio ini."""
    pytester.makeini(ini)
    pytester.makepyfile(test_user=textwrap.dedent(source))
    # Hypothesis' terminal summary costs most of a second per in-process run.
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args)


# -- the plugin is registered ------------------------------------------------------------------


def test_the_plugin_is_registered_by_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.get_plugin("tahdah_async") is tahdah_async.testing.plugin


def test_without_the_plugin_the_fixtures_are_missing(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        async def test_needs_the_fake(fake_tahdah):
            pass
        """,
        "-p",
        "no:tahdah_async",
    )

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'fake_tahdah' not found*"])


# -- loading the plugin costs only pytest -----------------------------------------------------


def modules_added_by(code: str, *, after: str = "") -> list[str]:
    """The modules a fresh interpreter imports to run ``code``, once it has run ``after``."""
    probe = (
        f"import sys, json\n{after}\nbefore = set(sys.modules)\n{code}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    # -I: neither the environment nor the working directory changes what is imported.
    ran = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    added: list[str] = json.loads(ran.stdout.splitlines()[-1])
    return added


def test_the_plugin_module_imports_only_pytest() -> None:
    added = modules_added_by(
        "import tahdah_async.testing.plugin", after="import tahdah_async.testing"
    )

    assert "pytest" in added
    assert [name for name in added if name.startswith("tahdah_async")] == [
        "tahdah_async.testing.plugin"
    ]
    assert [name for name in added if name.split(".")[0] in {"pytest_asyncio", "aiohttp"}] == []


def test_loading_the_plugin_imports_neither_aiohttp_nor_the_client() -> None:
    added = modules_added_by("import tahdah_async.testing.plugin")

    assert "aiohttp" not in added
    assert "tahdah_async._client" not in added


# -- without pytest-asyncio, the fixtures say what is missing -----------------------------------


@pytest.mark.parametrize("fixture", ["fake_tahdah", "tahdah_client", "tahdah_webhook"])
def test_without_pytest_asyncio_a_fixture_names_the_extra(
    pytester: pytest.Pytester, fixture: str
) -> None:
    result = run(
        pytester,
        f"""
        async def test_async({fixture}):
            pass


        def test_sync({fixture}):
            pass


        def test_the_options_need_no_event_loop(fake_tahdah_options):
            assert fake_tahdah_options == {{}}
        """,
        "-p",
        "no:asyncio",
        ini=WITHOUT_ASYNCIO_INI,
    )

    result.assert_outcomes(passed=1, errors=2)
    message = MISSING_PYTEST_ASYNCIO.format(name=fixture)
    assert "pip install 'tahdah-async[testing]' (or pytest-asyncio)" in message
    assert result.outlines.count(message) == 2
    assert "with no plugin or hook that handled it" not in result.stdout.str()


def test_the_fixtures_work_in_strict_mode(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        from tahdah_async.webhooks import WebhookRouter, create_webhook_app


        @pytest.mark.asyncio
        async def test_all_three(tahdah_client, fake_tahdah, tahdah_webhook):
            created = await tahdah_client.candidates.create(first_name="Ada", last_name="L")
            assert fake_tahdah.state.candidates[created.id].data["firstName"] == "Ada"
            app = create_webhook_app(WebhookRouter(), secrets="wh_s")
            reply = await tahdah_webhook(app, "candidates.created", {"id": 1}, secret="wh_s")
            assert reply.status == 200


        class TestInAClass:
            @pytest.mark.asyncio
            async def test_a_method(self, fake_tahdah):
                assert fake_tahdah.requests == []
        """,
        ini=STRICT_MODE_INI,
    )

    result.assert_outcomes(passed=2)


# -- the fixtures, used directly ---------------------------------------------------------------


async def test_tahdah_client_talks_to_fake_tahdah(
    tahdah_client: TahdahClient, fake_tahdah: FakeTahdah
) -> None:
    assert str(tahdah_client.base_url) == fake_tahdah.url.rstrip("/")
    assert tahdah_client.routes == fake_tahdah.routes

    created = await tahdah_client.candidates.create(first_name="Ada", last_name="Lovelace")

    assert isinstance(created.id, int)
    assert fake_tahdah.state.candidates[created.id].data["lastName"] == "Lovelace"
    assert [(r.operation, r.status) for r in fake_tahdah.requests] == [("candidates.create", 201)]


async def test_tahdah_webhook_delivers_to_an_app(tahdah_webhook: SendWebhook) -> None:
    heard: list[tuple[Any, str]] = []
    router = WebhookRouter()

    @router.on(CandidateCreated)
    async def on_created(event: CandidateCreated, delivery: Delivery) -> None:
        heard.append((event, delivery.verb))

    app = create_webhook_app(router, secrets=DEFAULT_SECRET)

    reply = await tahdah_webhook(app, "candidates.created", CANDIDATE)
    again = await tahdah_webhook(app, "candidates.created", CANDIDATE)

    assert (reply.status, reply.body) == (200, {"status": "processed", "handlers": 1})
    assert (again.status, again.body) == (200, {"status": "duplicate"})
    assert [(e.id, e.first_name, verb) for e, verb in heard] == [(42, "Ada", "candidates.created")]


async def test_tahdah_webhook_delivers_to_a_url(tahdah_webhook: SendWebhook) -> None:
    seen: list[tuple[str, bytes]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", record)
    async with TestServer(app) as server:
        reply = await tahdah_webhook(server.make_url("/hooks"), "candidates.created", CANDIDATE)

    assert (reply.status, reply.body) == (204, "")
    assert seen == [("/hooks", b'{"id": 42, "firstName": "Ada", "lastName": "Lovelace"}')]


class TestOptionsOverride:
    """Overriding ``fake_tahdah_options`` in a class reaches only the tests of that class."""

    @pytest.fixture
    def fake_tahdah_options(self) -> dict[str, Any]:
        return {
            "owner_name": "Harbour Care Ltd",
            "routes": {"candidates.create": "POST /api/v2/candidates"},
        }

    async def test_the_fake_and_the_client_use_the_options(
        self, tahdah_client: TahdahClient, fake_tahdah: FakeTahdah
    ) -> None:
        await tahdah_client.candidates.create(first_name="Ada", last_name="Lovelace")

        assert fake_tahdah.state.legal_entities[fake_tahdah.owner_id].data["name"] == (
            "Harbour Care Ltd"
        )
        assert [(r.method, r.path) for r in fake_tahdah.requests] == [
            ("POST", "/api/v2/candidates")
        ]


async def test_options_outside_the_class_are_the_defaults(fake_tahdah: FakeTahdah) -> None:
    assert fake_tahdah.state.legal_entities[fake_tahdah.owner_id].data["name"] == (
        "Northfield Training Ltd"
    )
    assert fake_tahdah.routes["candidates.create"].path == "/api/candidates"


# -- a user's test files, under pytester --------------------------------------------------------


def test_a_users_tests_pass(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from tahdah_async import TahdahClient
        from tahdah_async.testing import FakeTahdah


        async def enrol(tahdah: TahdahClient, first: str, last: str) -> int:
            created = await tahdah.candidates.create(first_name=first, last_name=last)
            await tahdah.candidates.update_tags(created.id, add=["enrolled"])
            return created.id


        async def test_enrol_tags_the_new_candidate(
            tahdah_client: TahdahClient, fake_tahdah: FakeTahdah
        ) -> None:
            candidate_id = await enrol(tahdah_client, "Ada", "Lovelace")

            record = fake_tahdah.state.candidates[candidate_id]
            assert record.data["firstName"] == "Ada"
            assert record.tags == ["enrolled"]
            assert [verb for verb, _ in fake_tahdah.events] == [
                "candidates.created",
                "candidates.updated",
            ]


        async def test_every_test_gets_a_fresh_fake(fake_tahdah: FakeTahdah) -> None:
            assert fake_tahdah.state.candidates == {}
            assert fake_tahdah.requests == []


        async def test_retries_are_quick(
            tahdah_client: TahdahClient, fake_tahdah: FakeTahdah
        ) -> None:
            fake_tahdah.faults.fail(503, times=2, operation="trust_groups.list")
            waits: list[float] = []
            heard = tahdah_client.with_options(on_retry=lambda event: waits.append(event.delay))

            assert await heard.trust_groups.list(fake_tahdah.owner_id) == []

            # The waits the client slept before each retry: the first backoff is 0.01 s and
            # doubles, jitter only shortens it, so both retries together wait at most 0.03 s.
            assert len(waits) == 2
            assert 0.0075 <= waits[0] <= 0.01
            assert 0.015 <= waits[1] <= 0.02
            assert [r.status for r in fake_tahdah.requests] == [503, 503, 200]
        """,
    )

    result.assert_outcomes(passed=3)


def test_a_failing_user_assertion_fails(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        async def test_wrong_name(tahdah_client, fake_tahdah):
            created = await tahdah_client.candidates.create(first_name="Ada", last_name="L")
            assert created.first_name == "Grace"


        async def test_wrong_request_count(tahdah_client, fake_tahdah):
            await tahdah_client.trust_groups.list(fake_tahdah.owner_id)
            assert len(fake_tahdah.requests) == 2


        async def test_right(tahdah_client, fake_tahdah):
            assert await tahdah_client.trust_groups.list(fake_tahdah.owner_id) == []
        """,
    )

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        ["*AssertionError: assert 'Ada' == 'Grace'*", "*assert 1 == 2*"], consecutive=False
    )


def test_an_error_from_the_api_fails_the_users_test(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        async def test_unknown_group(tahdah_client, fake_tahdah):
            await tahdah_client.trust_groups.update(fake_tahdah.owner_id, 999999, name="X")
        """,
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NotFoundError: 404*"])


def test_fake_tahdah_options_send_webhooks_to_the_users_receiver(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
        import pytest
        from aiohttp.test_utils import TestServer

        from tahdah_async.webhooks import WebhookRouter, create_webhook_app, verify_signature
        from tahdah_async.webhooks.events import CandidateCreated

        SECRET = "wh_users_own_secret"
        HEARD = []
        router = WebhookRouter()


        @router.on(CandidateCreated)
        async def on_created(event, delivery):
            HEARD.append((event.first_name, delivery.verb))


        @pytest.fixture
        async def receiver():
            async with TestServer(create_webhook_app(router, secrets=SECRET)) as server:
                yield server


        @pytest.fixture
        def fake_tahdah_options(receiver):
            return {
                "secret": SECRET,
                "webhook_urls": [receiver.make_url("/")],
                "webhook_backoff": 0.001,
            }


        async def test_the_receiver_hears_the_new_candidate(tahdah_client, fake_tahdah):
            await tahdah_client.candidates.create(first_name="Ada", last_name="Lovelace")
            await fake_tahdah.settle()

            assert HEARD == [("Ada", "candidates.created")]
            (delivery,) = fake_tahdah.deliveries
            assert [a.status for a in delivery.attempts] == [200]
            assert delivery.delivered
            assert verify_signature(delivery.body, delivery.signature, SECRET)
            assert not verify_signature(delivery.body, delivery.signature, "wh_fake_signing_secret")
        """,
    )

    result.assert_outcomes(passed=1)


def test_tahdah_webhook_in_a_users_tests(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from tahdah_async.webhooks import WebhookRouter, create_webhook_app

        SECRET = "wh_receiver_secret"
        PAYLOAD = {"id": 7, "firstName": "Grace", "lastName": "Hopper"}


        def make_app(heard):
            router = WebhookRouter()

            @router.on("candidates.created")
            async def on_created(event, delivery):
                heard.append(event.first_name)

            return create_webhook_app(router, secrets=SECRET)


        async def test_a_signed_delivery_is_processed(tahdah_webhook):
            heard = []
            reply = await tahdah_webhook(
                make_app(heard), "candidates.created", PAYLOAD, secret=SECRET
            )
            assert reply.status == 200
            assert reply.body == {"status": "processed", "handlers": 1}
            assert heard == ["Grace"]


        async def test_a_wrong_secret_is_refused(tahdah_webhook):
            heard = []
            reply = await tahdah_webhook(
                make_app(heard), "candidates.created", PAYLOAD, secret="wh_not_it"
            )
            assert reply.status == 401
            assert reply.body == {"status": "invalid_signature"}
            assert heard == []


        async def test_the_default_secret_is_not_the_receivers(tahdah_webhook):
            heard = []
            reply = await tahdah_webhook(make_app(heard), "candidates.created", PAYLOAD)
            assert reply.status == 401
            assert heard == []


        async def test_a_forged_signature_is_refused(tahdah_webhook):
            heard = []
            reply = await tahdah_webhook(
                make_app(heard), "candidates.created", PAYLOAD, signature="0" * 64
            )
            assert reply.status == 401
            assert heard == []
        """,
    )

    result.assert_outcomes(passed=4)


def test_a_failing_webhook_expectation_fails(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from tahdah_async.webhooks import WebhookRouter, create_webhook_app


        async def test_expects_the_wrong_status(tahdah_webhook):
            app = create_webhook_app(WebhookRouter(), secrets="wh_a")
            reply = await tahdah_webhook(app, "candidates.created", {"id": 1}, secret="wh_b")
            assert reply.status == 200
        """,
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 401 == 200*"])
