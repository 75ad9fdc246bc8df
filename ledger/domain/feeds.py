"""Feed readers: bytes of JSON, NDJSON, CSV, Arrow IPC or Parquet -> one raw Arrow table.

A reader never guesses a type from the data: every CSV cell is read as text,
JSON numbers keep their exact literal, and `ledger.domain.validate` does all typing.
A malformed feed is a `LedgerError` naming the format and where it broke.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ledger.domain.errors import LedgerError, RowError, invalid
from ledger.domain.schema import FEED_FIELDS

FORMATS = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}
EXTENSIONS = {
    ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv",
    ".arrow": "arrow", ".arrows": "arrow", ".ipc": "arrow", ".parquet": "parquet",
}  # fmt: skip


@dataclass
class RawFeed:
    table: pa.Table
    feed_id: str | None = None  # a feed id carried inside the feed (JSON object form)


def format_of_content_type(content_type: str) -> str:
    media = content_type.split(";")[0].strip().lower()
    for fmt, mt in FORMATS.items():
        if media == mt:
            return fmt
    aliases = {"application/jsonl": "ndjson", "application/vnd.apache.arrow.file": "arrow"}
    if media in aliases:
        return aliases[media]
    raise LedgerError(
        "unsupported-media-type", "Unsupported feed type",
        f"{media or 'no content type'}; send one of {', '.join(FORMATS.values())}", 415,
    )  # fmt: skip


def format_of_path(path: str) -> str:
    for ext, fmt in EXTENSIONS.items():
        if path.lower().endswith(ext):
            return fmt
    raise LedgerError(
        "unknown-format", "Cannot tell the feed format",
        f"{path}: use one of {', '.join(EXTENSIONS)} or pass --format", 400,
    )  # fmt: skip


def _malformed(fmt: str, detail: str, row: int | None = None) -> LedgerError:
    errors = [RowError(row, None, detail)] if row is not None else []
    return LedgerError("malformed-feed", f"Malformed {fmt} feed", detail, 400, errors=errors)


# -- strict JSON -------------------------------------------------------------
# A feed line is an object of scalars (depth 3 in the {"lines": [...]} form);
# reference rows nest params a level or two more. Deeper is hostile, not data.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_DEPTH_CHUNK_BYTES = 1 << 24


class JsonNumber(str):
    """A JSON number (or NaN / Infinity) kept as its exact literal: never a binary float."""


class JsonObject(dict):
    """A parsed JSON object; `faults` holds (key, message) for what a dict cannot show."""

    faults: tuple | list = ()

    def fault(self, key: str | None, message: str) -> None:
        if not self.faults:
            self.faults = []
        self.faults.append((key, message))


def _is_unicode(s: str) -> bool:
    """False for a lone surrogate (JSON "\\ud800"), which no UTF-8 text can hold."""
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _object(pairs: list[tuple[str, object]]) -> JsonObject:
    obj = JsonObject()
    for key, value in pairs:
        if not _is_unicode(key):
            obj.fault(None, f"field name {ascii(key)} is not valid Unicode (a lone surrogate)")
            continue
        if key in obj:
            obj.fault(key, "appears more than once in one object")
        if isinstance(value, str) and not _is_unicode(value):
            obj.fault(key, "not valid Unicode text (a lone surrogate)")
            value = None
        obj[key] = value
    return obj


def json_depth(data: bytes) -> int:
    """The deepest nesting of [ and { outside strings, without recursion."""
    skeleton = np.frombuffer(_JSON_STRING.sub(b'""', data), np.uint8)
    deepest, level = 0, 0
    for start in range(0, skeleton.size, _DEPTH_CHUNK_BYTES):
        part = skeleton[start : start + _DEPTH_CHUNK_BYTES]
        step = ((part == 91) | (part == 123)).astype(np.int32)  # [ {
        step -= ((part == 93) | (part == 125)).astype(np.int32)  # ] }
        if step.any():
            levels = np.cumsum(step) + level
            deepest, level = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


def decode_utf8(data: bytes, what: str, fmt: str) -> str:
    try:
        return data.decode("utf-8-sig")  # strict: a bad byte is refused, never replaced
    except UnicodeDecodeError as e:
        raise _malformed(
            fmt, f"{what} is not UTF-8: byte {e.start} ({data[e.start]:#04x})"
        ) from None


def loads_strict(
    data: bytes | str, fmt: str = "JSON", parse_float=JsonNumber, parse_int=JsonNumber
):
    """JSON text -> Python values: UTF-8 only, depth bounded, objects as `JsonObject`."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise _malformed(fmt, f"nested {depth} levels deep; at most {MAX_JSON_DEPTH}")
    text = decode_utf8(data, "the body", fmt) if isinstance(data, bytes) else data
    try:
        return json.loads(
            text, object_pairs_hook=_object, parse_float=parse_float, parse_int=parse_int,
            parse_constant=JsonNumber,
        )  # fmt: skip
    except (ValueError, RecursionError) as e:
        raise _malformed(fmt, str(e)[:300]) from None


def _rows_to_table(rows: list, fmt: str) -> pa.Table:
    columns: dict[str, list] = {}
    faults: list[RowError] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _malformed(fmt, f"line {i} is not an object", i)
        faults += [RowError(i, key, message) for key, message in getattr(row, "faults", ())]
        for key in row:
            if key not in columns:
                columns[key] = [None] * i
        for key, values in columns.items():
            value = row.get(key)
            if isinstance(value, dict | list):
                faults.append(RowError(i, key, "not a scalar value"))
                value = None
            if value is not None and not isinstance(value, str):
                value = str(value).lower() if isinstance(value, bool) else str(value)
            values.append(value)
    if faults:
        raise invalid(faults, len(faults))
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


FAST_JSON_BYTES = 1 << 16  # smaller feeds take the plain parser: simplest, and fast enough
# Text fields reach Arrow's JSON reader as strings, never inferred: it reads
# "2024-12-31T20:00:00-08:00" as a UTC timestamp (2025-01-01) otherwise.
_TEXT_FIELDS = [n for n in FEED_FIELDS if n not in ("line_no", "revision", "quantity",
                                                    "unit_price", "identity_reviewed")]  # fmt: skip
_TEXT_SCHEMA = pa.schema([(n, pa.string()) for n in _TEXT_FIELDS])


def _read_json_fast(data: bytes, array_form: bool) -> pa.Table | None:
    """Large JSON through Arrow's C++ reader, when a scan shows it is exact; else None.

    The scan (kernels.text) rewrites an array into newline-delimited objects and
    refuses numbers that a binary float may not carry exactly, so a number that
    comes back from Arrow as a float64 prints back as the literal that was sent.
    Anything Arrow would read with another meaning than the plain parser (a
    timestamp, a duplicate key, a bad byte) falls back to the plain parser.
    """
    import pyarrow.json as pajson

    from kernels import dispatch

    lines, status = dispatch.json_lines(data, array_form)
    if status != 0:
        return None
    try:
        table = pajson.read_json(
            pa.BufferReader(pa.py_buffer(lines)),
            read_options=pajson.ReadOptions(block_size=1 << 24),
            parse_options=pajson.ParseOptions(
                newlines_in_values=False, explicit_schema=_TEXT_SCHEMA
            ),
        )
        table.validate(full=True)
    except (pa.ArrowException, UnicodeDecodeError):
        return None  # the plain parser names the fault precisely
    for f in table.schema:
        if pa.types.is_temporal(f.type) or pa.types.is_nested(f.type):
            return None  # an inferred timestamp has lost its literal
    return table


def read_json(data: bytes) -> RawFeed:
    if len(data) >= FAST_JSON_BYTES and data.lstrip()[:1] == b"[":
        table = _read_json_fast(data, array_form=True)
        if table is not None:
            return RawFeed(table)
    doc = loads_strict(data)
    feed_id = None
    if isinstance(doc, dict):
        faults = [RowError(None, key, message) for key, message in getattr(doc, "faults", ())]
        feed_id = doc.get("feed_id")
        if feed_id is not None and (
            not isinstance(feed_id, str) or isinstance(feed_id, JsonNumber)
        ):
            faults.append(RowError(None, "feed_id", "must be a string (feed ids are text)"))
        if faults:
            raise invalid(faults, len(faults))
        if "lines" not in doc or not isinstance(doc["lines"], list):
            raise _malformed("JSON", 'an object feed needs "lines": [...]')
        doc = doc["lines"]
    if not isinstance(doc, list):
        raise _malformed("JSON", "expected an array of lines or {feed_id, lines}")
    return RawFeed(_rows_to_table(doc, "JSON"), feed_id)


def read_ndjson(data: bytes) -> RawFeed:
    if len(data) >= FAST_JSON_BYTES:
        table = _read_json_fast(data, array_form=False)
        if table is not None:
            return RawFeed(table)
    decode_utf8(data, "the body", "NDJSON")
    rows = []
    for i, line in enumerate(data.splitlines()):
        if not line.strip():
            continue
        try:
            rows.append(loads_strict(line, "NDJSON"))
        except LedgerError as e:
            raise _malformed("NDJSON", f"line {i + 1}: {e.detail}", len(rows)) from None
    return RawFeed(_rows_to_table(rows, "NDJSON"))


def read_csv(data: bytes, delimiter: str = ",") -> RawFeed:
    # Every column is text: typing is validation's job, so "007" stays "007", and
    # only an empty cell is missing ("N/A", "NA", "null" are text, as sent).
    end = data.find(b"\n")
    first_line = decode_utf8(data[: end if end >= 0 else len(data)], "the header", "CSV")
    first_line = first_line.strip("\r")
    try:
        names = next(csv.reader([first_line], delimiter=delimiter), [])
    except csv.Error as e:  # e.g. a stray carriage return inside the header
        raise _malformed("CSV", f"header: {e}") from None
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError) as e:  # Arrow checks UTF-8 as it reads
        raise _malformed("CSV", _first_line(e)) from None
    return RawFeed(_without_csv_index(plain_columns(table)))


def _without_csv_index(table: pa.Table) -> pa.Table:
    """pandas `to_csv()` writes its index as a first column with an empty name: not data.
    Only the first column, and only when unnamed (an empty name elsewhere is refused)."""
    if table.num_columns and table.column_names[0] == "":
        return table.remove_column(0)
    return table


# -- Arrow and Parquet: untrusted memory, validated in full before any use ----


def plain_column(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Dictionary, string_view and large_string columns as plain strings (of a *validated* array).

    Arrow has no take kernel for some dictionaries (of string_view, say): the
    dictionary is cast to string first, then decoded, whatever the index width.
    """
    if isinstance(col, pa.ChunkedArray):
        return pa.chunked_array([plain_column(c) for c in col.chunks], _plain_type(col.type))
    if isinstance(col, pa.ExtensionArray):
        col = col.storage
    if pa.types.is_dictionary(col.type):
        values = plain_column(col.dictionary)
        col = pa.DictionaryArray.from_arrays(col.indices, values).dictionary_decode()
    if pa.types.is_large_string(col.type) or pa.types.is_string_view(col.type):
        col = col.cast(pa.string())
    return col


def _plain_type(t: pa.DataType) -> pa.DataType:
    if isinstance(t, pa.BaseExtensionType):
        t = t.storage_type
    if pa.types.is_dictionary(t):
        t = _plain_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    return t


def plain_columns(table: pa.Table) -> pa.Table:
    return pa.table(
        [plain_column(c) for c in table.columns], names=table.column_names
    )  # fmt: skip


def _validated(batches: list[pa.RecordBatch], schema: pa.Schema, fmt: str) -> pa.Table:
    for i, batch in enumerate(batches):
        try:
            batch.validate(full=True)  # offsets, dictionary indices, UTF-8
        except pa.ArrowException as e:
            raise _malformed(fmt, f"record batch {i}: {str(e).splitlines()[0]}") from None
    try:
        schema.names  # noqa: B018  (field names are decoded as UTF-8 here: refuse bad bytes)
        return plain_columns(pa.Table.from_batches(batches, schema))
    except (pa.ArrowException, UnicodeDecodeError) as e:
        raise _malformed(fmt, _first_line(e)) from None


def _ipc_batches(data: bytes | pa.NativeFile) -> tuple[list[pa.RecordBatch], pa.Schema]:
    try:
        reader = ipc.open_stream(data)
        return list(reader), reader.schema
    except (pa.ArrowException, OSError, UnicodeDecodeError) as first:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise
        try:  # the file format is accepted too
            file = ipc.open_file(pa.BufferReader(data))
            return [file.get_batch(i) for i in range(file.num_record_batches)], file.schema
        except (pa.ArrowException, OSError, UnicodeDecodeError):
            raise first from None


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def read_arrow(data: bytes | pa.NativeFile) -> RawFeed:
    try:
        batches, schema = _ipc_batches(data)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:
        raise _malformed("Arrow IPC", _first_line(e)) from None
    return RawFeed(_without_pandas_index(_validated(batches, schema, "Arrow IPC"), schema))


def _pandas_index_columns(schema: pa.Schema) -> list[str]:
    """pandas writes its index as a column (`__index_level_0__`) named in its metadata."""
    try:
        meta = json.loads((schema.metadata or {}).get(b"pandas", b"{}"))
        return [c for c in meta.get("index_columns", []) if isinstance(c, str)]
    except (ValueError, AttributeError, TypeError):
        return []


def read_parquet(data: bytes) -> RawFeed:
    try:
        table = pq.read_table(pa.BufferReader(data))
        schema = table.schema
        batches = table.to_batches()
    except (pa.ArrowException, OSError, UnicodeDecodeError) as e:
        raise _malformed("Parquet", _first_line(e)) from None
    return RawFeed(_without_pandas_index(_validated(batches, schema, "Parquet"), schema))


def _without_pandas_index(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """pandas (`to_parquet`, `pa.Table.from_pandas`) stores its index as columns named in the
    schema's `pandas` metadata (`__index_level_0__`, or the index's own name): not data."""
    drop = [c for c in _pandas_index_columns(schema) if c in table.column_names]
    return table.drop_columns(drop) if drop else table


READERS = {
    "json": read_json,
    "ndjson": read_ndjson,
    "csv": read_csv,
    "arrow": read_arrow,
    "parquet": read_parquet,
}


def read_feed(data: bytes, fmt: str, delimiter: str = ",") -> RawFeed:
    """`delimiter` (a mapping profile's) applies to CSV only."""
    if fmt not in READERS:
        raise LedgerError("unknown-format", "Unknown feed format", fmt, 400)
    if fmt == "csv":
        return read_csv(data, delimiter)
    return READERS[fmt](data)
