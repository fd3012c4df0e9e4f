"""The package as a user gets it: built, installed in a fresh virtualenv, used from elsewhere.

Slow (a minute or two: two isolated builds and a virtualenv with every dependency), and marked
``slow`` so that it is easy to find (``-m slow``) or leave out (``-m 'not slow'``); the normal
suite runs it. ``python -m build`` makes the sdist and then the wheel from that sdist, so a file
the sdist leaves out breaks the wheel here. The only network is the package registry, reached
by pip for the build backend and the dependencies; everything else runs on loopback, and the
temporary directories are removed afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import tomllib
import zipfile
from collections.abc import Iterator
from email.message import Message
from email.parser import Parser
from pathlib import Path
from xml.etree import ElementTree

import attrs
import pytest

from tahdah_async import ROUTES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WAIT = 900.0
"""A guard against a hang only: pip may take minutes on a loaded machine and a slow index."""
LEFT_OUT = ("PYTHONPATH", "PYTHONHOME", "PYTHONWARNINGS", "VIRTUAL_ENV", "FORCE_COLOR", "COLUMNS")
"""Variables of this run that would reach into the fresh environment or change its output."""


@attrs.frozen
class Built:
    """The sdist and the wheel of one ``python -m build``."""

    sdist: Path
    wheel: Path


@attrs.frozen
class Installed:
    """A fresh virtualenv with the wheel installed, and a directory outside the repository."""

    venv: Path
    elsewhere: Path

    def bin(self, name: str) -> str:
        """The path of a program of the virtualenv."""
        return str(self.venv / "bin" / name)


def clean_env() -> dict[str, str]:
    """This run's environment, without what would reach into the fresh virtualenv."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in LEFT_OUT and not name.startswith("TAHDAH_")
    }
    env["NO_COLOR"] = "1"
    return env


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command to its end; return its stdout, failing the test with its output if not 0."""
    ran = subprocess.run(
        args,
        cwd=cwd,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert ran.returncode == 0, f"{args} exited {ran.returncode}:\n{ran.stdout}\n{ran.stderr}"
    return ran.stdout


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tahdah-packaging-") as name:
        yield Path(name)


@pytest.fixture(scope="module")
def built(workdir: Path) -> Built:
    if importlib.util.find_spec("build") is None:
        pytest.fail("`python -m build` is missing: install the dev extra (pip install -e '.[dev]')")
    dist = workdir / "dist"
    # The build runs with this run's environment (PYTHONPATH included: that is where `build`
    # may come from); its isolated build environment is fresh either way.
    build = (sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT))
    run(*build, cwd=workdir, env=dict(os.environ))
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="module")
def installed(workdir: Path, built: Built) -> Installed:
    venv = workdir / "venv"
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    run(sys.executable, "-m", "venv", str(venv), cwd=workdir)
    python = str(venv / "bin" / "python")
    run(python, "-m", "pip", "install", "--quiet", f"{built.wheel}[cli,testing]", cwd=workdir)
    return Installed(venv, elsewhere)


def wheel_metadata(wheel: Path) -> tuple[Message, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(metadata).decode()), names


# -- what the distributions hold ------------------------------------------------------------


def test_the_wheel_carries_the_license_and_the_metadata(built: Built) -> None:
    metadata, names = wheel_metadata(built.wheel)

    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    (license_file,) = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
    with zipfile.ZipFile(built.wheel) as archive:
        text = archive.read(license_file).decode()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 tahdah_async contributors\n")
    classifiers = metadata.get_all("Classifier") or []
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "asyncio" in metadata["Keywords"].split(",")
    assert "tahdah_async/cli/learners.csv" in names
    assert "tahdah_async/py.typed" in names
    assert {"cli", "testing"} <= set(metadata.get_all("Provides-Extra") or [])
    assert "pytest-asyncio>=1.0; extra == 'testing'" in (metadata.get_all("Requires-Dist") or [])


def test_the_long_description_starts_with_the_library_and_has_no_repository_links(
    built: Built,
) -> None:
    metadata, _ = wheel_metadata(built.wheel)
    description = metadata.get_payload()
    assert isinstance(description, str)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert metadata["Description-Content-Type"] == "text/markdown"
    assert description.startswith("# tahdah_async\n\n**tahdah_async** is an asyncio-native")
    assert "bash scripts/" not in description
    assert "<!--" not in description
    assert "\n## Development\n" not in description
    # Every link has a scheme; a README link into the repository keeps its text.
    assert re.findall(r"\]\((?!https?://)[^)]*\)", description) == []
    assert "[`examples/service.py`](examples/service.py)" in readme
    assert "`examples/service.py` is a runnable service" in description
    # The rest is the README's, section for section, with the install section first.
    headings = [line for line in description.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Install"
    assert headings == [
        line for line in readme.splitlines() if line.startswith("## ") and line != "## Development"
    ]


def test_the_sdist_holds_what_mypy_and_the_tests_read(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    files = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"][
        "files"
    ]

    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"} <= names
    assert [path for path in files if not any(n.startswith(f"{path}/") for n in names)] == []
    assert {"scripts/generate_fields.py", "scripts/generate_operations.py"} <= names
    assert "examples/data/learners.csv" in names
    assert not any(name.startswith((".venv/", ".git/", ".ci/")) for name in names)


# -- the installed wheel, used from outside the repository ------------------------------------


def test_the_installed_package_is_the_wheels(installed: Installed) -> None:
    out = run(
        installed.bin("python"),
        "-c",
        "import tahdah_async, tahdah_async.testing.plugin as plugin\n"
        "print(tahdah_async.__version__)\n"
        "print(tahdah_async.__file__)\n"
        "print(tahdah_async.TahdahClient.__name__)\n",
        cwd=installed.elsewhere,
    )
    version, location, client = out.splitlines()

    assert version == (ROOT / "tahdah_async" / "_version.py").read_text().split('"')[1]
    assert Path(location).is_relative_to(installed.venv)
    assert client == "TahdahClient"


def test_the_command_helps(installed: Installed) -> None:
    out = run(installed.bin("tahdah"), "--help", cwd=installed.elsewhere)

    assert out.startswith("Usage: tahdah ")
    for command in ("demo", "fake-server", "call", "import-learners", "webhooks"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), out


def test_the_installed_command_lists_every_operation(installed: Installed) -> None:
    out = run(installed.bin("tahdah"), "call", "--list", "--json", cwd=installed.elsewhere)
    listed = json.loads(out)

    assert len(listed) == len(ROUTES)
    assert json.dumps(listed).count("trust_groups.list") >= 1


def test_the_demo_runs_from_the_wheel(installed: Installed) -> None:
    out = run(installed.bin("tahdah"), "demo", cwd=installed.elsewhere)
    lines = [line.strip() for line in out.splitlines()]
    hooks = [line for line in lines if line.startswith("webhook ")]

    # The learners file comes from the wheel: the demo reads no file of the repository.
    assert "2. Learners from learners.csv, registered in batches" in lines
    assert "imported 12 learners, 0 failed" in lines
    assert hooks
    assert all(line.endswith("(signature verified)") for line in hooks)
    assert [line.split()[1] for line in hooks].count("candidates.created") == 12
    assert re.search(r"│ learners imported\s*│\s*12 of 12 │", out), out


def test_the_plugins_fixtures_run_in_a_users_project(installed: Installed) -> None:
    project = installed.elsewhere / "project"
    project.mkdir()
    (project / "pytest.ini").write_text(
        textwrap.dedent(
            """
            [pytest]
            asyncio_mode = auto
            asyncio_default_fixture_loop_scope = function
            filterwarnings = error
            """
        )
    )
    (project / "test_user.py").write_text(
        textwrap.dedent(
            """
            import sys
            from pathlib import Path

            import tahdah_async


            async def test_the_fake_and_the_client(fake_tahdah, tahdah_client):
                assert Path(tahdah_async.__file__).is_relative_to(sys.prefix)
                created = await tahdah_client.candidates.create(first_name="Ada", last_name="L")
                assert fake_tahdah.state.candidates[created.id].data["firstName"] == "Ada"
                assert [r.status for r in fake_tahdah.requests] == [201]
            """
        )
    )
    junit = project / "report.xml"

    run(
        installed.bin("python"),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        cwd=project,
    )

    cases = ElementTree.parse(junit).getroot().iter("testcase")
    # A passed case has no <failure>, <error> or <skipped> inside.
    assert {case.get("name"): [child.tag for child in case] for case in cases} == {
        "test_the_fake_and_the_client": []
    }
