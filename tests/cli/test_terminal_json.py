"""JSON the CLI prints: readable text, and nothing a terminal would act on."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tahdah_async.cli._commands import terminal_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def test_text_stays_readable_and_controls_are_escaped() -> None:
    value = {
        "note": "café 😀",
        "csi": "\x9b31m",
        "bidi": "\u202eevil",
        "del": "\x7f",
        "tag": "\U000e0041",
    }

    shown = terminal_json(value)

    assert '"note": "café 😀"' in shown
    assert '"csi": "\\u009b31m"' in shown
    assert '"bidi": "\\u202eevil"' in shown
    assert '"del": "\\u007f"' in shown
    assert '"tag": "\\udb40\\udc41"' in shown
    assert json.loads(shown) == value


@given(JSON)
def test_any_value_prints_only_printable_characters_and_round_trips(value: Any) -> None:
    shown = terminal_json(value)

    assert all(c == "\n" or c.isprintable() for c in shown)
    assert json.loads(shown) == value
