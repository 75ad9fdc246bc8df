"""Snapshots: written off the user's reach, whole or not at all, consistent while feeds arrive."""

from __future__ import annotations

import json
import threading

import duckdb
import pyarrow.parquet as pq
import pytest

from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from ledger.store import sandbox as sql_sandbox
from ledger.store import snapshots
from tests.conftest import GOLDEN_CSV, HEADER, load_reference


@pytest.fixture
def named_ledger(tmp_path):
    """The CLI's default file name: `COPY FROM DATABASE chip-ledger` once failed on it."""
    ledger = Ledger.open(tmp_path / "chip-ledger.duckdb", snapshot_dir=tmp_path / "snaps")
    load_reference(ledger)
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    yield ledger
    ledger.close()


@pytest.fixture
def named_store(named_ledger):
    return named_ledger.store


def test_snapshot_of_chip_ledger_duckdb(named_store, tmp_path):
    written = named_store.snapshot(tmp_path / "snaps" / "one")
    manifest = json.loads((tmp_path / "snaps" / "one" / "manifest.json").read_text())
    assert manifest["duckdb_version"] == duckdb.__version__
    assert manifest["duckdb_storage_version"].startswith("v1.0.0")
    assert manifest["tables"]["line_entries"] == 9 and manifest["tables"]["feeds"] == 1
    for table, rows in manifest["tables"].items():
        assert pq.read_table(written[table]).num_rows == rows, table
    con = duckdb.connect(written["duckdb"], read_only=True)  # while the ledger stays open
    try:
        assert con.execute("SELECT count(*) FROM line_entries").fetchall() == [(9,)]
        live = named_store.query("SELECT sum(amount_usd_minor)::BIGINT AS s FROM orders_usd")
        copied = con.execute("SELECT sum(amount_usd_minor)::BIGINT FROM orders_usd").fetchall()
        assert copied == [(live["s"][0].as_py(),)]  # views and macros came along
    finally:
        con.close()
    with pytest.raises(LedgerError) as e:
        named_store.snapshot(tmp_path / "snaps" / "one")  # never overwrites a snapshot
    assert e.value.status == 409
    with pytest.raises(LedgerError) as e:
        named_store.snapshot(tmp_path / "snaps-elsewhere")  # a sibling named alike
    assert e.value.status == 403


def test_a_failed_snapshot_leaves_no_folder(named_store, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(snapshots, "_write_copy", broken)
    with pytest.raises(OSError):
        named_store.snapshot(tmp_path / "snaps" / "two")
    assert list((tmp_path / "snaps").iterdir()) == []


def test_user_sql_cannot_reach_a_snapshot(named_store, tmp_path, monkeypatch):
    written = named_store.snapshot(tmp_path / "snaps" / "one")
    before = (tmp_path / "snaps" / "one" / "feeds.parquet").read_bytes()
    # even with every statement check switched off, the instance has no allowed directory
    monkeypatch.setattr(sql_sandbox, "check_statement", lambda sql: [sql])
    for sql in [
        f"SELECT count(*) FROM read_parquet('{written['line_entries']}')",
        f"SELECT * FROM read_blob('{tmp_path}/snaps/one/ledger.duckdb')",
        f"SELECT * FROM glob('{tmp_path}/snaps/*')",
    ]:
        with pytest.raises(LedgerError) as e:
            named_store.read_only_sql(sql)
        assert e.value.status == 403, sql
    with pytest.raises(LedgerError):
        named_store.read_only_sql(
            f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp_path}/snaps/one/feeds.parquet'"
        )
    assert (tmp_path / "snaps" / "one" / "feeds.parquet").read_bytes() == before


def test_snapshot_is_consistent_while_feeds_arrive(named_ledger, named_store, tmp_path):
    ledger = named_ledger
    stop = threading.Event()
    sent = []

    def feeds():
        k = 0
        while not stop.is_set() and k < 200:
            lines = "\n".join(
                f"PO-F{k}-{n},1,0,open,ACME-CN,2025-02-01,Huawei,Ascend 910B,1,10.00,CNY,CN,"
                "DOM-2025,inference,purchase,,,false,"
                for n in range(20)
            )
            ledger.ingest_bytes(f"{HEADER}\n{lines}\n".encode(), "csv", feed_id=f"f{k}")
            sent.append(k)
            k += 1

    writer = threading.Thread(target=feeds)
    writer.start()
    try:
        while len(sent) < 3:
            threading.Event().wait(0.01)
        written = named_store.snapshot(tmp_path / "snaps" / "busy")
    finally:
        stop.set()
        writer.join()
    con = duckdb.connect(written["duckdb"], read_only=True)
    try:
        entries, declared = con.execute(
            "SELECT (SELECT count(*) FROM line_entries), (SELECT sum(entries) FROM feeds)"
        ).fetchall()[0]
    finally:
        con.close()
    assert entries == declared  # every feed whole, none half
    assert pq.read_table(written["line_entries"]).num_rows == entries
