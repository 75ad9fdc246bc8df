"""Writing a snapshot: Parquet of every table, a DuckDB copy, and a manifest.

The ledger's own DuckDB instance never touches the file system for this (its
user SQL has no external access at all): the tables are read to Arrow on a
cursor, in one READ ONLY transaction (so the snapshot is consistent while feeds
arrive, and ingest is never blocked), written to Parquet with pyarrow, and the
DuckDB copy is built by a second DuckDB instance (another file) from those
Parquet files. Everything is written to a temporary folder beside the target
and renamed into place at the end: a failure leaves no partial snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ledger.domain.errors import LedgerError

COPY_NAME = "ledger.duckdb"
MANIFEST_NAME = "manifest.json"
# The oldest DuckDB storage format the copy is written in: DuckDB 1.0 and newer open it.
STORAGE_COMPATIBILITY = "v1.0.0"
BATCH_ROWS = 64 * 1024


def write(
    con: duckdb.DuckDBPyConnection,
    allowed_root: str | os.PathLike | None,
    target_dir: str | os.PathLike,
    ddl: list[str],
) -> dict:
    """Snapshot the ledger behind con into target_dir (inside allowed_root).

    `ddl` recreates the ledger's tables, views and macros in the copy. Returns
    {table: parquet path, ..., "duckdb": copy path, "manifest": manifest path}.
    """
    target = _checked_target(allowed_root, target_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        counts = _write_parquet(con, work)
        storage = _write_copy(work, ddl, counts)
        manifest = {
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "duckdb_version": duckdb.__version__,  # the DuckDB that wrote the copy
            "duckdb_storage_version": storage,
            "opens_with": f"DuckDB {STORAGE_COMPATIBILITY.lstrip('v')} or newer",
            "pyarrow_version": pa.__version__,
            "tables": counts,
        }
        (work / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        if target.exists():
            target.rmdir()  # empty (checked): replaced by the finished folder
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    written = {table: str(target / f"{table}.parquet") for table in counts}
    written["duckdb"] = str(target / COPY_NAME)
    written["manifest"] = str(target / MANIFEST_NAME)
    return written


def _checked_target(allowed_root, target_dir) -> Path:
    target = Path(target_dir).resolve()
    root = Path(allowed_root).resolve() if allowed_root else None
    if root is None or not target.is_relative_to(root):
        raise LedgerError(
            "snapshot-denied", "Snapshot folder not allowed",
            f"{target} is outside the allowed snapshot folder {root}", 403,
        )  # fmt: skip
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise LedgerError(
            "snapshot-exists", "Snapshot folder not empty",
            f"{target} already exists; choose a new folder", 409,
        )  # fmt: skip
    return target


def _write_parquet(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, int]:
    """Every main table to folder/<table>.parquet, in one read transaction: rows per table."""
    cur = con.cursor()
    try:
        cur.execute("BEGIN TRANSACTION READ ONLY")
        tables = [
            row[0]
            for row in cur.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND NOT temporary ORDER BY table_name"
            ).fetchall()
        ]
        counts = {}
        for table in tables:
            reader = cur.sql(f"SELECT * FROM {_quoted(table)}").to_arrow_reader(BATCH_ROWS)
            rows = 0
            with pq.ParquetWriter(folder / f"{table}.parquet", reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            counts[table] = rows
        cur.execute("COMMIT")
        return counts
    finally:
        cur.close()


def _write_copy(folder: Path, ddl: list[str], counts: dict[str, int]) -> str:
    """The DuckDB copy, built by its own instance from the Parquet files: its storage version."""
    copy = duckdb.connect(
        str(folder / COPY_NAME), config={"storage_compatibility_version": STORAGE_COMPATIBILITY}
    )
    try:
        copy.execute("BEGIN")
        for statement in ddl:
            copy.execute(statement)
        existing = {r[0] for r in copy.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for table in counts:
            source = str(folder / f"{table}.parquet")
            if table in existing:
                copy.execute(
                    f"INSERT INTO {_quoted(table)} BY NAME SELECT * FROM read_parquet(?)", [source]
                )
            else:
                copy.execute(
                    f"CREATE TABLE {_quoted(table)} AS SELECT * FROM read_parquet(?)", [source]
                )
        copy.execute("COMMIT")
        tags = copy.execute(
            "SELECT tags FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchall()[0][0]
        copy.execute("CHECKPOINT")
    finally:
        copy.close()
    return dict(tags).get("storage_version", "")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
