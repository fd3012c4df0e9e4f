"""``tahdah call``: any operation of the route table, against the fake server."""

from __future__ import annotations

import json

import pytest

from tahdah_async._routes import ROUTE_MARKS, ROUTES
from tahdah_async.cli import EXIT_AUTH, EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from tahdah_async.testing import FakeTahdah
from tests.servers import refusing_port

from .helpers import Cli, child_env, own_lines, spawn


def api(fake: FakeTahdah, token: str | None = None) -> tuple[str, ...]:
    return ("--token", token or fake.token, "--base-url", fake.url)


async def test_call_creates_and_prints_the_json(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    owner = fake_tahdah.owner_id

    ran = await cli(
        "call",
        "trust_groups.create",
        "-p",
        f"legalEntityId={owner}",
        "--json",
        '{"name": "Regional Partners", "description": "north"}',
        *api(fake_tahdah),
    )

    assert ran.code == EXIT_OK, ran.err
    created = json.loads(ran.out)
    assert created["name"] == "Regional Partners"
    record = fake_tahdah.state.trust_groups[created["id"]]
    assert record.owner_id == owner
    assert record.data["name"] == "Regional Partners"
    assert record.data["description"] == "north"
    assert [(r.operation, r.method, r.status) for r in fake_tahdah.requests] == [
        ("trust_groups.create", "PUT", 201)
    ]


async def test_call_reads_the_token_and_base_url_from_the_environment(
    cli: Cli, fake_tahdah: FakeTahdah, monkeypatch: pytest.MonkeyPatch
) -> None:
    (group,) = fake_tahdah.seed(trust_groups=[{"name": "Seeded"}]).trust_groups
    monkeypatch.setenv("TAHDAH_TOKEN", fake_tahdah.token)
    monkeypatch.setenv("TAHDAH_BASE_URL", fake_tahdah.url)

    ran = await cli("call", "trust_groups.list", "--param", f"legalEntityId={fake_tahdah.owner_id}")

    assert ran.code == EXIT_OK, ran.err
    listed = json.loads(ran.out)
    assert [(item["id"], item["name"]) for item in listed] == [(group, "Seeded")]


async def test_call_puts_query_placeholders_in_the_query(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    (member, other) = fake_tahdah.seed(legal_entities=[{"name": "M"}, {"name": "O"}]).legal_entities
    groups = fake_tahdah.seed(
        trust_groups=[{"name": "G1", "members": [member]}, {"name": "G2", "members": [other]}]
    ).trust_groups

    ran = await cli(
        "call",
        "trust_groups.list_legal_entity_members",
        "-p",
        f"legalEntityId={fake_tahdah.owner_id}",
        "-p",
        f"trustGroupIds={groups[0]}",
        *api(fake_tahdah),
    )

    assert ran.code == EXIT_OK, ran.err
    members = json.loads(ran.out)
    assert [(m["trustGroupId"], m["legalEntityId"], m["name"]) for m in members] == [
        (groups[0], member, "M")
    ]


async def test_call_prints_nothing_for_an_empty_answer(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    (candidate,) = fake_tahdah.seed(candidates=[{"firstName": "Ada"}]).candidates

    ran = await cli(
        "call", "candidates.delete", "-p", f"candidateId={candidate}", *api(fake_tahdah)
    )

    assert (ran.code, ran.out, ran.err) == (EXIT_OK, "", "")
    assert candidate not in fake_tahdah.state.candidates
    assert [r.status for r in fake_tahdah.requests] == [204]


async def test_call_as_a_child_process_with_the_token_in_the_environment(
    fake_tahdah: FakeTahdah,
) -> None:
    env = child_env(TAHDAH_TOKEN=fake_tahdah.token, TAHDAH_BASE_URL=fake_tahdah.url)
    async with spawn(
        "call",
        "legal_entities.create",
        "-p",
        f"legalEntityOwnerId={fake_tahdah.owner_id}",
        "--json",
        '{"name": "Harbour Care Ltd"}',
        env=env,
    ) as child:
        code, out, err = await child.finish()

    assert (code, own_lines(err)) == (EXIT_OK, [])
    created = json.loads(out)  # this operation answers the new id alone
    assert isinstance(created, int)
    assert fake_tahdah.state.legal_entities[created].data["name"] == "Harbour Care Ltd"
    assert fake_tahdah.state.legal_entities[created].owner_id == fake_tahdah.owner_id


async def test_an_unknown_operation_lists_the_operations(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    ran = await cli("call", "trust_groups.lst", *api(fake_tahdah))

    assert ran.code == EXIT_USAGE
    assert "unknown operation 'trust_groups.lst'; did you mean trust_groups.list" in ran.err
    assert "trust_groups.list," in ran.err
    assert fake_tahdah.requests == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([], "missing --param legalEntityId=... for GET /api/trustgroups/legalentities/"),
        (
            ["legalEntityId=1001", "trustGroupId=5"],
            "'trustGroupId' is not a placeholder of GET /api/trustgroups/legalentities/"
            "{legalEntityId}/trustgroups; it has: legalEntityId",
        ),
        (["legalEntityId"], "--param wants NAME=VALUE, got 'legalEntityId'"),
        (["=1001"], "--param wants NAME=VALUE, got '=1001'"),
        (["legalEntityId="], "legalEntityId must not be empty"),
        (["legalEntityId=.."], "legalEntityId must not be '..'"),
    ],
    ids=["missing", "unknown", "no-equals", "no-name", "empty", "dot-segment"],
)
async def test_bad_params_are_usage_errors(
    cli: Cli, fake_tahdah: FakeTahdah, params: list[str], message: str
) -> None:
    options = [option for param in params for option in ("-p", param)]

    ran = await cli("call", "trust_groups.list", *options, *api(fake_tahdah))

    assert ran.code == EXIT_USAGE
    assert message in " ".join(ran.err.split())
    assert fake_tahdah.requests == []


async def test_bad_json_is_a_usage_error(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    ran = await cli(
        "call",
        "trust_groups.create",
        "-p",
        f"legalEntityId={fake_tahdah.owner_id}",
        "--json",
        "{name: 'x'}",
        *api(fake_tahdah),
    )

    assert ran.code == EXIT_USAGE
    assert "--json is not valid JSON: Expecting property name" in ran.err
    assert fake_tahdah.requests == []


async def test_no_token_is_a_usage_error_naming_the_variable(
    cli: Cli, fake_tahdah: FakeTahdah
) -> None:
    ran = await cli("call", "trust_groups.list", "-p", "legalEntityId=1001")

    assert ran.code == EXIT_USAGE
    assert (
        "Missing option '--token'. Give --token or set the TAHDAH_TOKEN environment variable."
        in " ".join(ran.err.split())
    )
    assert fake_tahdah.requests == []


@pytest.mark.parametrize("where", ["option", "environment"])
async def test_a_token_that_cannot_be_sent_is_a_usage_error_that_does_not_show_it(
    cli: Cli, fake_tahdah: FakeTahdah, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    token = "tk with\x1b[31m spaces"
    option = ["--token", token] if where == "option" else []
    if where == "environment":
        monkeypatch.setenv("TAHDAH_TOKEN", token)

    ran = await cli("call", "trust_groups.list", "-p", "legalEntityId=1001", *option)

    assert ran.code == EXIT_USAGE
    assert "Invalid value for '--token': it must be a non-empty string of visible ASCII" in (
        " ".join(ran.err.split())
    )
    assert "spaces" not in ran.err
    assert "Traceback" not in ran.err
    assert fake_tahdah.requests == []


async def test_no_operation_is_a_usage_error_pointing_at_the_list(cli: Cli) -> None:
    ran = await cli("call", "--token", "tk_unused")

    assert ran.code == EXIT_USAGE
    assert "Missing argument 'OPERATION'. Name one, or see them with --list." in ran.err
    assert ran.out == ""


# -- the list of operations ----------------------------------------------------------------


async def test_list_prints_every_operation_with_its_method_path_and_mark(cli: Cli) -> None:
    ran = await cli("call", "--list")  # no token needed

    assert (ran.code, ran.err) == (EXIT_OK, "")
    header, *lines = ran.out.splitlines()
    assert header.split() == ["operation", "method", "path", "mark"]
    rows = [line.split(maxsplit=3) for line in lines]
    assert [row[0] for row in rows] == list(ROUTES)
    for name, method, path, mark in rows:
        route = ROUTES[name]
        assert (method, path, mark) == (
            route.method,
            str(route).split(" ", 1)[1],
            ROUTE_MARKS[name],
        )
    assert rows[3][:2] == ["trust_groups.list_legal_entity_members", "GET"]
    assert rows[3][2].endswith("/legalentities?trustGroupIds={trustGroupIds}")
    assert rows[3][3] == "D (query name P)"


async def test_list_as_json_is_the_route_table(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    ran = await cli("call", "--list", "--json")

    assert (ran.code, ran.err) == (EXIT_OK, "")
    listed = json.loads(ran.out)
    assert [item["operation"] for item in listed] == list(ROUTES)
    assert listed[0] == {
        "operation": "trust_groups.list",
        "method": "GET",
        "path": "/api/trustgroups/legalentities/{legalEntityId}/trustgroups",
        "mark": "method D, path P",
    }
    assert {item["operation"]: item["mark"] for item in listed} == dict(ROUTE_MARKS)
    assert fake_tahdah.requests == []


# -- --json for scripts --------------------------------------------------------------------


async def test_a_bare_json_flag_prints_null_for_an_empty_answer(
    cli: Cli, fake_tahdah: FakeTahdah
) -> None:
    (candidate,) = fake_tahdah.seed(candidates=[{"firstName": "Ada"}]).candidates

    ran = await cli(
        "call", "candidates.delete", "-p", f"candidateId={candidate}", "--json", *api(fake_tahdah)
    )

    assert (ran.code, ran.err) == (EXIT_OK, "")
    assert json.loads(ran.out) is None
    assert candidate not in fake_tahdah.state.candidates


async def test_a_bare_json_flag_prints_the_decoded_result_alone(
    cli: Cli, fake_tahdah: FakeTahdah
) -> None:
    (group,) = fake_tahdah.seed(trust_groups=[{"name": "Seeded"}]).trust_groups

    ran = await cli(
        "call",
        "trust_groups.list",
        "--json",
        "-p",
        f"legalEntityId={fake_tahdah.owner_id}",
        *api(fake_tahdah),
    )

    assert (ran.code, ran.err) == (EXIT_OK, "")
    assert [(item["id"], item["name"]) for item in json.loads(ran.out)] == [(group, "Seeded")]
    assert [r.method for r in fake_tahdah.requests] == ["GET"]  # no body was taken from it


async def test_the_result_is_printed_exactly_not_rendered(
    cli: Cli, fake_tahdah: FakeTahdah
) -> None:
    # Emoji codes and markup are the API's data, not something to draw.
    description = ":thumbs_up: [bold]north[/bold]"
    ran = await cli(
        "call",
        "trust_groups.create",
        "-p",
        f"legalEntityId={fake_tahdah.owner_id}",
        "--json",
        json.dumps({"name": "Nord", "description": description}),
        *api(fake_tahdah),
    )

    assert ran.code == EXIT_OK, ran.err
    assert json.loads(ran.out)["description"] == description


async def test_a_refused_token_exits_3(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    ran = await cli(
        "call",
        "trust_groups.list",
        "-p",
        f"legalEntityId={fake_tahdah.owner_id}",
        *api(fake_tahdah, token="fake_not-a-key"),
    )

    assert ran.code == EXIT_AUTH
    assert ran.out == ""
    assert ran.err.startswith("error: 401 Unauthorized for GET /api/trustgroups/legalentities/")
    assert [r.status for r in fake_tahdah.requests] == [401]


async def test_a_forbidden_legal_entity_exits_3(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    (member,) = fake_tahdah.seed(legal_entities=[{"name": "Member"}]).legal_entities
    # A member's key may not act for the provider that owns the member.
    token = fake_tahdah.issue_token(member)

    ran = await cli(
        "call",
        "trust_groups.list",
        "-p",
        f"legalEntityId={fake_tahdah.owner_id}",
        *api(fake_tahdah, token=token),
    )

    assert ran.code == EXIT_AUTH
    assert ran.err.startswith("error: 403 Forbidden for GET ")
    assert [r.status for r in fake_tahdah.requests] == [403]


async def test_an_unreachable_api_exits_4(cli: Cli) -> None:
    with refusing_port() as port:
        ran = await cli(
            "call",
            "trust_groups.list",
            "-p",
            "legalEntityId=1001",
            "--token",
            "tk_unused",
            "--base-url",
            f"http://127.0.0.1:{port}",
        )

    assert ran.code == EXIT_UNREACHABLE
    assert ran.out == ""
    assert "error: could not connect for GET /api/trustgroups/legalentities/1001/trustgroups" in (
        ran.err
    )


async def test_an_api_error_exits_1_with_the_problem_and_never_the_token(
    cli: Cli, fake_tahdah: FakeTahdah
) -> None:
    ran = await cli(
        "call",
        "legal_entities.get",
        "-p",
        f"legalEntityOwnerId={fake_tahdah.owner_id}",
        "-p",
        "legalEntityId=999",
        *api(fake_tahdah),
    )

    assert ran.code == EXIT_FAILED
    assert ran.out == ""
    assert ran.err.startswith(
        f"error: 404 Not Found for GET /api/legalentities/{fake_tahdah.owner_id}"
        "/legalentities/999: Not Found — No legal entity with id 999 (request id 00-"
    )
    assert fake_tahdah.token not in ran.out + ran.err


async def test_an_injected_server_error_exits_1(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    fake_tahdah.faults.fail(422, operation="trust_groups.create")

    ran = await cli(
        "call",
        "trust_groups.create",
        "-p",
        f"legalEntityId={fake_tahdah.owner_id}",
        "--json",
        '{"name": "G"}',
        *api(fake_tahdah),
    )

    assert ran.code == EXIT_FAILED
    assert ran.err.startswith("error: 422 Unprocessable Entity for PUT ")
    assert "Injected fault" in ran.err
    assert fake_tahdah.state.trust_groups == {}


async def test_a_malformed_base_url_is_a_usage_error(cli: Cli) -> None:
    ran = await cli(
        "call", "trust_groups.list", "-p", "legalEntityId=1001", "--token", "t", "--base-url", "api"
    )

    assert ran.code == EXIT_USAGE
    assert "'api' is not an absolute http(s) URL" in ran.err


async def test_call_escapes_what_a_terminal_would_act_on(cli: Cli, fake_tahdah: FakeTahdah) -> None:
    # The API's text reaches the terminal: a C1 CSI (U+009B) or a bidi override must arrive
    # escaped, while ordinary non-ASCII text stays as it is.
    description = "café \x9b2J\u202e"
    ran = await cli(
        "call",
        "trust_groups.create",
        "-p",
        f"legalEntityId={fake_tahdah.owner_id}",
        "--json",
        json.dumps({"name": "Nord", "description": description}),
        *api(fake_tahdah),
    )

    assert ran.code == EXIT_OK, ran.err
    assert all(c == "\n" or c.isprintable() for c in ran.out)
    assert '"description": "café \\u009b2J\\u202e"' in ran.out
    assert json.loads(ran.out)["description"] == description
