"""Arrow batches -> JSON rows, CSV or Arrow IPC bytes, for ad-hoc SQL answers.

The encoding rules (README, "The service"):
- JSON numbers are read as binary floats by most clients, so every value that
  a float cannot hold exactly travels as a string: decimals (money, HUGEINT
  sums) always, integers beyond 2^53, UHUGEINT and BIGNUM always; NaN and
  infinite floats are null.
- Dates, times and timestamps are DuckDB's own text ('2025-02-01',
  '2025-02-01 10:00:00', 'infinity', '-infinity', '5881580-07-10'), cast in
  DuckDB, so no value is out of Python's range; TIMETZ and BIT as text too.
- Blobs are base64; intervals `{"months", "days", "nanoseconds"}`; lists
  arrays, structs objects, maps a list of [key, value] pairs. CSV writes the
  same values, nested ones as JSON text.
- Arrow keeps DuckDB's types (infinite dates as DuckDB's sentinels), except
  UHUGEINT, BIGNUM, BIT and TIMETZ, which Arrow cannot hold: text.

The sinks encode batch by batch inside the query's time limit, cutting at a
row boundary when the answer-size cap is reached.
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
import pyarrow.ipc as ipc

MAX_SAFE_INT = 2**53 - 1


def _int(value: int) -> int | str:
    return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else str(value)


# scalar type -> its JSON form (checked in order: bool before int)
_SCALARS: tuple[tuple[type | tuple, Any], ...] = (
    (int, _int),
    (float, lambda v: v if math.isfinite(v) else None),
    (Decimal, lambda v: format(v, "f") if v.is_finite() else None),
    ((dt.datetime, dt.date, dt.time), lambda v: v.isoformat()),
    ((dt.timedelta, uuid.UUID), str),
    ((bytes, bytearray, memoryview), lambda v: base64.b64encode(bytes(v)).decode("ascii")),
)


def json_safe(value: Any) -> Any:
    """A value DuckDB or Arrow returned, as JSON can carry it exactly (big ints as text)."""
    if value is None or isinstance(value, bool | str):
        return value
    for kind, encode in _SCALARS:
        if isinstance(value, kind):
            return encode(value)
    return _json_container(value)


def _json_container(value: Any) -> Any:
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


def _column_values(column: pa.ChunkedArray | pa.Array) -> list:
    try:
        return column.to_pylist()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, ValueError, OverflowError):
        # e.g. an interval or extension type with no Python form: its text form
        try:
            return [None if v is None else str(v) for v in column.cast(pa.string()).to_pylist()]
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            return [None if not v.is_valid else str(v) for v in column]


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)  # nested values as JSON text
    return value


# -- streaming sinks for POST /v1/sql (ledger.store.sandbox.AnswerSink) ------------

_CSV_PLAIN = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal,
              pa.types.is_string, pa.types.is_large_string, pa.types.is_boolean,
              pa.types.is_null)  # fmt: skip


def _plain_csv(schema: pa.Schema) -> bool:
    """Whether Arrow's CSV writer writes every column as the JSON answer reads."""
    return all(
        any(is_kind(f.type) for is_kind in _CSV_PLAIN)
        or (pa.types.is_dictionary(f.type) and pa.types.is_string(f.type.value_type))
        for f in schema
    )


class _Sink:
    """Encoded chunks, kept as they are made (never one Python list of the answer)."""

    text_values = True
    slice_rows = 256

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self._size = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    def _add(self, data: bytes) -> None:
        self.chunks.append(data)
        self._size += len(data)

    def _take_rows(self, encoded: list[bytes], budget_bytes: int, sep: bytes = b"") -> int:
        """Append whole rows while they fit; the rows taken."""
        taken, used, out = 0, 0, []
        for row in encoded:
            cost = len(row) + len(sep)
            if used + cost > budget_bytes:
                break
            out.append(row)
            used += cost
            taken += 1
        if out:
            self._add(sep.join(out) + sep if sep else b"".join(out))
        return taken


# The closing of a JSON answer, reserved in the budget so the whole body fits.
_JSON_TAIL_BYTES = len(b'],"truncated":false}')


