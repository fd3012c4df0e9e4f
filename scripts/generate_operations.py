"""Write the README's operation table from the route table and the resource methods.

    python scripts/generate_operations.py          # rewrite the table in README.md
    python scripts/generate_operations.py --check  # exit 1 if it is out of date

Routes and their D/P marks live in ``tahdah_async/_routes.py``, calls and return types in the
resource methods; the table between ``<!-- operations:start -->`` and ``<!-- operations:end -->``
is generated from them, so it cannot drift from the code (a test checks it).
"""

from __future__ import annotations

import argparse
import inspect
import sys
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tahdah_async import TahdahClient  # noqa: E402
from tahdah_async._routes import ROUTE_MARKS, ROUTES  # noqa: E402

README = ROOT / "README.md"
START, END = "<!-- operations:start -->\n", "<!-- operations:end -->\n"

# What a returned scalar is, where its type alone does not say.
RETURN_NOTES: dict[str, str] = {
    "event_credits.add": "the idempotency key sent",
    "legal_entities.create": "the new id",
}


def call(name: str) -> str:
    """``area.method(params)`` as a user writes it: body parameters bare, options with their
    defaults, keyword fields left out (the body's fields)."""
    method = _method(name)
    shown = []
    for parameter in list(inspect.signature(method).parameters.values())[1:]:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        body = "Mapping[str, Any]" in str(parameter.annotation)
        if parameter.default is inspect.Parameter.empty or body:
            shown.append(parameter.name)
        else:
            shown.append(f"{parameter.name}={parameter.default!r}")
    return f"{name}({', '.join(shown)})"


def returns(name: str) -> str:
    """The return type as the table shows it."""
    text = str(inspect.signature(_method(name)).return_annotation)
    text = text.replace("builtins.", "").replace("|", "\\|")
    note = RETURN_NOTES.get(name)
    return f"`{text}` ({note})" if note else f"`{text}`"


def _method(name: str) -> typing.Any:
    area, _, method = name.partition(".")
    resource = typing.get_type_hints(TahdahClient)[area]
    return getattr(resource, method)


def render() -> str:
    """The whole table, its markers included."""
    rows = ["| SDK call | route | returns | mark |", "|---|---|---|---|"]
    for name, route in ROUTES.items():
        rows.append(f"| `{call(name)}` | `{route}` | {returns(name)} | {ROUTE_MARKS[name]} |")
    return START + "\n".join(rows) + "\n" + END


def replaced(text: str) -> str:
    """``text`` (the README) with its table replaced by a fresh one."""
    start, end = text.index(START), text.index(END) + len(END)
    return text[:start] + render() + text[end:]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="fail if the table is out of date")
    args = parser.parse_args()
    text = README.read_text()
    if args.check:
        if replaced(text) != text:
            print("README.md's operation table is out of date: run scripts/generate_operations.py")
            return 1
        return 0
    README.write_text(replaced(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
