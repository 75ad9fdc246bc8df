"""Feed readers: bytes of JSON, NDJSON, CSV, Arrow IPC or Parquet -> one raw Arrow table.

A reader never guesses a type from the data: every CSV cell is read as text,
JSON numbers keep their exact literal, and `ledger.batches` does all typing.
A malformed feed is a `LedgerError` naming the format and where it broke.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ledger.errors import LedgerError, RowError

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


def _keep_literal(s: str) -> str:
    return s  # a JSON number stays its exact decimal literal: never a binary float


def _rows_to_table(rows: list, fmt: str) -> pa.Table:
    columns: dict[str, list] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise _malformed(fmt, f"line {i} is not an object", i)
        for key in row:
            if key not in columns:
                columns[key] = [None] * i
        for key, values in columns.items():
            value = row.get(key)
            if isinstance(value, dict | list):
                raise LedgerError(
                    "invalid-feed", "The feed has invalid rows", "a field holds a nested value",
                    422, errors=[RowError(i, key, "not a scalar value")],
                )  # fmt: skip
            if value is not None and not isinstance(value, str):
                value = str(value).lower() if isinstance(value, bool) else str(value)
            values.append(value)
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


FAST_JSON_BYTES = 1 << 16  # smaller feeds take the plain parser: simplest, and fast enough


def _read_json_fast(data: bytes, array_form: bool) -> pa.Table | None:
    """Large JSON through Arrow's C++ reader, when a scan shows it is exact; else None.

    The scan (kernels.text) rewrites an array into newline-delimited objects and
    refuses numbers that a binary float may not carry exactly, so a number that
    comes back from Arrow as a float64 prints back as the literal that was sent.
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
            parse_options=pajson.ParseOptions(newlines_in_values=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # the plain parser names the fault precisely
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):  # Arrow reads "2025-01-02" as a timestamp
            try:
                col = table.column(i).cast(pa.date32())  # safe: refuses a time of day
            except pa.ArrowInvalid:
                col = table.column(i).cast(pa.string())
            table = table.set_column(i, f.name, col)
    return table


def read_json(data: bytes) -> RawFeed:
    if len(data) >= FAST_JSON_BYTES and data.lstrip()[:1] == b"[":
        table = _read_json_fast(data, array_form=True)
        if table is not None:
            return RawFeed(table)
    try:
        doc = json.loads(data, parse_float=_keep_literal, parse_int=_keep_literal)
    except (ValueError, UnicodeDecodeError) as e:
        raise _malformed("JSON", str(e)) from None
    feed_id = None
    if isinstance(doc, dict):
        feed_id = doc.get("feed_id")
        if feed_id is not None and not isinstance(feed_id, str):
            raise _malformed("JSON", "feed_id must be a string")
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
    rows = []
    for i, line in enumerate(data.splitlines()):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line, parse_float=_keep_literal, parse_int=_keep_literal))
        except (ValueError, UnicodeDecodeError) as e:
            raise _malformed("NDJSON", f"line {i + 1}: {e}", len(rows)) from None
    return RawFeed(_rows_to_table(rows, "NDJSON"))


def read_csv(data: bytes) -> RawFeed:
    # Every column is text: typing is validation's job, so "007" stays "007".
    first_line = data.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").strip("\r")
    try:
        names = next(csv.reader([first_line]), [])
    except csv.Error as e:  # e.g. a stray carriage return inside the header
        raise _malformed("CSV", f"header: {e}") from None
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as e:
        raise _malformed("CSV", str(e).splitlines()[0]) from None
    return RawFeed(table)


def read_arrow(data: bytes | pa.NativeFile) -> RawFeed:
    source = pa.BufferReader(data) if isinstance(data, bytes | bytearray | memoryview) else data
    try:
        table = ipc.open_stream(source).read_all()
    except (pa.ArrowInvalid, OSError) as first:
        try:  # the file format is accepted too
            source = pa.BufferReader(data) if isinstance(data, bytes | bytearray) else None
            if source is None:
                raise first from None
            table = ipc.open_file(source).read_all()
        except (pa.ArrowInvalid, OSError):
            raise _malformed("Arrow IPC", str(first).splitlines()[0]) from None
    return RawFeed(table)


def read_parquet(data: bytes) -> RawFeed:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as e:
        raise _malformed("Parquet", str(e).splitlines()[0]) from None
    return RawFeed(table)


READERS = {
    "json": read_json,
    "ndjson": read_ndjson,
    "csv": read_csv,
    "arrow": read_arrow,
    "parquet": read_parquet,
}


def read_feed(data: bytes, fmt: str) -> RawFeed:
    if fmt not in READERS:
        raise LedgerError("unknown-format", "Unknown feed format", fmt, 400)
    return READERS[fmt](data)