class JsonSink(_Sink):
    """`{"columns", "types", "rows", "truncated"}`, rows written as they arrive."""

    def start(self, names: list[str], types: list[str], schema: pa.Schema) -> None:
        head = {"columns": names, "types": types}
        self._add(json.dumps(head, ensure_ascii=False)[:-1].encode() + b',"rows":[')
        self._rows = 0

    def write(self, batch: pa.RecordBatch, budget_bytes: int) -> int:
        columns = [_column_values(col) for col in batch.columns]
        encoded = [
            (b"," if self._rows + k else b"")
            + json.dumps([json_safe(v) for v in row], ensure_ascii=False, allow_nan=False,
                         separators=(",", ":")).encode()
            for k, row in enumerate(zip(*columns, strict=True))
        ]  # fmt: skip
        taken = self._take_rows(encoded, budget_bytes - _JSON_TAIL_BYTES)
        self._rows += taken
        return taken

    def finish(self, truncated: bool) -> list[bytes]:
        self._add(b'],"truncated":' + (b"true" if truncated else b"false") + b"}")
        return self.chunks


class CsvSink(_Sink):
    """A header line, then rows: Arrow's writer for plain columns, Python's otherwise."""

    slice_rows = 1024

    def start(self, names: list[str], types: list[str], schema: pa.Schema) -> None:
        self._names = names
        self._plain = _plain_csv(schema)
        self._add(_csv_rows([names]))

    def write(self, batch: pa.RecordBatch, budget_bytes: int) -> int:
        if self._plain:
            sink = io.BytesIO()
            renamed = pa.RecordBatch.from_arrays(batch.columns, names=self._names)
            pacsv.write_csv(renamed, sink, pacsv.WriteOptions(include_header=False))
            data = sink.getvalue()
            if len(data) <= budget_bytes:
                self._add(data)
                return batch.num_rows
        columns = [_column_values(col) for col in batch.columns]
        encoded = [
            _csv_rows([[_csv_cell(json_safe(v)) for v in row]])
            for row in zip(*columns, strict=True)
        ]
        return self._take_rows(encoded, budget_bytes)

    def finish(self, truncated: bool) -> list[bytes]:
        return self.chunks


def _csv_rows(rows: list[list]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return text.getvalue().encode()


# Arrow IPC end-of-stream marker and file footer, reserved in the budget.
_ARROW_TAIL_BYTES = 64 * 1024


class ArrowSink(_Sink):
    """Arrow IPC, the stream format or (`file=True`) the file format."""

    text_values = False
    slice_rows = 8192

    def __init__(self, file: bool = False) -> None:
        super().__init__()
        self.file = file

    def start(self, names: list[str], types: list[str], schema: pa.Schema) -> None:
        self._schema = pa.schema(
            [f.with_name(n) for f, n in zip(schema, names, strict=True)], metadata=schema.metadata
        )
        self._out = pa.BufferOutputStream()
        new = ipc.new_file if self.file else ipc.new_stream
        self._writer = new(self._out, self._schema)

    @property
    def size_bytes(self) -> int:
        return self._out.tell()

    def write(self, batch: pa.RecordBatch, budget_bytes: int) -> int:
        batch = pa.RecordBatch.from_arrays(batch.columns, schema=self._schema)
        budget = budget_bytes - _ARROW_TAIL_BYTES
        rows = batch.num_rows
        if ipc.get_record_batch_size(batch) > budget:
            low, high = 0, rows  # the most rows that fit: binary search on the encoded size
            while low < high:
                mid = (low + high + 1) // 2
                if ipc.get_record_batch_size(batch.slice(0, mid)) <= budget:
                    low = mid
                else:
                    high = mid - 1
            rows = low
        if rows:
            self._writer.write_batch(batch.slice(0, rows))
        return rows

    def finish(self, truncated: bool) -> list[bytes]:
        self._writer.close()
        return [self._out.getvalue().to_pybytes()]


def sink_for(kind: str) -> JsonSink | CsvSink | ArrowSink:
    if kind == "csv":
        return CsvSink()
    if kind == "arrow-file":
        return ArrowSink(file=True)
    if kind == "arrow":
        return ArrowSink()
    return JsonSink()
