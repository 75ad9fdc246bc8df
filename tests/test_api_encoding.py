"""SQL answers as JSON, CSV and Arrow: every value survives a JSON client exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from api.encoding import MAX_SAFE_INT, json_safe


def test_json_safe_values():
    assert json_safe(MAX_SAFE_INT) == MAX_SAFE_INT
    assert json_safe(MAX_SAFE_INT + 1) == str(MAX_SAFE_INT + 1)
    assert json_safe(-(2**127)) == str(-(2**127))
    assert json_safe(Decimal("0.10")) == "0.10"
    assert json_safe(Decimal("1E+3")) == "1000"
    assert json_safe(float("nan")) is None and json_safe(float("inf")) is None
    assert json_safe(dt.date(2025, 2, 1)) == "2025-02-01"
    assert json_safe(b"\x00\x01") == "AAE="
    assert json_safe(True) is True
    assert json_safe({"a": [Decimal("1.5"), None]}) == {"a": ["1.5", None]}
