"""Shell completion: click's own, with the operation names of ``tahdah call`` completed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from tahdah_async._routes import ROUTES
from tahdah_async.cli import EXIT_OK
from tahdah_async.cli._commands import call, complete_operation

from .helpers import WAIT, Cli, child_env, own_lines

COMPLETE_VAR = "_TAHDAH_COMPLETE"
TAHDAH = Path(sys.executable).parent / "tahdah"


def operation_param() -> click.Parameter:
    return next(param for param in call.params if param.name == "operation")


def test_the_completion_function_offers_the_operations_that_start_so() -> None:
    ctx = click.Context(call, info_name="call")

    found = complete_operation(ctx, operation_param(), "trust_groups.list")

    assert [item.value for item in found] == [
        "trust_groups.list",
        "trust_groups.list_legal_entity_members",
        "trust_groups.list_candidate_members",
    ]
    assert found[0].help == "GET /api/trustgroups/legalentities/{legalEntityId}/trustgroups"
    assert {item.type for item in found} == {"plain"}


def test_the_completion_function_offers_every_operation_or_none() -> None:
    ctx = click.Context(call, info_name="call")

    everything = complete_operation(ctx, operation_param(), "")
    nothing = complete_operation(ctx, operation_param(), "nosuch")

    assert [item.value for item in everything] == list(ROUTES)
    assert nothing == []


def test_the_operation_argument_completes_with_that_function() -> None:
    ctx = click.Context(call, info_name="call")

    found = operation_param().shell_complete(ctx, "candidates.up")

    assert [item.value for item in found] == ["candidates.update", "candidates.update_tags"]


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("tahdah call candidates.d", "2", ["plain,candidates.delete"]),
        ("tahdah -v call pathways.get", "3", ["plain,pathways.get"]),
        ("tahdah ca", "1", ["plain,call"]),
        ("tahdah call trust_groups.list -p legalEntityId=1 legal", "5", []),
    ],
    ids=["operation", "after-verbose", "command", "second-argument"],
)
async def test_bash_completion_through_the_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, words: str, cword: str, expected: list[str]
) -> None:
    monkeypatch.setenv(COMPLETE_VAR, "bash_complete")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", cword)

    ran = await cli()

    assert (ran.code, ran.err) == (EXIT_OK, "")
    assert ran.out.split() == expected


async def test_zsh_completion_shows_each_operations_route(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(COMPLETE_VAR, "zsh_complete")
    monkeypatch.setenv("COMP_WORDS", "tahdah call legal_entities.get")
    monkeypatch.setenv("COMP_CWORD", "2")

    ran = await cli()

    assert ran.code == EXIT_OK
    assert ran.out.splitlines() == [
        "plain",
        "legal_entities.get",
        "GET /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}",
    ]


async def test_fish_completion_shows_each_operations_route(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(COMPLETE_VAR, "fish_complete")
    monkeypatch.setenv("COMP_WORDS", "tahdah call candidates.cr")
    monkeypatch.setenv("COMP_CWORD", "candidates.cr")

    ran = await cli()

    assert ran.code == EXIT_OK
    assert ran.out.splitlines() == ["plain,candidates.create\tPOST /api/candidates"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_installed_command_prints_its_completion_script(shell: str) -> None:
    # What the README tells users to put in their shell's startup file.
    done = subprocess.run(
        [str(TAHDAH)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=child_env(**{COMPLETE_VAR: f"{shell}_source"}),
    )

    assert (done.returncode, own_lines(done.stderr)) == (0, [])
    assert f"{COMPLETE_VAR}={shell}_complete" in done.stdout
    assert "tahdah" in done.stdout
