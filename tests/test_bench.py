"""Every benchmark also runs at a tiny size, so it never goes stale (no timing asserted)."""

from __future__ import annotations

import json

from bench import rollup
from ledger.ingest import Ledger
from tests.conftest import GOLDEN_CSV


def test_rollup_bench_smoke(tmp_path, db_path):
    from ledger.store import Store
    from tests.conftest import load_reference

    store = Store(db_path)
    load_reference(store)
    Ledger(store).ingest_bytes(GOLDEN_CSV.encode(), "csv")
    store.close()
    out = tmp_path / "results"
    results = rollup.main(["--db", db_path, "--runs", "1", "--no-compile", "--out", str(out)])
    assert results["lines"] == 9
    written = json.loads(next(out.iterdir()).read_text())
    assert set(written["rollup"]) >= {"kernel_ms", "duckdb_ms", "floor_ms", "duckdb_sql"}
