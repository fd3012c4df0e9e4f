"""Every Python block of the README runs, so that none of them can rot.

Each block is preceded by ``<!-- test: KIND -->``, which says how it runs:

- ``script``: a whole program, run in its own process with ``TAHDAH_BASE_URL`` pointing at a
  fake server that knows the README's ids (legal entity 1001, learning experience 42,
  candidate 212233) and accepts the README's ``"your-api-key"``;
- ``client``: statements run with ``tahdah`` (a client of that fake), ``token``,
  ``provider_id``, ``experience_id`` and ``metrics`` (a recorder) at hand, in a folder
  holding ``learners.csv``;
- ``receiver``: a web application built and handed to ``web.run_app`` (which records it);
- ``app``: statements mounting into ``app``, with a ``router`` at hand;
- ``async``: self-contained statements;
- ``pytest``: a test module, run by pytest with the installed plugin.

Top-level ``await`` works in every kind but ``script``, and any ``test_*`` coroutine function a
block defines is awaited after it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tahdah_async import TahdahClient
from tahdah_async.testing import FakeTahdah
from tahdah_async.testing._state import CandidateRecord, Experience
from tahdah_async.webhooks import WebhookRouter
from tests import modules

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_TOKEN = "your-api-key"
PROVIDER = 1001
EXPERIENCE = 42
CANDIDATE = 212233

_BLOCK = re.compile(r"(?:<!-- test: (?P<kind>[a-z]+) -->\n)?```python\n(?P<code>.*?)```", re.S)


def blocks() -> list[tuple[int, str | None, str]]:
    text = README.read_text()
    return [
        (text[: m.start()].count("\n") + 1, m.group("kind"), m.group("code"))
        for m in _BLOCK.finditer(text)
    ]


def test_the_readme_has_blocks_and_every_one_says_how_it_runs() -> None:
    found = blocks()
    assert len(found) >= 10
    assert [line for line, kind, _ in found if kind is None] == []


class Recorder:
    """Stands in for the user's metrics client."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def observe(self, *values: Any) -> None:
        self.seen.append(values)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTahdah]:
    async with FakeTahdah() as server:
        assert server.owner_id == PROVIDER  # a fresh fake's provider is the README's
        state = server.state
        state.tokens[README_TOKEN] = PROVIDER
        state.experiences[EXPERIENCE] = Experience(
            id=EXPERIENCE, legal_entity_id=PROVIDER, data={"name": "First aid at work"}
        )
        state.candidates[CANDIDATE] = CandidateRecord(
            id=CANDIDATE,
            legal_entity_id=PROVIDER,
            data={"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"},
        )
        yield server


async def run_statements(code: str, names: dict[str, Any]) -> dict[str, Any]:
    """Run ``code`` as the body of a coroutine, then await the ``test_*`` it defines."""
    source = "async def __block__():\n" + textwrap.indent(code, "    ") + "\n    return locals()\n"
    namespace = dict(names)
    exec(compile(source, "README.md", "exec"), namespace)
    defined: dict[str, Any] = await namespace["__block__"]()
    for name, value in defined.items():
        if name.startswith("test_") and asyncio.iscoroutinefunction(value):
            await value()
    return defined


@pytest.mark.parametrize(
    ("line", "kind", "code"), blocks(), ids=[f"line-{line}" for line, _, _ in blocks()]
)
async def test_the_block_runs(
    line: int,
    kind: str,
    code: str,
    fake: FakeTahdah,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    if kind == "script":
        await run_script(code, fake, tmp_path)
    elif kind == "client":
        shutil.copy(ROOT / "examples" / "data" / "learners.csv", tmp_path / "learners.csv")
        async with TahdahClient(fake.token, base_url=fake.url) as tahdah:
            names = {
                "tahdah": tahdah,
                "token": fake.token,
                "provider_id": PROVIDER,
                "experience_id": EXPERIENCE,
                "metrics": Recorder(),
            }
            await run_statements(code, names)
    elif kind == "receiver":
        served: list[web.Application] = []
        monkeypatch.setattr(web, "run_app", lambda app, **_: served.append(app))
        await run_statements(code, {})
        assert len(served) == 1
    elif kind == "app":
        app = web.Application()
        await run_statements(code, {"app": app, "router": WebhookRouter()})
        assert app._subapps
    elif kind == "async":
        await run_statements(code, {})
    elif kind == "pytest":
        await run_pytest(code, tmp_path)
    else:
        pytest.fail(f"README.md:{line}: unknown block kind {kind!r}")


async def run_script(code: str, fake: FakeTahdah, folder: Path) -> None:
    script = folder / "script.py"
    script.write_text(code)
    env = {**os.environ, "TAHDAH_BASE_URL": fake.url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env=env,
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    assert out  # the programs print what they did


async def run_pytest(code: str, folder: Path) -> None:
    (folder / "test_block.py").write_text(code)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "test_block.py",
        cwd=folder,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, out.decode()
    assert b" passed" in out


def test_every_docs_page_takes_an_existing_readme_section() -> None:
    hook: Any = modules.load(Path("scripts") / "mkdocs_readme.py", "mkdocs_readme")
    pages = sorted((ROOT / "docs").rglob("*.md"))
    assert pages
    titles = [m.group("title") for page in pages for m in hook._MARKER.finditer(page.read_text())]
    assert len(titles) >= 10
    for title in titles:
        text = hook.section(title)
        assert text.strip()
        assert "](examples/" not in text  # repository links become code on the site
        assert "<!-- test:" not in text
