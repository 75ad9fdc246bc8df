"""Key-only cancellations: a cancellation may name only the line's key (order_id, line_no,
revision, status); the fields it leaves out are the current entry's (DESIGN section 3). Pure.

The write path finds the rows that carry only a key (`key_only_rows`), asks the store
for those lines' current entries, and `complete` fills the missing fields from them as
text, so that validation then checks the whole line exactly as if it had been sent.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.domain.errors import RowError, invalid
from ledger.domain.feeds import plain_column
from ledger.domain.money import format_minor
from ledger.domain.schema import FEED_FIELDS

KEY_FIELDS = ("order_id", "line_no", "revision", "status")
FILLED = [f for f in FEED_FIELDS if f not in KEY_FIELDS]
_REQUIRED_FILLED = [f for f in FILLED if FEED_FIELDS[f]]


def _plain(col) -> pa.Array:
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return plain_column(col)


def _mask(values) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _missing(raw: pa.Table, name: str) -> np.ndarray:
    if name not in raw.column_names:
        return np.ones(raw.num_rows, bool)
    col = _plain(raw.column(name))
    missing = _mask(pc.is_null(col))
    if pa.types.is_string(col.type):
        missing |= _mask(pc.equal(col, ""))
    return missing


def key_only_rows(raw: pa.Table) -> np.ndarray:
    """Rows that cancel a line and leave out a required non-key field (a mapping profile's
    constants may still name some: those are kept as sent)."""
    if "status" not in raw.column_names or raw.num_rows == 0:
        return np.zeros(raw.num_rows, bool)
    status = _plain(raw.column("status"))
    if not pa.types.is_string(status.type):
        return np.zeros(raw.num_rows, bool)
    rows = _mask(pc.equal(pc.utf8_lower(status), "cancelled"))
    if not rows.any():
        return rows
    missing = np.zeros(raw.num_rows, bool)
    for name in _REQUIRED_FILLED:
        missing |= _missing(raw, name)
    return rows & missing


def keys_of(raw: pa.Table, rows: np.ndarray) -> pa.Table:
    """(order_id, line_no, _row) of the given rows whose line_no reads as an integer."""
    picked = raw.filter(pa.array(rows)).select(["order_id", "line_no"])
    line_no = _plain(picked.column("line_no"))
    if not pa.types.is_integer(line_no.type):
        ok = pc.match_substring_regex(pc.cast(line_no, pa.string()), r"^\s*\d{1,9}\s*$")
        line_no = pc.if_else(ok, pc.utf8_trim_whitespace(pc.cast(line_no, pa.string())), None)
    order_id = pc.cast(_plain(picked.column("order_id")), pa.string())
    return pa.table({
        "order_id": order_id, "line_no": pc.cast(line_no, pa.int64()),
        "_row": pa.array(np.flatnonzero(rows).astype(np.int64)),
    }).filter(pc.and_(pc.is_valid(order_id), pc.is_valid(line_no)))  # fmt: skip


def _as_text(current: pa.Table) -> dict[str, list]:
    """The stored fields as a feed would send them (unit_price back from minor units)."""
    rows = current.to_pylist()
    out: dict[str, list] = {name: [] for name in [*FILLED, "attributes"]}
    for r in rows:
        for name in FILLED:
            if name == "unit_price":
                value = format_minor(r["unit_price_minor"], r["currency"])
            elif name == "identity_reviewed":
                value = "true" if r[name] else "false"
            else:
                value = None if r[name] is None else str(r[name])
            out[name].append(value)
        out["attributes"].append(r["attributes"])
    return out


def complete(
    raw: pa.Table, attributes: pa.Array | None, keys: pa.Table, current: pa.Table
) -> tuple[pa.Table, pa.Array | None]:
    """Fill key-only cancellations from the current entries (`current`: the stored entry of
    each key with its `_row`), or 422 for a line the ledger does not have."""
    found = set(current["_row"].to_pylist())
    unknown = "cancels a line the ledger does not have; send the whole line"
    errors = [
        RowError(int(r), "status", unknown) for r in keys["_row"].to_pylist() if r not in found
    ]
    cancelled_twice = pc.equal(current["status"], "cancelled").to_pylist()
    errors += [
        RowError(int(r), "status", "the line is already cancelled")
        for r, twice in zip(current["_row"].to_pylist(), cancelled_twice, strict=True)
        if twice
    ]
    if errors:
        errors.sort(key=lambda e: e.row)
        raise invalid(errors, len(errors))
    n = raw.num_rows
    at = np.full(n, -1, np.int64)
    at[current["_row"].to_numpy()] = np.arange(current.num_rows)
    fill = pa.array(at >= 0)
    index = pa.array(np.where(at >= 0, at, 0))
    text = _as_text(current)
    for name in FILLED:
        stored = pc.take(pa.array(text[name] or [None], pa.string()), index)
        raw = _fill_column(raw, name, fill, stored)
    if current.num_rows and any(a is not None for a in text["attributes"]):
        stored = pc.take(pa.array(text["attributes"], pa.string()), index)
        given = attributes if attributes is not None else pa.nulls(n, pa.string())
        attributes = pc.if_else(pc.and_(fill, pc.is_null(given)), stored, given)
    return raw, attributes


def _fill_column(raw: pa.Table, name: str, fill: pa.Array, stored: pa.Array) -> pa.Table:
    if name not in raw.column_names:
        col = pc.if_else(fill, stored, pa.scalar(None, pa.string()))
        return raw.append_column(name, col)
    col = _plain(raw.column(name))
    if pa.types.is_null(col.type):
        col = col.cast(pa.string())
    try:
        typed = stored if pa.types.is_string(col.type) else pc.cast(stored, col.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return raw  # a type the stored text does not cast to: validation names the field
    empty = pc.is_null(col)
    if pa.types.is_string(col.type):
        empty = pc.or_(empty, pc.equal(col, ""))
    filled = pc.if_else(pc.and_(fill, empty), typed, col)
    return raw.set_column(raw.column_names.index(name), name, filled)
