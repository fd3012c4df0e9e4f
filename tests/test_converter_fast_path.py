"""The compiled fast path of model decoding agrees with cattrs' careful path on every input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tahdah_async.models as models
from tahdah_async._converter import _Rules, make_converter, wire_name
from tahdah_async.models import Model, TrustGroupMember
from tahdah_async.webhooks.events import VERBS

MODELS: list[type[Model]] = sorted(
    {
        *(m for m in vars(models).values() if isinstance(m, type) and issubclass(m, Model)),
        *VERBS.values(),
    }
    - {Model},
    key=lambda m: m.__qualname__,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["2026-11-28", "2026-11-28T10:00:00Z", "2026-11-28T10:00:00.123+01:00", "7"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


_CONVERTER = make_converter()
_RULES = _Rules(_CONVERTER, strict=False)


def paths(model: type[Model]) -> tuple[Any, Any]:
    """The fast hook and the careful one, from a converter built like the SDK's."""
    return _CONVERTER.get_structure_hook(model), _RULES._detailed_structure(model)


def outcome(hook: Any, data: Any, model: type[Model]) -> tuple[str, Any]:
    try:
        return "ok", hook(data, model)
    except Exception as exc:
        return "error", (
            type(exc),
            cattrs.transform_error(exc)
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc),
        )


def payloads(model: type[Model]) -> st.SearchStrategy[tuple[type[Model], dict[str, Any]]]:
    keys = [wire_name(f) for f in attrs.fields(model) if f.name != "extra"]
    objects = st.dictionaries(st.sampled_from(keys) | st.text(max_size=5), json_values, max_size=8)
    return st.tuples(st.just(model), objects)


@settings(max_examples=400, deadline=None)
@given(case=st.sampled_from(MODELS).flatmap(payloads))
def test_the_fast_path_decodes_exactly_like_the_careful_one(
    case: tuple[type[Model], dict[str, Any]],
) -> None:
    model, payload = case
    fast, careful = paths(model)
    assert outcome(fast, payload, model) == outcome(careful, payload, model)


def test_known_values_take_the_fast_path_and_unknown_keys_reach_extra() -> None:
    fast, _ = paths(TrustGroupMember)
    member = fast(
        {"trustGroupId": 7, "legalEntityId": "L-1", "addedAt": "2026-11-28T10:00:00Z", "x": [1]},
        TrustGroupMember,
    )
    assert member == TrustGroupMember(
        trust_group_id=7,
        legal_entity_id="L-1",
        added_at=dt.datetime(2026, 11, 28, 10, tzinfo=dt.UTC),
        extra={"x": [1]},
    )


def test_an_error_found_on_the_fast_path_is_reported_with_its_path() -> None:
    fast, _ = paths(TrustGroupMember)
    with pytest.raises(cattrs.ClassValidationError) as caught:
        fast({"trustGroupId": 7, "addedAt": "yesterday", "name": [1]}, TrustGroupMember)
    messages = cattrs.transform_error(caught.value)
    assert any("$.added_at" in m for m in messages)
    assert any("$.name" in m for m in messages)
