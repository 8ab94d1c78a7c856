"""JSON text as ``json.dumps`` writes it, without making an encoder for every value.

``json.dumps(value)`` builds a new C encoder on each call (``JSONEncoder.iterencode``), which costs
three times what encoding a job's arguments does. A bulk send writes a few JSON values per job
(the history's arguments, the message body), so ``JsonWriter`` keeps one encoder made by
``json.encoder.c_make_encoder``, the undocumented constructor ``iterencode`` calls, with
``json.dumps``'s defaults. Checked against Python 3.11; where the C encoder is missing (another
Python) it writes through ``json.dumps``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

try:
    from json.encoder import c_make_encoder  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - CPython has it
    c_make_encoder = None


class JsonWriter:
    """``json.dumps(value, default=default)`` with one encoder for every call."""

    def __init__(self, default: Callable[[Any], Any] | None = None) -> None:
        self.default = default or json.JSONEncoder().default
        self.encoder = self._new_encoder()

    def __call__(self, value: Any) -> str:
        if self.encoder is None:
            return json.dumps(value, default=self.default)
        try:
            return "".join(self.encoder(value, 0))
        except BaseException:
            # The encoder's circular-reference markers may still hold the value's containers.
            self.encoder = self._new_encoder()
            raise

    def _new_encoder(self) -> Any:
        if c_make_encoder is None:  # pragma: no cover
            return None
        # json.dumps's defaults: circular check (markers), ensure_ascii, no indent, ": " and ", ",
        # unsorted keys, no skipped keys, NaN allowed.
        return c_make_encoder({}, self.default, encode_basestring_ascii, None, ": ", ", ", False, False, True)


json_text = JsonWriter()  # json.dumps(value)


def finite_json(value: Any) -> Any:
    """``value`` with each float JSON has no number for (inf, -inf, nan: a job may return one) as the
    string json.dumps would write for it, ``"Infinity"``, ``"-Infinity"`` or ``"NaN"``: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else json.dumps(value)
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    return value
