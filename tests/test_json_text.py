"""JsonWriter writes what json.dumps (and kombu's dumps) write, and keeps working after a failure."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kombu.utils.json import JSONEncoder, dumps

from project.json_text import JsonWriter, json_text

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(JSON)
def test_it_writes_what_json_dumps_writes(value: Any) -> None:
    assert json_text(value) == json.dumps(value)


def test_with_kombus_default_it_writes_what_kombu_writes() -> None:
    value = [datetime.datetime(2026, 1, 1, 12), uuid.UUID(int=7), decimal.Decimal("1.5"), b"bytes", {"k": (1, 2)}]
    assert JsonWriter(JSONEncoder().default)(value) == dumps(value)


def test_a_value_it_cannot_write_raises_as_json_dumps_does_and_the_next_one_is_written() -> None:
    loop: list[Any] = []
    loop.append(loop)
    shared = [1]
    with pytest.raises(TypeError):
        json_text([shared, object()])
    with pytest.raises(ValueError, match="Circular"):
        json_text(loop)
    assert json_text([shared, shared]) == "[[1], [1]]"  # no false "circular reference" left behind


def test_finite_json_writes_what_json_has_no_number_for_as_strings() -> None:
    from project.json_text import finite_json

    value = {"a": [float("inf"), -float("inf"), 1.5, (float("nan"),)], "b": "NaN stays", "c": 2}
    assert finite_json(value) == {"a": ["Infinity", "-Infinity", 1.5, ["NaN"]], "b": "NaN stays", "c": 2}
    assert json.loads(json.dumps(finite_json(value), allow_nan=False)) == finite_json(value)
