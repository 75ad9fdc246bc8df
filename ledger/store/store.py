"""The DuckDB store: the ledger's source of truth, and the only place that writes SQL.

One write connection behind a lock; each reader thread gets its own cursor.
Every write is one explicit transaction: a feed is in the file whole or not
at all. Callers ask named questions (`feed_by_id`, `current_entries`,
`entities`...) and get Arrow tables or plain values back; they never hold SQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from ledger.domain.errors import LedgerError
from ledger.domain.money import MINOR_EXPONENT
from ledger.domain.schema import ENTRY_SCHEMA
from ledger.domain.validate import ReferenceView
from ledger.store import sandbox
from ledger.store.ddl import (
    _TABLES,
    MIGRATE_FX_RATES_V2,
    REFERENCE_TABLES,
    SCHEMA_VERSION,
    currency_rows,
    views,
)
from ledger.store.entry_reads import EntryReads
from ledger.store.txn import rollback

# The first day each currency has a value in the pivot (DESIGN section 3, v(C)): its first
# row against the pivot, or the first day a row links it to a currency that has one.
_FIRST_VALUE_DAY = (
    "WITH lf AS (SELECT c, o, min(d) AS d FROM ("
    "SELECT base AS c, quote AS o, rate_date AS d FROM fx_rates "
    "UNION ALL SELECT quote, base, rate_date FROM fx_rates) GROUP BY c, o), "
    "direct AS (SELECT c, d FROM lf WHERE o = '{pivot}') "
    "SELECT c, min(d) FROM (SELECT c, d FROM direct UNION ALL "
    "SELECT l.c, greatest(l.d, x.d) FROM lf l JOIN direct x ON x.c = l.o) "
    "WHERE c <> '{pivot}' GROUP BY c"
)

# Seed: table name -> rows, inserted in the transaction that creates a new ledger.
Seed = Callable[[], dict[str, pa.Table]]


class StaleState(Exception):
    """Another Store on this file (one DuckDB instance in this process) appended meanwhile."""


class LedgerLocked(Exception):
    """Another process holds the ledger file (DuckDB allows one writer process)."""


def _first(con, sql: str, params: list | None = None) -> tuple | None:
    """The first row, reading the result to its end (DuckDB 2 refuses half-read results)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def _connect(path: str) -> duckdb.DuckDBPyConnection:
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    try:
        return duckdb.connect(path, config=config)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise LedgerLocked(str(e).splitlines()[0]) from None
        raise


