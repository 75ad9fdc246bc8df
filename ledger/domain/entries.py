"""Entry planning: a validated batch plus the touched lines' current entries -> the entries
to append. Pure: no I/O.

The model (DESIGN section 3): `line_entries` is append-only. A line new to the
ledger becomes one `line` entry. A line at a higher revision first appends the
reversal of its current entry (quantity, amount and line count negated; none
when the current entry is a cancellation, which counts zero), then its own
entry. A line re-sent at its current revision with the same content is
unchanged (no entry); with other content, or at a lower revision, the feed is
refused. So every total is a plain sum of entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.domain.errors import RowError, invalid
from ledger.domain.schema import ENTRY_SCHEMA, LINE_SCHEMA

# The current entry of each incoming line already in the ledger (the store's answer).
CURRENT_SCHEMA = pa.schema(
    [
        ("_row", pa.int64()),  # position of the incoming line in the feed
        ("cur_seq", pa.int64()),  # entry_seq of its current `line` entry
        ("cur_rev", pa.int32()),
        ("cur_status", pa.string()),
        ("same", pa.bool_()),  # every content field equal to the incoming line's
    ]
)
# from_batches, not `empty_table()`: that one imports pandas (~0.4 s) when it is installed
NO_CURRENT = pa.Table.from_batches([], schema=CURRENT_SCHEMA)


@dataclass(frozen=True)
class Revisions:
    """What the current entries say about a feed (see `plan_revisions`)."""

    keep: np.ndarray  # bool per incoming line: it becomes a new entry
    unchanged: int  # lines re-sent at their current revision with the same content
    reverse_seqs: np.ndarray  # entry_seq of current open entries to reverse
    reverse_rows: np.ndarray  # the incoming row that supersedes each of them
    superseded_seqs: np.ndarray  # entry_seq of every current entry no longer current


def plan_revisions(batch: pa.Table, current: pa.Table) -> Revisions:
    """Which incoming lines are new entries, which are unchanged, which reverse what.

    Raises LedgerError(422) naming every line at a stale revision or re-sent at
    its current revision with other content.
    """
    rows = current["_row"].to_numpy()
    cur_seq = current["cur_seq"].to_numpy()
    cur_rev = current["cur_rev"].to_numpy()
    new_rev = batch["revision"].to_numpy()[rows]
    same = current["same"].to_numpy(zero_copy_only=False).astype(bool)
    stale = new_rev < cur_rev
    clash = (new_rev == cur_rev) & ~same
    errors = [
        RowError(int(r), "revision", f"revision {int(nr)} is older than the ledger's {int(cr)}")
        for r, nr, cr in zip(rows[stale], new_rev[stale], cur_rev[stale], strict=True)
    ] + [
        RowError(
            int(r),
            "revision",
            f"line is already at revision {int(cr)} with other content; "
            f"send revision {int(cr) + 1}",
        )  # fmt: skip
        for r, cr in zip(rows[clash], cur_rev[clash], strict=True)
    ]
    if errors:
        errors.sort(key=lambda e: e.row)
        raise invalid(errors, len(errors))
    unchanged = (new_rev == cur_rev) & same
    keep = np.ones(batch.num_rows, dtype=bool)
    keep[rows[unchanged]] = False
    revised = new_rev > cur_rev
    was_open = current["cur_status"].to_numpy(zero_copy_only=False) == "open"
    return Revisions(
        keep=keep,
        unchanged=int(unchanged.sum()),
        reverse_seqs=cur_seq[revised & was_open],
        reverse_rows=rows[revised & was_open],
        superseded_seqs=cur_seq[revised],
    )


def build_entries(
    batch: pa.Table, plan: Revisions, reversed_entries: pa.Table | None, first_seq: int,
    feed_seq: int,
) -> pa.Table:  # fmt: skip
    """The entries to append (ENTRY_SCHEMA), each reversal just before the line superseding it.

    `reversed_entries` are the current entries named by `plan.reverse_seqs`, as stored,
    with a `_row` column (the superseding incoming row); None when there are none.
    """
    incoming = batch.append_column("_row", pa.array(np.arange(batch.num_rows, dtype=np.int64)))
    # every line new or revised (the usual feed): no copy of the whole batch
    lines_new = incoming if plan.keep.all() else incoming.filter(pa.array(plan.keep))
    parts = []
    if reversed_entries is not None and reversed_entries.num_rows:
        negated = reversed_entries.set_column(
            reversed_entries.schema.get_field_index("quantity"), "quantity",
            pc.negate(reversed_entries["quantity"]),
        ).set_column(
            reversed_entries.schema.get_field_index("amount_minor"), "amount_minor",
            pc.negate(reversed_entries["amount_minor"]),
        )  # fmt: skip
        parts.append(_shape(negated, "reversal", -1, order=0))
    if lines_new.num_rows:
        open_line = pc.cast(pc.equal(lines_new["status"], "open"), pa.int8())
        parts.append(_shape(lines_new, "line", open_line, order=1))
    if len(parts) > 1:
        entries = pa.concat_tables(parts)
        order = pc.sort_indices(entries, [("_row", "ascending"), ("_order", "ascending")])
        entries = entries.take(order)
    elif parts:  # one kind only: already in feed order
        entries = parts[0]
    else:
        return pa.Table.from_batches([], schema=ENTRY_SCHEMA)
    entries = entries.drop_columns(["_row", "_order"])
    m = entries.num_rows
    entries = entries.set_column(
        0, "entry_seq", pa.array(np.arange(first_seq, first_seq + m, dtype=np.int64))
    )
    entries = entries.set_column(1, "feed_seq", pa.array(np.full(m, feed_seq, dtype=np.int64)))
    return entries.select(ENTRY_SCHEMA.names).cast(ENTRY_SCHEMA)


def _shape(table: pa.Table, kind: str, lines, order: int) -> pa.Table:
    n = table.num_rows
    cols = {
        "entry_seq": pa.array(np.zeros(n, np.int64)),
        "feed_seq": pa.array(np.zeros(n, np.int64)),
        "entry_kind": pa.repeat(pa.scalar(kind, pa.string()), n),
        "lines": lines if isinstance(lines, pa.ChunkedArray | pa.Array)
        else pa.array(np.full(n, lines, np.int8)),
    }  # fmt: skip
    for f in LINE_SCHEMA:
        cols[f.name] = table[f.name].cast(f.type)
    cols["_row"] = table["_row"].cast(pa.int64())
    cols["_order"] = pa.array(np.full(n, order, np.int8))
    return pa.table(cols)


def feed_answer(
    feed_id: str, feed_seq: int, plan: Revisions, entries: int, warnings: list[dict]
) -> dict:
    """The answer a sender gets (stored with the feed: a replay gets it again)."""
    return {
        "feed_id": feed_id,
        "feed_seq": feed_seq,
        "lines_accepted": int(plan.keep.sum()),
        "lines_unchanged": plan.unchanged,
        "entries_appended": entries,
        "warnings": warnings,
    }
