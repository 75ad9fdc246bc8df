"""SQL answers as JSON, CSV and Arrow: every value survives a JSON client exactly."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc

from api.encoding import MAX_SAFE_INT, json_safe, table_arrow, table_csv, table_json


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


def test_every_duckdb_type_encodes():
    sql = (
        "SELECT [1, 2] AS l, {'a': 1} AS s, INTERVAL 1 DAY AS i, 'nan'::DOUBLE AS f, "
        "uuid() AS u, '\\x00'::BLOB AS b, map([1], [2]) AS m, 1::UHUGEINT AS uh, "
        "(2::HUGEINT ** 100)::HUGEINT AS big, TIMESTAMPTZ '2025-01-01 00:00+00' AS tz, "
        "TIME '12:00' AS t, 'a'::ENUM('a', 'b') AS e, 'x,\"y\"' AS text"
    )
    table = duckdb.sql(sql).to_arrow_table()
    body = table_json(table, truncated=False)
    text = json.dumps(body, allow_nan=False)  # strict JSON: no NaN
    row = json.loads(text)["rows"][0]
    named = dict(zip(body["columns"], row, strict=True))
    assert named["l"] == [1, 2] and named["s"] == {"a": 1}
    assert named["i"] == {"months": 0, "days": 1, "nanoseconds": 0}
    assert named["f"] is None
    assert named["big"] == str(2**100)
    assert named["text"] == 'x,"y"'
    rows = list(csv.reader(io.StringIO(table_csv(table).decode())))
    assert rows[0] == body["columns"]
    assert dict(zip(rows[0], rows[1], strict=True))["s"] == '{"a": 1}'
    back = ipc.open_stream(pa.BufferReader(table_arrow(table))).read_all()
    assert back.schema.equals(table.schema)
    assert back.drop_columns(["f"]).equals(table.drop_columns(["f"]))  # NaN != NaN
