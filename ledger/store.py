"""The DuckDB store: the ledger's source of truth. The only module that imports duckdb.

One write connection behind a lock; each reader thread gets its own cursor.
Every write is one explicit transaction: a feed is in the file whole or not
at all. `line_entries` is append-only: a new revision or a cancellation
appends the reversal of the line's current entry, then the new entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger import snapshots, sql_sandbox
from ledger.batches import ReferenceView
from ledger.errors import LedgerError, RowError, invalid
from ledger.keys import KeyIndex
from ledger.money import MINOR_EXPONENT
from ledger.schema import CONTENT_FIELDS, ENTRY_SCHEMA, LINE_SCHEMA

SCHEMA_VERSION = 1

# Reference tables: name -> (DDL columns, key columns). Public names for ad-hoc SQL.
REFERENCE_TABLES: dict[str, tuple[str, list[str]]] = {
    "entities": (
        "entity VARCHAR NOT NULL, hq_country VARCHAR NOT NULL, parent_hq_country VARCHAR, "
        "fy_start_month INTEGER NOT NULL",
        ["entity"],
    ),
    "suppliers": ("supplier VARCHAR NOT NULL, hq_country VARCHAR NOT NULL", ["supplier"]),
    "chips": (
        "chip_model VARCHAR NOT NULL, vendor VARCHAR NOT NULL, origin_country VARCHAR NOT NULL, "
        "tpp BIGINT NOT NULL, die_area_mm2 DOUBLE, source VARCHAR",
        ["chip_model"],
    ),
    "fx_rates": (
        "rate_date DATE NOT NULL, currency VARCHAR NOT NULL, usd_per_unit DECIMAL(18,12) NOT NULL, "
        "synthetic BOOLEAN NOT NULL DEFAULT false",
        ["rate_date", "currency"],
    ),
    "budgets": (
        "entity VARCHAR NOT NULL, budget_code VARCHAR NOT NULL, fiscal_year INTEGER NOT NULL, "
        "currency VARCHAR NOT NULL, amount_minor BIGINT NOT NULL, action VARCHAR NOT NULL, "
        "warn_share DECIMAL(7,6) NOT NULL DEFAULT 0.9",
        ["entity", "budget_code", "fiscal_year"],
    ),
    "sourcing_policies": (
        "policy VARCHAR NOT NULL, jurisdiction VARCHAR NOT NULL, destinations VARCHAR NOT NULL, "
        "metric VARCHAR NOT NULL, min_share DECIMAL(7,6) NOT NULL, entity VARCHAR, "
        "fiscal_year INTEGER, currency VARCHAR NOT NULL DEFAULT 'USD'",
        ["policy"],
    ),
    "export_rules": (
        "rule_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, effective_from DATE NOT NULL, "
        "effective_to DATE, params VARCHAR NOT NULL, severity VARCHAR NOT NULL, "
        "source VARCHAR NOT NULL",
        ["rule_id"],
    ),
}

_ENTRY_DDL = ", ".join(
    f"{f.name} {_t}"
    for f, _t in zip(
        ENTRY_SCHEMA,
        [
            "BIGINT NOT NULL", "BIGINT NOT NULL", "VARCHAR NOT NULL", "TINYINT NOT NULL",
            "VARCHAR NOT NULL", "INTEGER NOT NULL", "INTEGER NOT NULL", "VARCHAR NOT NULL",
            "VARCHAR NOT NULL", "DATE NOT NULL", "INTEGER NOT NULL", "VARCHAR NOT NULL",
            "VARCHAR NOT NULL", "BIGINT NOT NULL", "BIGINT NOT NULL", "BIGINT NOT NULL",
            "VARCHAR NOT NULL", "VARCHAR NOT NULL", "VARCHAR NOT NULL", "VARCHAR NOT NULL",
            "VARCHAR NOT NULL", "VARCHAR", "VARCHAR", "BOOLEAN NOT NULL", "VARCHAR",
        ],
        strict=True,
    )
)  # fmt: skip

_DDL = [
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS currencies "
    "(currency VARCHAR PRIMARY KEY, minor_exponent INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS feeds (seq BIGINT NOT NULL, feed_id VARCHAR NOT NULL, "
    "sha256 VARCHAR NOT NULL, lines BIGINT NOT NULL, lines_unchanged BIGINT NOT NULL, "
    "entries BIGINT NOT NULL, accepted_at TIMESTAMP NOT NULL, answer VARCHAR NOT NULL)",
    # No PRIMARY KEY: keys are enforced in the append path (an index on a
    # 10^7-row append-only table makes WAL replay slow and fragile).
    f"CREATE TABLE IF NOT EXISTS line_entries ({_ENTRY_DDL})",
    *[f"CREATE TABLE IF NOT EXISTS {t} ({cols})" for t, (cols, _) in REFERENCE_TABLES.items()],
    # n / d rounded half-even, exact in 128-bit integers (the kernels' rule).
    "CREATE OR REPLACE MACRO half_even_div(n, d) AS "
    "sign(n) * ((abs(n) // d) + CASE WHEN 2 * (abs(n) % d) > d "
    "OR (2 * (abs(n) % d) = d AND (abs(n) // d) % 2 = 1) THEN 1 ELSE 0 END)",
    # USD is 1 on every date; other rates as integers of 10^-12 USD.
    "CREATE OR REPLACE VIEW fx_rates_e12 AS "
    "SELECT rate_date, currency, CAST(usd_per_unit * 1000000000000 AS HUGEINT) AS rate_e12 "
    "FROM fx_rates WHERE currency <> 'USD' "
    "UNION ALL SELECT DATE '1900-01-01', 'USD', CAST(1000000000000 AS HUGEINT)",
    # The current state of every line: its latest 'line' entry.
    "CREATE OR REPLACE VIEW orders AS SELECT * EXCLUDE (entry_kind) "
    "FROM line_entries WHERE entry_kind = 'line' "
    "QUALIFY row_number() OVER (PARTITION BY order_id, line_no ORDER BY entry_seq DESC) = 1",
    # Each line converted at the latest rate on or before its order date.
    "CREATE OR REPLACE VIEW orders_usd AS "
    "SELECT o.*, CAST(half_even_div(CAST(o.amount_minor AS HUGEINT) * r.rate_e12 * 100, "
    "CAST(1000000000000 AS HUGEINT) * CAST(pow(10, c.minor_exponent) AS HUGEINT)) AS BIGINT) "
    "AS amount_usd_minor "
    "FROM orders o JOIN currencies c USING (currency) "
    "ASOF LEFT JOIN fx_rates_e12 r ON o.currency = r.currency AND o.order_date >= r.rate_date",
]


@dataclass
class AppendResult:
    answer: dict  # the answer to give the sender (also for a replay)
    replay: bool  # the same feed was already in the ledger
    entries: pa.Table | None = None  # the appended entries (ENTRY_SCHEMA), None on replay
    superseded_seqs: np.ndarray | None = None  # entry_seq of entries no longer current
    new_key_hashes: np.ndarray | None = None  # line keys new to the ledger (for KeyIndex)


# A line key's hash for the KeyIndex: the same types on both sides, or equal keys could
# hash apart and a revision pass for a new line.
_KEY_HASH = "hash(CAST(order_id AS VARCHAR), CAST(line_no AS INTEGER))"

# The current-entry answer when no incoming line is in the ledger.
_NO_CURRENT = pa.table(
    {
        "_row": pa.array([], pa.int64()),
        "cur_seq": pa.array([], pa.int64()),
        "cur_rev": pa.array([], pa.int32()),
        "cur_status": pa.array([], pa.string()),
        "same": pa.array([], pa.bool_()),
    }
)


def _first(con, sql: str, params: list | None = None) -> tuple | None:
    """The first row, reading the result to its end (DuckDB 2 refuses half-read results)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store:
    """Owns the DuckDB file. Thread-safe: writes serialised, a cursor per reader thread."""

    def __init__(
        self,
        path: str | os.PathLike,
        snapshot_dir: str | os.PathLike | None = None,
        sql_memory_mb: int = sql_sandbox.DEFAULT_SQL_MEMORY_MB,
    ):
        self.path = str(path)
        self.snapshot_dir = str(Path(snapshot_dir).resolve()) if snapshot_dir else None
        config = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        self._con = duckdb.connect(self.path, config=config)
        self._lock = threading.RLock()
        self._local = threading.local()
        self._migrate()
        # Harden after migration: no file or network access at all (snapshots are written
        # on their own connections), a memory limit, the configuration locked. A second
        # Store on the same file in one process shares DuckDB's instance, which the first
        # one has already hardened and locked.
        self._keys: KeyIndex | None = None  # built on the first append
        if not _first(self._con, "SELECT current_setting('lock_configuration')")[0]:
            sql_sandbox.harden(self._con, sql_memory_mb)
        self._read_counters(self._con)

    def _read_counters(self, con) -> None:
        self._next_entry_seq = _first(
            con, "SELECT coalesce(max(entry_seq) + 1, 0) FROM line_entries"
        )[0]
        self._next_feed_seq = _first(con, "SELECT coalesce(max(seq) + 1, 1) FROM feeds")[0]
        self._keys = None

    # -- lifecycle -------------------------------------------------------

    def _migrate(self) -> None:
        con = self._con
        con.execute("BEGIN")
        try:
            for ddl in _DDL:
                con.execute(ddl)
            version = _first(con, "SELECT max(version) FROM schema_version")[0]
            if version is None:
                con.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION])
            elif version > SCHEMA_VERSION:
                raise LedgerError(
                    "schema-too-new", "Ledger file is newer than this program",
                    f"{self.path} has schema {version}; this program knows {SCHEMA_VERSION}", 500,
                )  # fmt: skip
            con.execute(
                "INSERT INTO currencies SELECT * FROM (VALUES "
                + ", ".join(f"('{c}', {e})" for c, e in sorted(MINOR_EXPONENT.items()))
                + ") v(c, e) WHERE c NOT IN (SELECT currency FROM currencies)"
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading ---------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own cursor (a reader never blocks the writer)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cursor = cur
        return cur

    def _scalar(self, sql: str, params: list | None = None):
        return _first(self.cursor(), sql, params)[0]

    def query(self, sql: str, params: list | None = None) -> pa.Table:
        return self.cursor().sql(sql, params=params or None).to_arrow_table()

    def reader(self, sql: str, batch_rows: int = 1_000_000) -> pa.RecordBatchReader:
        return self.cursor().sql(sql).to_arrow_reader(batch_rows)

    def count(self, table: str) -> int:
        return int(self._scalar(f"SELECT count(*) FROM {table}"))

    def content_hash(self) -> str:
        """A digest of every row of every ledger table, for 'nothing changed' checks."""
        h = hashlib.sha256()
        for table in ["feeds", "line_entries", *REFERENCE_TABLES]:
            order = "seq" if table == "feeds" else "entry_seq" if table == "line_entries" else "ALL"
            rows = self.cursor().execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            h.update(f"{table}:{len(rows)}:{rows!r}".encode())
        return h.hexdigest()

    def reference_view(self) -> ReferenceView:
        cur = self.cursor()
        entities = dict(cur.execute("SELECT entity, fy_start_month FROM entities").fetchall())
        suppliers = frozenset(
            r[0] for r in cur.execute("SELECT supplier FROM suppliers").fetchall()
        )
        chips = frozenset(r[0] for r in cur.execute("SELECT chip_model FROM chips").fetchall())
        first = dict(
            cur.execute("SELECT currency, min(rate_date) FROM fx_rates GROUP BY 1").fetchall()
        )
        return ReferenceView(entities, suppliers, chips, first)

    def entries(self, start_seq: int = 0, batch_rows: int = 1_000_000) -> pa.RecordBatchReader:
        return self.reader(
            f"SELECT * FROM line_entries WHERE entry_seq >= {int(start_seq)} ORDER BY entry_seq",
            batch_rows,
        )

    def feed_boundary(self, n_entries: int) -> tuple[int, str] | None:
        """(seq, sha256) of the feed whose entries end exactly at entry n_entries, if any.

        (0, "") for an empty prefix. None when n_entries splits a feed or is past the end.
        """
        if n_entries == 0:
            return (0, "")
        row = _first(
            self.cursor(),
            # the feeds' own entry counts: no scan of line_entries (each feed's row is
            # written in the transaction that appends its entries)
            "SELECT f.seq, f.sha256, (SELECT sum(entries) FROM feeds WHERE seq <= f.seq) "
            "FROM feeds f WHERE f.seq = (SELECT feed_seq FROM line_entries WHERE entry_seq = ?)",
            [int(n_entries) - 1],
        )
        if row is None or row[2] != n_entries:
            return None
        return (int(row[0]), row[1])

    @property
    def next_entry_seq(self) -> int:
        return self._next_entry_seq

    # -- reference data --------------------------------------------------

    def replace_reference(self, table: str, rows: pa.Table) -> int:
        """Insert rows; rows with the same key replace earlier ones. One transaction."""
        if table not in REFERENCE_TABLES:
            raise LedgerError("unknown-table", "Unknown reference table", table, 404)
        _, keys = REFERENCE_TABLES[table]
        with self._lock:
            con = self._con
            con.execute("BEGIN")
            try:
                con.register("incoming_ref", rows)
                on = " AND ".join(f"t.{k} IS NOT DISTINCT FROM i.{k}" for k in keys)
                con.execute(
                    f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM incoming_ref i WHERE {on})"
                )
                cols = ", ".join(rows.column_names)
                con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming_ref")
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("incoming_ref")
        return rows.num_rows

    def reference(self, table: str) -> pa.Table:
        if table not in REFERENCE_TABLES:
            raise LedgerError("unknown-table", "Unknown reference table", table, 404)
        _, keys = REFERENCE_TABLES[table]
        return self.query(f"SELECT * FROM {table} ORDER BY {', '.join(keys)}")

    # -- feeds -----------------------------------------------------------

    def append_feed(
        self,
        batch: pa.Table,
        feed_id: str | None,
        content: bytes,
        precheck: Callable[[pa.Table], list[dict]] | None = None,
        on_commit: Callable[[AppendResult], None] | None = None,
    ) -> AppendResult:
        """Append a validated batch (LINE_SCHEMA) as one feed, in one transaction.

        Idempotent: the same feed id with the same content answers as the first
        time; the same id with other content is a conflict. `precheck` sees the
        entries about to be appended (inside the transaction, under the write
        lock) and may raise to refuse the feed or return warnings; `on_commit`
        runs after COMMIT, still under the lock, so followers see feeds in order.
        """
        assert batch.schema.equals(LINE_SCHEMA), batch.schema
        sha = _sha256(content)
        feed_id = feed_id or f"sha256:{sha}"
        with self._lock:
            con = self._con
            con.execute("BEGIN")
            try:
                result = self._append_locked(con, batch, feed_id, sha, precheck)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                for name in ("incoming", "new_entries"):
                    try:
                        con.unregister(name)
                    except duckdb.Error:
                        pass
            if not result.replay:
                self._next_entry_seq += result.entries.num_rows
                self._next_feed_seq += 1
                if self._keys is not None:
                    self._keys.add(result.new_key_hashes)
                if on_commit is not None:
                    # still under the write lock: listeners see appends in commit order
                    on_commit(result)
            return result

    def _append_locked(self, con, batch, feed_id, sha, precheck) -> AppendResult:
        prior = _first(con, "SELECT sha256, answer FROM feeds WHERE feed_id = ?", [feed_id])
        if prior is not None:
            if prior[0] == sha:
                return AppendResult(json.loads(prior[1]), replay=True)
            raise LedgerError(
                "feed-conflict", "Feed id already used for other content",
                f"feed {feed_id!r} was accepted with other content (sha256 {prior[0][:16]}...)",
                409,
            )  # fmt: skip
        if _first(con, "SELECT coalesce(max(seq), 0) FROM feeds")[0] != self._next_feed_seq - 1:
            # another Store object on this file (one DuckDB instance) appended meanwhile
            self._read_counters(con)
        n = batch.num_rows
        incoming = batch.append_column("_row", pa.array(np.arange(n, dtype=np.int64)))
        con.register("incoming", incoming)
        hashed = con.sql(f"SELECT _row, {_KEY_HASH} AS h FROM incoming").to_arrow_table()
        key_hash = np.empty(n, dtype=np.uint64)
        key_hash[hashed["_row"].to_numpy()] = hashed["h"].to_numpy()
        if self._keys is None:
            self._keys = KeyIndex(
                con.sql(f"SELECT {_KEY_HASH} AS h FROM line_entries")
                .to_arrow_table()["h"]
                .to_numpy()
            )
        if self._keys.contains(key_hash).any():
            current = self._current_entries(con)
        else:  # every line is new: no need to look for current entries
            current = _NO_CURRENT
        rows = current["_row"].to_numpy()
        cur_seq = current["cur_seq"].to_numpy()
        cur_rev = current["cur_rev"].to_numpy()
        new_rev = batch["revision"].to_numpy()[rows]
        same_content = current["same"].to_numpy(zero_copy_only=False).astype(bool)
        stale = new_rev < cur_rev
        clash = (new_rev == cur_rev) & ~same_content
        unchanged = (new_rev == cur_rev) & same_content
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

        keep = np.ones(n, dtype=bool)
        keep[rows[unchanged]] = False
        revised = rows[new_rev > cur_rev]
        revised_open = (new_rev > cur_rev) & (
            current["cur_status"].to_numpy(zero_copy_only=False) == "open"
        )
        reverse_seqs = cur_seq[revised_open]
        superseded = cur_seq[new_rev > cur_rev]
        feed_seq = self._next_feed_seq
        base = self._next_entry_seq

        # Reversals: the current entry with quantity, amount and line count negated.
        reversals = None
        if len(reverse_seqs):
            reversals = con.sql(
                """
                SELECT e.* EXCLUDE (entry_seq, feed_seq, entry_kind, lines, quantity, amount_minor),
                       -e.quantity AS quantity, -e.amount_minor AS amount_minor, r.row AS _row
                FROM line_entries e JOIN (SELECT unnest($seqs) AS seq, unnest($rows) AS row) r
                  ON e.entry_seq = r.seq
                """,
                params={
                    "seqs": [int(s) for s in reverse_seqs],
                    "rows": [int(r) for r in rows[revised_open]],
                },
            ).to_arrow_table()
        del revised
        lines_new = incoming.filter(pa.array(keep))
        parts = []
        if reversals is not None:
            parts.append(self._shape(reversals, "reversal", -1, order=0))
        if lines_new.num_rows:
            open_line = pc.cast(pc.equal(lines_new["status"], "open"), pa.int8())
            parts.append(self._shape(lines_new, "line", open_line, order=1))
        if reversals is not None:  # each reversal goes just before the line superseding it
            entries = pa.concat_tables(parts)
            order = pc.sort_indices(entries, [("_row", "ascending"), ("_order", "ascending")])
            entries = entries.take(order).drop_columns(["_row", "_order"])
        elif parts:  # new lines only: already in feed order
            entries = parts[0].drop_columns(["_row", "_order"])
        else:
            entries = ENTRY_SCHEMA.empty_table()
        m = entries.num_rows
        entries = entries.set_column(
            0, "entry_seq", pa.array(np.arange(base, base + m, dtype=np.int64))
        )
        entries = entries.set_column(1, "feed_seq", pa.array(np.full(m, feed_seq, dtype=np.int64)))
        entries = entries.select(ENTRY_SCHEMA.names).cast(ENTRY_SCHEMA)
        warnings = precheck(entries) if (precheck and m) else []

        lines_accepted = int(keep.sum())
        answer = {
            "feed_id": feed_id,
            "feed_seq": feed_seq,
            "lines_accepted": lines_accepted,
            "lines_unchanged": int(unchanged.sum()),
            "entries_appended": m,
            "warnings": warnings,
        }
        if m:
            con.register("new_entries", entries)
            con.execute("INSERT INTO line_entries SELECT * FROM new_entries")
        con.execute(
            "INSERT INTO feeds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [feed_seq, feed_id, sha, lines_accepted, int(unchanged.sum()), m,
             dt.datetime.now(dt.UTC).replace(tzinfo=None), json.dumps(answer)],
        )  # fmt: skip
        return AppendResult(
            answer, replay=False, entries=entries, superseded_seqs=superseded,
            new_key_hashes=np.delete(key_hash, rows),
        )  # fmt: skip

    @staticmethod
    def _current_entries(con) -> pa.Table:
        """Per incoming line already in the ledger: its current entry, and whether unchanged."""
        same = " AND ".join(f"i.{f} IS NOT DISTINCT FROM c.{f}" for f in CONTENT_FIELDS)
        return con.sql(
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

    @staticmethod
    def _shape(table: pa.Table, kind: str, lines, order: int) -> pa.Table:
        n = table.num_rows
        cols = {
            "entry_seq": pa.array(np.zeros(n, np.int64)),
            "feed_seq": pa.array(np.zeros(n, np.int64)),
            "entry_kind": pa.array([kind] * n, pa.string()),
            "lines": lines if isinstance(lines, pa.ChunkedArray | pa.Array)
            else pa.array(np.full(n, lines, np.int8)),
        }  # fmt: skip
        for f in LINE_SCHEMA:
            cols[f.name] = table[f.name].cast(f.type)
        cols["_row"] = table["_row"].cast(pa.int64())
        cols["_order"] = pa.array(np.full(n, order, np.int8))
        return pa.table(cols)

    # -- ad-hoc SQL -------------------------------------------------------

    def read_only_sql(
        self, sql: str, max_rows: int = 10_000, timeout_s: float = 5.0
    ) -> tuple[pa.Table, bool]:
        """One checked read-only statement: (at most max_rows rows, whether more were cut)."""
        return sql_sandbox.to_table(
            self._con, sql, sql_sandbox.SqlLimits(max_rows, timeout_s=timeout_s)
        )

    def run_sql(
        self, sql: str, limits: sql_sandbox.SqlLimits, sink: sql_sandbox.AnswerSink
    ) -> bool:
        """One checked read-only statement streamed into sink; whether the answer was cut."""
        return sql_sandbox.run(self._con, sql, limits, sink)

    # -- feeds log and snapshots ----------------------------------------

    def feeds(self) -> pa.Table:
        return self.query("SELECT * EXCLUDE (answer) FROM feeds ORDER BY seq")

    def snapshot(self, target_dir: str | os.PathLike) -> dict:
        """Parquet of every table plus a DuckDB copy another process can open."""
        return snapshots.write(self._con, self.snapshot_dir, target_dir, _DDL)
