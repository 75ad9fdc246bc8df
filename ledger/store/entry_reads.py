"""The store's named reads of line entries: for the resident columns, the write path's
revision plan, flagged lines' details and lease parties. A part of `Store`
(ledger.store.store), which gives it `cursor()` and `query()`; SQL stays in the store.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ledger.domain.entries import CURRENT_SCHEMA, NO_CURRENT
from ledger.domain.schema import CONTENT_FIELDS

# A line key's hash for the key index: the same types on both sides, or equal keys could
# hash apart and a revision pass for a new line.
_KEY_HASH = "hash(CAST(order_id AS VARCHAR), CAST(line_no AS INTEGER))"

# Whether an entry is its line's current, open `line` entry (the resident ACTIVE flag).
_ACTIVE = (
    "(e.entry_kind = 'line' AND e.status = 'open' AND e.entry_seq = "
    "max(e.entry_seq) FILTER (WHERE e.entry_kind = 'line') "
    "OVER (PARTITION BY e.order_id, e.line_no)) AS active"
)


class EntryReads:
    """The methods of `Store` (ledger.store.store) that read line entries."""

    # -- entries, for the resident columns -------------------------------

    def entries_with_active(self, batch_rows: int = 1_000_000) -> pa.RecordBatchReader:
        """Every entry, in order, with `active` (its line's current open `line` entry)."""
        sql = f"SELECT e.*, {_ACTIVE} FROM line_entries e ORDER BY e.entry_seq"
        return self.cursor().sql(sql).to_arrow_reader(batch_rows)

    def entries(self, start_seq: int = 0, batch_rows: int = 1_000_000) -> pa.RecordBatchReader:
        """Entries from start_seq on, in order."""
        sql = f"SELECT * FROM line_entries WHERE entry_seq >= {int(start_seq)} ORDER BY entry_seq"
        return self.cursor().sql(sql).to_arrow_reader(batch_rows)

    def active_of_keys_touched_since(self, start_seq: int) -> pa.Table:
        """(entry_seq, active) of every entry whose line has an entry at or after start_seq."""
        return self.query(
            f"SELECT e.entry_seq, {_ACTIVE} FROM line_entries e "
            "SEMI JOIN (SELECT DISTINCT order_id, line_no FROM line_entries "
            f"WHERE entry_seq >= {int(start_seq)}) t "
            "ON e.order_id = t.order_id AND e.line_no = t.line_no"
        )

    def key_hashes(self, batch: pa.Table | None = None) -> np.ndarray:
        """uint64 hash of (order_id, line_no) of every entry (None) or of each batch row."""
        cur = self.cursor()
        if batch is None:
            return (
                cur.sql(f"SELECT {_KEY_HASH} AS h FROM line_entries")
                .to_arrow_table()["h"]
                .to_numpy()
            )
        keys = batch.select(["order_id", "line_no"])
        cur.register("hash_keys", keys)
        try:
            return (
                cur.sql(f"SELECT {_KEY_HASH} AS h FROM hash_keys").to_arrow_table()["h"].to_numpy()
            )
        finally:
            cur.unregister("hash_keys")

    def current_entries(self, batch: pa.Table) -> pa.Table:
        """Per incoming line already in the ledger: its current entry, and whether unchanged."""
        same = " AND ".join(f"i.{f} IS NOT DISTINCT FROM c.{f}" for f in CONTENT_FIELDS)
        cur = self.cursor()
        incoming = batch.append_column("_row", pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        cur.register("incoming", incoming)
        try:
            found = cur.sql(
                f"""
                WITH cur AS (
                    SELECT e.* FROM line_entries e
                    SEMI JOIN incoming i ON e.order_id = i.order_id AND e.line_no = i.line_no
                    WHERE e.entry_kind = 'line'
                    QUALIFY row_number() OVER (PARTITION BY e.order_id, e.line_no
                                               ORDER BY e.entry_seq DESC) = 1)
                SELECT i._row, c.entry_seq AS cur_seq, c.revision AS cur_rev,
                       c.status AS cur_status, ({same}) AS same
                FROM incoming i JOIN cur c ON i.order_id = c.order_id AND i.line_no = c.line_no
                ORDER BY i._row
                """
            ).to_arrow_table()
        finally:
            cur.unregister("incoming")
        return found.cast(CURRENT_SCHEMA) if found.num_rows else NO_CURRENT

    def current_lines(self, keys: pa.Table) -> pa.Table:
        """The current `line` entry of each (order_id, line_no, _row) key, with its `_row`."""
        cur = self.cursor()
        cur.register("cancel_keys", keys)
        try:
            return cur.sql(
                """
                SELECT e.*, k._row FROM line_entries e
                JOIN cancel_keys k ON e.order_id = k.order_id AND e.line_no = k.line_no
                WHERE e.entry_kind = 'line'
                QUALIFY row_number() OVER (PARTITION BY e.order_id, e.line_no
                                           ORDER BY e.entry_seq DESC) = 1
                ORDER BY k._row
                """
            ).to_arrow_table()
        finally:
            cur.unregister("cancel_keys")

    def entries_at(self, seqs: np.ndarray, rows: np.ndarray) -> pa.Table:
        """The stored entries with these entry_seq, each with `_row` (the given row beside it)."""
        return (
            self.cursor()
            .sql(
                "SELECT e.*, r.row AS _row FROM line_entries e "
                "JOIN (SELECT unnest($seqs) AS seq, unnest($rows) AS row) r ON e.entry_seq = r.seq",
                params={"seqs": [int(s) for s in seqs], "rows": [int(r) for r in rows]},
            )
            .to_arrow_table()
        )

    def line_details(self, seqs: np.ndarray) -> list[dict]:
        """The fields a flagged line shows, for these entry_seq."""
        if not len(seqs):
            return []
        return (
            self.cursor()
            .sql(
                "SELECT entry_seq, order_id, line_no, revision, entity, order_date, chip_model, "
                "destination, acquisition, license_ref, supplier, owner, operator, "
                "identity_reviewed FROM line_entries WHERE entry_seq IN (SELECT unnest($seqs))",
                params={"seqs": [int(s) for s in np.unique(seqs)]},
            )
            .to_arrow_table()
            .to_pylist()
        )

    # -- lease parties (restricted-party screening) ---------------------

    _LEASE_ROLES = ("owner", "operator")

    def lease_party_names(self, start_seq: int = 0) -> list[tuple[str, str]]:
        """(role, name) of every lease owner and operator named on entries from start_seq."""
        return [
            (role, name)
            for role in self._LEASE_ROLES
            for (name,) in self.cursor()
            .execute(
                f"SELECT DISTINCT {role} FROM line_entries "
                f"WHERE entry_seq >= $1 AND {role} IS NOT NULL ORDER BY 1",
                [int(start_seq)],
            )
            .fetchall()
        ]

    def entries_naming(self, role: str, names: list[str]) -> pa.Table:
        """entry_seq and the name of the entries whose `role` (owner or operator) is one of
        `names`, by entry_seq."""
        if role not in self._LEASE_ROLES:
            raise ValueError(f"unknown lease role {role!r}")
        return (
            self.cursor()
            .sql(
                f"SELECT entry_seq, {role} AS name FROM line_entries "
                f"WHERE {role} IN (SELECT unnest($names)) ORDER BY entry_seq",
                params={"names": list(names)},
            )
            .to_arrow_table()
        )
