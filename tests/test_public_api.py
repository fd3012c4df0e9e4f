"""The public surface: one curated ``__all__``, complete and sorted."""

from __future__ import annotations

import importlib.resources
import inspect
import subprocess
import sys

import tahdah_async
import tahdah_async.models


def test_all_is_sorted_and_unique() -> None:
    names = tahdah_async.__all__
    assert len(names) == len(set(names))

    # isort style: CONSTANTS, then Classes, then functions and dunders.
    def key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=key)


def test_every_public_name_is_exported() -> None:
    exported = set(tahdah_async.__all__)
    public = {
        name
        for name, obj in vars(tahdah_async).items()
        if not name.startswith("_") and not inspect.ismodule(obj)
    }
    assert public - exported == set()
    assert {n for n in exported if not hasattr(tahdah_async, n)} == set()


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
