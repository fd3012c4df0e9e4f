"""Configuration from the environment (``TAHDAH_TOKEN``, ``TAHDAH_BASE_URL``), and connection
errors that name the host and port they tried."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from yarl import URL

from tahdah_async import DEFAULT_BASE_URL, APIConnectionError, APITimeoutError, TahdahClient
from tahdah_async._transport import _connection_error, host_port
from tahdah_async.testing import MockRequest, MockResponse, MockTransport
from tests.conftest import TOKEN
from tests.servers import no_wait, refusing_port

ENV_URL = "http://127.0.0.1:8080/tahdah"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Each test starts with neither variable set, whatever the machine has."""
    monkeypatch.delenv("TAHDAH_TOKEN", raising=False)
    monkeypatch.delenv("TAHDAH_BASE_URL", raising=False)
    return monkeypatch


class Seen:
    """A MockTransport handler that records the requests and answers ``[]``."""

    def __init__(self) -> None:
        self.requests: list[MockRequest] = []

    def __call__(self, request: MockRequest) -> MockResponse:
        self.requests.append(request)
        return MockResponse(200, json=[])


async def first_request(**arguments: Any) -> tuple[TahdahClient, MockRequest]:
    """Make a client with ``arguments``, make one call, return the client and the request."""
    seen = Seen()
    async with TahdahClient(transport=MockTransport(seen), **arguments) as client:
        await client.trust_groups.list(1)
    (request,) = seen.requests
    return client, request


# -- the token ---------------------------------------------------------------------------------


async def test_the_token_comes_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TAHDAH_TOKEN", TOKEN)
    client, request = await first_request()
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert str(client.base_url) == DEFAULT_BASE_URL
    assert TOKEN not in repr(client)


async def test_an_explicit_token_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TAHDAH_TOKEN", "tk_from_the_environment")
    _, request = await first_request(token=TOKEN)
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_a_missing_token_names_the_variable(
    clean_env: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        clean_env.setenv("TAHDAH_TOKEN", value)
    with pytest.raises(ValueError, match="TAHDAH_TOKEN") as caught:
        TahdahClient()
    assert "no API token" in str(caught.value)


@pytest.mark.parametrize("value", [f"{TOKEN}\n", f" {TOKEN}", "tk live", "tökén_s3cr3t"])
def test_a_malformed_token_in_the_environment_names_the_variable_not_the_value(
    clean_env: pytest.MonkeyPatch, value: str
) -> None:
    clean_env.setenv("TAHDAH_TOKEN", value)
    with pytest.raises(ValueError, match="TAHDAH_TOKEN") as caught:
        TahdahClient()
    message = str(caught.value)
    assert value.strip() not in message
    assert "s3cr3t" not in message


def test_an_explicit_token_of_the_wrong_type_is_refused_even_with_the_variable_set(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("TAHDAH_TOKEN", TOKEN)
    with pytest.raises(TypeError, match="token"):
        TahdahClient(None)  # type: ignore[arg-type]


def test_the_environment_is_read_when_the_client_is_made(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TAHDAH_TOKEN", TOKEN)
    clean_env.setenv("TAHDAH_BASE_URL", ENV_URL)
    client = TahdahClient(transport=MockTransport(Seen()))
    clean_env.setenv("TAHDAH_BASE_URL", "https://changed.example")
    assert client.base_url == URL(ENV_URL)


# -- the base URL ------------------------------------------------------------------------------


async def test_the_base_url_comes_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TAHDAH_BASE_URL", ENV_URL)
    client, request = await first_request(token=TOKEN)
    assert client.base_url == URL(ENV_URL)
    assert request.url == URL(f"{ENV_URL}/api/trustgroups/legalentities/1/trustgroups")


async def test_an_explicit_base_url_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TAHDAH_TOKEN", TOKEN)
    clean_env.setenv("TAHDAH_BASE_URL", ENV_URL)
    client, request = await first_request(token="tk_explicit", base_url="https://other.test")
    assert client.base_url == URL("https://other.test")
    assert request.url.host == "other.test"
    assert request.headers["Authorization"] == "Bearer tk_explicit"


async def test_an_empty_base_url_variable_means_the_default(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("TAHDAH_BASE_URL", "")
    client, _ = await first_request(token=TOKEN)
    assert str(client.base_url) == DEFAULT_BASE_URL


@pytest.mark.parametrize(
    "value", ["api.tahdah.me", "ftp://api.tahdah.me", "https://user:pw@api.tahdah.me"]
)
def test_a_malformed_base_url_variable_names_the_variable(
    clean_env: pytest.MonkeyPatch, value: str
) -> None:
    clean_env.setenv("TAHDAH_BASE_URL", value)
    with pytest.raises(ValueError, match="TAHDAH_BASE_URL") as caught:
        TahdahClient(TOKEN)
    assert "pw@" not in str(caught.value)


# -- connection errors name the host and port --------------------------------------------------


async def test_a_refused_connection_names_the_host_and_port(
    clean_env: pytest.MonkeyPatch,
) -> None:
    with refusing_port() as port:
        clean_env.setenv("TAHDAH_TOKEN", TOKEN)
        clean_env.setenv("TAHDAH_BASE_URL", f"http://127.0.0.1:{port}")
        async with TahdahClient(retry=no_wait(), max_retries=0) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.request("GET", "/api/things", params={"filter": "qs-secret"})
    error = caught.value
    assert error.request_sent is False
    message = str(error)
    assert message.startswith(f"could not connect for GET /api/things to 127.0.0.1:{port}: ")
    assert "qs-secret" not in message
    assert "?" not in message
    assert TOKEN not in message
    assert TOKEN not in repr(error)


def test_a_connect_timeout_names_the_host_and_port_but_not_the_query() -> None:
    url = URL("https://api.tahdah.test/api/things?filter=qs-secret")
    error = _connection_error(aiohttp.ConnectionTimeoutError(), "GET", url)
    assert isinstance(error, APITimeoutError)
    assert error.request_sent is False
    assert str(error) == "connect timeout for GET /api/things to api.tahdah.test:443"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.tahdah.me/api", "api.tahdah.me:443"),
        ("http://api.tahdah.me/api", "api.tahdah.me:80"),
        ("http://127.0.0.1:8443/api?token=x", "127.0.0.1:8443"),
        ("http://[::1]:8443/api", "[::1]:8443"),
    ],
)
def test_host_port(url: str, shown: str) -> None:
    assert host_port(URL(url)) == shown
