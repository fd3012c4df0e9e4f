"""The command's entry points, help, versions and exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tahdah_async import __version__
from tahdah_async.cli import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from tahdah_async.testing import FakeTahdah

from .helpers import WAIT, Cli, child_env, own_lines, spawn


def test_the_exit_codes_are_the_documented_ones() -> None:
    codes = (EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_UNREACHABLE, EXIT_INTERRUPTED)
    assert codes == (0, 1, 2, 3, 4, 130)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([str(Path(sys.executable).parent / "tahdah")], id="console-script"),
        pytest.param([sys.executable, "-m", "tahdah_async"], id="python-m"),
    ],
)
def test_the_installed_command_prints_its_version(command: list[str]) -> None:
    done = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, timeout=WAIT, env=child_env()
    )
    assert (done.returncode, done.stdout, own_lines(done.stderr)) == (
        0,
        f"tahdah, version {__version__}\n",
        [],
    )


@pytest.mark.parametrize(
    ("args", "usage", "summary"),
    [
        ([], "tahdah [OPTIONS] COMMAND", "Work with the Tahdah API from the command line"),
        (["demo"], "tahdah demo [OPTIONS]", "Run a whole integration offline"),
        (["fake-server"], "tahdah fake-server [OPTIONS]", "Serve a stateful fake Tahdah API"),
        (["webhooks"], "tahdah webhooks [OPTIONS] COMMAND", "Receive webhooks into an inbox"),
        (["webhooks", "listen"], "tahdah webhooks listen [OPTIONS]", "verify their signatures"),
        (["webhooks", "send"], "tahdah webhooks send [OPTIONS]", "Sign a JSON payload"),
        (
            ["webhooks", "serve"],
            "tahdah webhooks serve [OPTIONS] MODULE:ATTRIBUTE",
            "Receive webhooks into an inbox and run them",
        ),
        (["inbox"], "tahdah inbox [OPTIONS] COMMAND", "Work on a webhook inbox"),
        (
            ["inbox", "work"],
            "tahdah inbox work [OPTIONS] MODULE:ATTRIBUTE",
            "Run the inbox's deliveries",
        ),
        (["inbox", "stats"], "tahdah inbox stats [OPTIONS]", "Count the deliveries"),
        (["inbox", "list"], "tahdah inbox list [OPTIONS]", "List deliveries, oldest first"),
        (["inbox", "show"], "tahdah inbox show [OPTIONS] ID", "Print one delivery as JSON"),
        (["inbox", "replay"], "tahdah inbox replay [OPTIONS] [ID]...", "Run deliveries again"),
        (["inbox", "purge"], "tahdah inbox purge [OPTIONS]", "Delete done (or dead) deliveries"),
        (["call"], "tahdah call [OPTIONS] [OPERATION]", "Call any operation of the route table"),
        (
            ["import-learners"],
            "tahdah import-learners [OPTIONS] FILE",
            "Create the learners of a CSV file as candidates",
        ),
    ],
)
@pytest.mark.parametrize("flag", ["--help", "-h"])
async def test_help_of_every_command(
    cli: Cli, args: list[str], usage: str, summary: str, flag: str
) -> None:
    ran = await cli(*args, flag)

    assert ran.code == EXIT_OK
    assert ran.out.startswith(f"Usage: {usage}")
    assert summary in " ".join(ran.out.split())
    assert ran.err == ""


async def test_an_unknown_command_is_a_usage_error(cli: Cli) -> None:
    ran = await cli("bogus")

    assert ran.code == EXIT_USAGE
    assert "No such command 'bogus'" in ran.err
    assert ran.out == ""


async def test_an_unknown_option_is_a_usage_error(cli: Cli) -> None:
    ran = await cli("demo", "--frobnicate")

    assert ran.code == EXIT_USAGE
    assert "No such option '--frobnicate'" in ran.err


async def test_no_command_shows_the_commands(cli: Cli) -> None:
    ran = await cli()

    # click answers a bare group with its help, as a usage error (exit 2).
    assert ran.code == EXIT_USAGE
    listed = ran.out + ran.err
    for command in ("call", "demo", "fake-server", "import-learners", "inbox", "webhooks"):
        assert f"  {command} " in listed


@pytest.mark.parametrize(
    ("before", "after", "levels"),
    [
        ([], [], set()),
        (["-v"], [], {"INFO"}),
        ([], ["-v"], {"INFO"}),
        ([], ["-vv"], {"INFO", "DEBUG"}),
        (["-v"], ["--verbose"], {"INFO", "DEBUG"}),
    ],
    ids=["quiet", "before", "after", "twice-after", "before-and-after"],
)
async def test_verbosity_counts_before_and_after_the_command(
    fake_tahdah: FakeTahdah, before: list[str], after: list[str], levels: set[str]
) -> None:
    # One 503 makes a retry, which -v logs; -vv logs every attempt too.
    fake_tahdah.faults.fail(503, operation="trust_groups.list", retry_after=0)
    env = child_env(TAHDAH_TOKEN=fake_tahdah.token, TAHDAH_BASE_URL=fake_tahdah.url)
    param = f"legalEntityId={fake_tahdah.owner_id}"
    args = [*before, "call", *after, "trust_groups.list", "-p", param]
    async with spawn(*args, env=env) as child:
        code, out, err = await child.finish()

    assert code == EXIT_OK, err
    assert out == "[]\n"
    logged = own_lines(err)
    assert {line.split()[0] for line in logged} == levels
    if "INFO" in levels:
        assert any(line.startswith("INFO tahdah_async: retrying GET ") for line in logged)
    assert fake_tahdah.token not in err


async def test_every_command_takes_verbose_after_it(cli: Cli) -> None:
    for args in (["demo"], ["webhooks", "send"], ["inbox", "list"], ["import-learners"]):
        ran = await cli(*args, "-v", "--help")

        assert ran.code == EXIT_OK, (args, ran.err)
        assert "-v, --verbose" in ran.out
