"""Arrow tables -> JSON-safe rows, CSV or Arrow IPC bytes, for ad-hoc SQL answers.

JSON numbers are read as binary floats by most clients, so every value that
a float cannot hold exactly travels as a string: decimals (money, HUGEINT
sums) always, integers beyond 2^53, and non-finite floats as null.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from ledger.write import table_bytes

MAX_SAFE_INT = 2**53 - 1


def json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if hasattr(value, "_asdict"):  # a named tuple
        return json_safe(value._asdict())
    if hasattr(value, "n_fields") and hasattr(value, "__match_args__"):  # a struct sequence
        return {name: json_safe(getattr(value, name)) for name in value.__match_args__}
    if isinstance(value, list | tuple):
        # a MAP arrives as a list of (key, value) pairs
        return [json_safe(v) for v in value]
    return str(value)


def _column_values(column: pa.ChunkedArray) -> list:
    try:
        return column.to_pylist()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, ValueError, OverflowError):
        # e.g. an interval or extension type with no Python form: its text form
        return [None if v is None else str(v) for v in column.cast(pa.string()).to_pylist()]


def table_json(table: pa.Table, truncated: bool) -> dict:
    columns = [_column_values(col) for col in table.columns]
    rows = [[json_safe(v) for v in row] for row in zip(*columns, strict=True)]
    return {
        "columns": table.column_names,
        "types": [str(f.type) for f in table.schema],
        "rows": rows,
        "truncated": truncated,
    }


def table_csv(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    try:
        pacsv.write_csv(table, sink)
        return sink.getvalue()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # nested or exotic types: the Python writer, values as in JSON
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(table.column_names)
    columns = [_column_values(col) for col in table.columns]
    for row in zip(*columns, strict=True):
        writer.writerow([_csv_cell(json_safe(v)) for v in row])
    return text.getvalue().encode()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)  # nested values as JSON text
    return value


def table_arrow(table: pa.Table) -> bytes:
    return table_bytes(table)  # the ledger's one Arrow IPC stream writer