class Store(EntryReads):
    """Owns the DuckDB file. Thread-safe: writes serialised, a cursor per reader thread."""

    def __init__(
        self, path: str | os.PathLike, snapshot_dir: str | os.PathLike | None = None,
        seed: Seed | None = None, sql_memory_mb: int = sandbox.DEFAULT_SQL_MEMORY_MB,
        pivot: str | None = None,
    ):  # fmt: skip
        self.path = str(path)
        self.pivot = (pivot or "USD").strip().upper()
        if self.pivot not in MINOR_EXPONENT:
            raise LedgerError(
                "bad-pivot", "Unknown pivot currency",
                f"pivot {self.pivot!r} is not a supported ISO 4217 code", 500,
            )  # fmt: skip
        self.snapshot_dir = str(Path(snapshot_dir).resolve()) if snapshot_dir else None
        self._con = _connect(self.path)
        self._lock = threading.RLock()
        self._local = threading.local()
        self.created = self._migrate(seed)
        # Harden after migration: no file or network access at all (snapshots are written
        # on their own connections), a memory limit, the configuration locked. A second
        # Store on the same file in one process shares DuckDB's instance, which the first
        # one has already hardened and locked.
        if not _first(self._con, "SELECT current_setting('lock_configuration')")[0]:
            sandbox.harden(self._con, sql_memory_mb)

    # -- lifecycle -------------------------------------------------------

    def _migrate(self, seed: Seed | None) -> bool:
        """Create or check the schema in one transaction; a new ledger also gets `seed`."""
        con = self._con
        con.execute("BEGIN")
        try:
            for ddl in _TABLES:
                con.execute(ddl)
            version = _first(con, "SELECT max(version) FROM schema_version")[0]
            created = version is None
            if created:
                con.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION])
                for table, rows in (seed() if seed else {}).items():
                    self._insert_reference(con, table, rows)
            elif version > SCHEMA_VERSION:
                raise LedgerError(
                    "schema-too-new", "Ledger file is newer than this program",
                    f"{self.path} has schema {version}; this program knows {SCHEMA_VERSION}", 500,
                )  # fmt: skip
            elif version < SCHEMA_VERSION:
                self._upgrade(con)
            for ddl in views(self.pivot):
                con.execute(ddl)
            con.execute(
                f"INSERT INTO currencies SELECT * FROM (VALUES {currency_rows()}) v(c, e) "
                "WHERE c NOT IN (SELECT currency FROM currencies)"
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return created

    @staticmethod
    def _upgrade(con) -> None:
        """Older schemas to this one, inside the opening transaction."""
        columns = {r[1] for r in con.execute("PRAGMA table_info('fx_rates')").fetchall()}
        if "usd_per_unit" in columns:
            for ddl in MIGRATE_FX_RATES_V2:
                con.execute(ddl)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION])

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
        """Any SELECT, for the store's own readers and for tests; other modules ask by name."""
        return self.cursor().sql(sql, params=params or None).to_arrow_table()

    def count(self, table: str) -> int:
        if table not in ("feeds", "line_entries", "currencies", *REFERENCE_TABLES):
            raise ValueError(f"unknown table {table!r}")
        return int(self._scalar(f"SELECT count(*) FROM {table}"))

    def content_hash(self) -> str:
        """A digest of every row of every ledger table, for 'nothing changed' checks."""
        h = hashlib.sha256()
        for table in ["feeds", "line_entries", *REFERENCE_TABLES]:
            order = "seq" if table == "feeds" else "entry_seq" if table == "line_entries" else "ALL"
            rows = self.cursor().execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            h.update(f"{table}:{len(rows)}:{rows!r}".encode())
        return h.hexdigest()

    def counters(self) -> tuple[int, int]:
        """(next entry_seq, next feed seq), read from the file."""
        return self._counters_in(self.cursor())

    def feed_by_id(self, feed_id: str) -> tuple[str, dict] | None:
        """(sha256, first answer) of an accepted feed, or None."""
        row = _first(self.cursor(), "SELECT sha256, answer FROM feeds WHERE feed_id = ?", [feed_id])
        return None if row is None else (row[0], json.loads(row[1]))

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

    # -- reference data --------------------------------------------------

    def reference_view(self) -> ReferenceView:
        cur = self.cursor()
        entities = dict(cur.execute("SELECT entity, fy_start_month FROM entities").fetchall())
        suppliers = frozenset(
            r[0] for r in cur.execute("SELECT supplier FROM suppliers").fetchall()
        )
        chips = frozenset(r[0] for r in cur.execute("SELECT chip_model FROM chips").fetchall())
        first = dict(cur.execute(_FIRST_VALUE_DAY.format(pivot=self.pivot)).fetchall())
        first[self.pivot] = dt.date.min  # the pivot is worth 1 of itself on every day
        return ReferenceView(entities, suppliers, chips, first)

    def fy_start_months_in_use(self) -> dict[str, int]:
        """fy_start_month of every entity that has lines (their stored fiscal years use it)."""
        rows = (
            self.cursor()
            .execute(
                "SELECT e.entity, e.fy_start_month FROM entities e "
                "WHERE e.entity IN (SELECT DISTINCT entity FROM line_entries)"
            )
            .fetchall()
        )
        return dict(rows)

    def reference(self, table: str) -> pa.Table:
        """A reference table, ordered by its key."""
        if table not in REFERENCE_TABLES:
            raise LedgerError("unknown-table", "Unknown reference table", table, 404)
        _, keys = REFERENCE_TABLES[table]
        return self.query(f"SELECT * FROM {table} ORDER BY {', '.join(keys)}")

    def reference_values(self, table: str, column: str) -> list:
        """The distinct values of one column of a reference table, sorted."""
        if table not in REFERENCE_TABLES or column.replace("_", "").isalnum() is False:
            raise ValueError(f"unknown column {table}.{column}")
        return self.query(f"SELECT DISTINCT {column} FROM {table} ORDER BY 1")[column].to_pylist()

    def fx_rate_rows(self) -> pa.Table:
        """Every rate as published: rate_date, base, quote and the rate as p / q in lowest
        terms (rate x 10^12 is an integer below 10^24, so p < 10^12 and q divides 10^12)."""
        return self.query(
            "WITH r AS (SELECT rate_date, base, quote, "
            "CAST(rate * 1000000000000 AS HUGEINT) AS m FROM fx_rates) "
            "SELECT rate_date, base, quote, "
            "CAST(m // gcd(m, CAST(1000000000000 AS HUGEINT)) AS BIGINT) AS p, "
            "CAST(1000000000000 // gcd(m, CAST(1000000000000 AS HUGEINT)) AS BIGINT) AS q "
            "FROM r ORDER BY rate_date, base, quote"
        )

    def replace_reference(self, table: str, rows: pa.Table) -> int:
        """Insert rows; rows with the same key replace earlier ones. One transaction."""
        if table not in REFERENCE_TABLES:
            raise LedgerError("unknown-table", "Unknown reference table", table, 404)
        with self._lock:
            con = self._con
            con.execute("BEGIN")
            try:
                self._insert_reference(con, table, rows)
                con.execute("COMMIT")
            except BaseException as e:
                if (full := rollback(con, e)) is not None:
                    raise full from e
                raise
        return rows.num_rows

    def replace_references(self, tables: dict[str, pa.Table]) -> None:
        """replace_reference for several tables in one transaction (a pack upgrade)."""
        if unknown := set(tables) - set(REFERENCE_TABLES):
            raise LedgerError("unknown-table", "Unknown reference table", str(unknown), 404)
        with self._lock:
            con = self._con
            con.execute("BEGIN")
            try:
                for table, rows in tables.items():
                    self._insert_reference(con, table, rows)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    @staticmethod
    def _insert_reference(con, table: str, rows: pa.Table) -> None:
        _, keys = REFERENCE_TABLES[table]
        con.register("incoming_ref", rows)
        try:
            on = " AND ".join(f"t.{k} IS NOT DISTINCT FROM i.{k}" for k in keys)
            con.execute(
                f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM incoming_ref i WHERE {on})"
            )
            cols = ", ".join(rows.column_names)
            con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM incoming_ref")
        finally:
            con.unregister("incoming_ref")

    # -- feeds -----------------------------------------------------------

    def append(
        self, entries: pa.Table, feed_id: str, sha256: str, answer: dict, first_seq: int,
    ) -> None:  # fmt: skip
        """Append a feed's entries and its row in `feeds`, in one transaction.

        `first_seq` and `answer["feed_seq"]` are what the caller planned with; if
        the file has moved on since (another Store on it appended), StaleState is
        raised and nothing is written. A feed id seen meanwhile is a conflict.
        """
        assert entries.schema.equals(ENTRY_SCHEMA), entries.schema
        feed_seq = answer["feed_seq"]
        with self._lock:
            con = self._con
            con.execute("BEGIN")
            try:
                if self._counters_in(con) != (first_seq, feed_seq):
                    raise StaleState()
                if entries.num_rows:
                    con.register("new_entries", entries)
                    con.execute("INSERT INTO line_entries SELECT * FROM new_entries")
                con.execute(
                    "INSERT INTO feeds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [feed_seq, feed_id, sha256, answer["lines_accepted"],
                     answer["lines_unchanged"], entries.num_rows,
                     dt.datetime.now(dt.UTC).replace(tzinfo=None), json.dumps(answer)],
                )  # fmt: skip
                con.execute("COMMIT")
            except BaseException as e:
                if (full := rollback(con, e)) is not None:
                    raise full from e
                raise
            finally:
                try:
                    con.unregister("new_entries")
                except duckdb.Error:
                    pass

    @staticmethod
    def _counters_in(con) -> tuple[int, int]:
        # from the feeds' own counts (a small table): no scan of line_entries
        entry, feed = _first(
            con, "SELECT coalesce(sum(entries), 0), coalesce(max(seq), 0) + 1 FROM feeds"
        )
        return int(entry), int(feed)

    # -- ad-hoc SQL and snapshots ------------------------------------------

    def read_only_sql(
        self, sql: str, max_rows: int = 10_000, timeout_s: float = 5.0
    ) -> tuple[pa.Table, bool]:
        """One checked read-only statement: (at most max_rows rows, whether more were cut)."""
        return sandbox.to_table(self._con, sql, sandbox.SqlLimits(max_rows, timeout_s=timeout_s))

    def run_sql(self, sql: str, limits: sandbox.SqlLimits, sink: sandbox.AnswerSink) -> bool:
        """One checked read-only statement streamed into sink; whether the answer was cut."""
        return sandbox.run(self._con, sql, limits, sink)

    def snapshot(self, target_dir: str | os.PathLike) -> dict:
        """Parquet of every table plus a DuckDB copy another process can open."""
        from ledger.store import snapshots  # only a snapshot needs it, never the start

        return snapshots.write(
            self._con, self.snapshot_dir, target_dir, [*_TABLES, *views(self.pivot)]
        )
