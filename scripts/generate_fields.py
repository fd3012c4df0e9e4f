"""Write tahdah_async/models/_fields.py: a TypedDict of keyword fields per body model.

    python scripts/generate_fields.py          # rewrite the file
    python scripts/generate_fields.py --check  # exit 1 if it is out of date

The models are the one place fields are declared; the TypedDicts are generated from them so
that ``create(**fields)`` calls are checked by type checkers and completed by editors, and a
test fails when a model changes without the file being regenerated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import types
import typing
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tahdah_async import models  # noqa: E402
from tahdah_async._types import UnsetType  # noqa: E402

TARGET = ROOT / "tahdah_async" / "models" / "_fields.py"

# The models a resource method takes as keyword fields, and the calls that do.
BODIES: dict[type[models.Model], str] = {
    models.BadgeRecipient: "``digital_badges.issue``",
    models.Candidate: "``candidates.create`` and ``candidates.update``",
    models.LegalEntity: "``legal_entities.create``",
    models.Person: "``legal_entities.connect_person``",
    models.TrustGroup: "``trust_groups.create`` and ``trust_groups.update``",
}
# Fields a call's own parameter of the same name takes: as keywords they would be that
# parameter, so they are set with the model or mapping form instead.
SHADOWED: dict[type[models.Model], frozenset[str]] = {
    models.Person: frozenset({"legal_entity_id"}),
}

HEADER = '''"""Keyword fields of the body models, for ``**fields`` in resource methods.

Generated from the models by ``scripts/generate_fields.py``: do not edit by hand. Every field
is optional; ``None`` is sent as JSON ``null``; values must already be of the field's type
(they are checked, never converted, before anything is sent).
"""

from __future__ import annotations

{imports}

__all__ = [
{names}
]
'''


def annotation(tp: Any, imports: set[str]) -> str:
    """The source text of a field type as a keyword accepts it; what it needs goes into
    ``imports``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(tp) if arm is not UnsetType]
        return " | ".join(annotation(arm, imports) for arm in arms)
    if tp is type(None):
        return "None"
    if tp in (int, str, float, bool):
        return str(tp.__name__)
    if tp in (dt.date, dt.datetime):
        imports.add("import datetime as dt")
        return f"dt.{tp.__name__}"
    if typing.get_origin(tp) in (tuple, list):
        imports.add("from collections.abc import Sequence")
        return f"Sequence[{annotation(typing.get_args(tp)[0], imports)}]"
    if isinstance(tp, type) and issubclass(tp, models.Model):
        module = tp.__module__.rpartition(".")[2]
        imports.add(f"from .{module} import {tp.__name__}")
        imports.update({"from collections.abc import Mapping", "from typing import Any"})
        return f"{tp.__name__} | Mapping[str, Any]"
    raise TypeError(f"no keyword annotation for {tp!r}")


def _imports(lines: set[str]) -> str:
    """Import lines grouped as isort groups them: standard library, then the package."""
    merged: dict[str, set[str]] = {}
    plain = set()
    for line in lines:
        if line.startswith("from "):
            module, _, name = line[5:].partition(" import ")
            merged.setdefault(module, set()).add(name)
        else:
            plain.add(line)
    merged.setdefault("typing", set()).add("TypedDict")
    names = {module: ", ".join(sorted(found)) for module, found in merged.items()}
    std = sorted(plain) + [f"from {m} import {names[m]}" for m in sorted(names) if m[0] != "."]
    local = [f"from {m} import {names[m]}" for m in sorted(names) if m[0] == "."]
    return "\n".join(std) + ("\n\n" + "\n".join(local) if local else "")


def render() -> str:
    """The whole generated module."""
    names = sorted(f"{model.__name__}Fields" for model in BODIES)
    imports: set[str] = set()
    out = []
    for model, calls in sorted(BODIES.items(), key=lambda item: item[0].__name__):
        hints = typing.get_type_hints(model)
        out.append("")
        out.append(f"class {model.__name__}Fields(TypedDict, total=False):")
        out.append(f'    """The fields of a :class:`{model.__name__}` as keyword arguments.')
        out.append("")
        out.append(f"    Taken by {calls}.")
        out.append('    """')
        out.append("")
        for field in attrs.fields(model):
            if field.name != "extra" and field.name not in SHADOWED.get(model, ()):
                out.append(f"    {field.name}: {annotation(hints[field.name], imports)}")
        out.append("")
    listed = "\n".join(f'    "{name}",' for name in names)
    header = HEADER.format(imports=_imports(imports), names=listed)
    return "\n".join([header, *out])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        if TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python scripts/generate_fields.py")
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
