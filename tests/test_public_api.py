"""The public surface: one curated ``__all__``, complete and sorted."""

from __future__ import annotations

import ast
import importlib.resources
import inspect
import subprocess
import sys
import types

import pytest

import tahdah_async
import tahdah_async.batch
import tahdah_async.models
import tahdah_async.testing
import tahdah_async.webhooks


def test_all_is_sorted_and_unique() -> None:
    names = tahdah_async.__all__
    assert len(names) == len(set(names))

    # isort style: CONSTANTS, then Classes, then functions and dunders.
    def key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=key)


def _public(module: types.ModuleType) -> set[str]:
    """The public names a module defines or imports at run time (not submodules), those it
    imports on first use (a ``_LAZY`` table) included."""
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(obj)
    } | set(getattr(module, "_LAZY", {}))


def test_every_public_name_is_exported() -> None:
    # Compared as sets, so a name missing on either side fails: the lazy table, the names
    # loaded eagerly, and ``__all__`` are one list. ``vars`` also holds lazy names that an
    # earlier test already loaded; they are in the lazy table too.
    lazy = set(tahdah_async._LAZY)
    assert lazy | _public(tahdah_async) | {"__version__"} == set(tahdah_async.__all__)
    assert {name for name in tahdah_async.__all__ if not hasattr(tahdah_async, name)} == set()


def test_the_type_checkers_see_exactly_the_lazy_names() -> None:
    # What ``if TYPE_CHECKING:`` imports is what mypy and pyright offer; it must be what
    # ``__getattr__`` serves at run time, no more and no less.
    tree = ast.parse(inspect.getsource(tahdah_async))
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
    ]
    typed = {
        alias.asname or alias.name
        for node in ast.walk(block)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == set(tahdah_async._LAZY)


@pytest.mark.parametrize(
    "module",
    [tahdah_async.models, tahdah_async.webhooks, tahdah_async.testing, tahdah_async.batch],
    ids=lambda module: module.__name__,
)
def test_each_public_package_exports_what_it_defines(module: types.ModuleType) -> None:
    assert _public(module) == set(module.__all__)


def test_every_model_is_exported_from_the_top() -> None:
    assert set(tahdah_async.models.__all__) <= set(tahdah_async.__all__)


def test_the_package_is_typed() -> None:
    assert importlib.resources.files("tahdah_async").joinpath("py.typed").is_file()


def test_version() -> None:
    assert tahdah_async.__version__.count(".") == 2


def test_importing_the_package_loads_the_client_only_when_used() -> None:
    # A fresh interpreter: this one has long imported everything.
    code = (
        "import sys, tahdah_async\n"
        "print('tahdah_async._client' in sys.modules)\n"
        "from tahdah_async import TahdahClient\n"
        "print('tahdah_async._client' in sys.modules, TahdahClient.__name__)\n"
        "print('TahdahClient' in dir(tahdah_async))\n"
        "try:\n"
        "    tahdah_async.NoSuchThing\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout.splitlines() == [
        "False",
        "True TahdahClient",
        "True",
        "module 'tahdah_async' has no attribute 'NoSuchThing'",
    ]
