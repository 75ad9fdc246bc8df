"""One ledger, one write path: every guarantee on every entry point (CLI, library, demo, API)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from ledger import demo
from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from ledger.resident import dictionary
from tests.conftest import ENTITIES_CSV, GOLDEN_CSV, HEADER, RATES, load_reference

ROOT = Path(__file__).resolve().parents[1]
STOP_BUDGET = [{"entity": "ACME-SG", "budget_code": "OVS-2025", "fiscal_year": 2026,
                "currency": "USD", "amount": "200000.00", "action": "stop"}]  # fmt: skip
WARN_BUDGET = [dict(STOP_BUDGET[0], action="warn")]


def cli(cwd: Path, *args: str, db: Path | None = None, check: bool = False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIP_LEDGER_")}
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, "-m", "cli.main", *args]
    if db is not None:
        argv += ["--db", str(db)]  # after the subcommand: accepted there too
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


def prepared_ledger(tmp_path: Path, budgets: list[dict]) -> Path:
    db = tmp_path / "ledger.duckdb"
    with Ledger.open(db) as ledger:
        load_reference(ledger)
        ledger.load_reference("budgets", json.dumps(budgets).encode(), "json")
    return db


def test_cli_refuses_a_feed_over_a_stop_budget_like_the_library(tmp_path):
    db = prepared_ledger(tmp_path, STOP_BUDGET)
    feed = tmp_path / "golden.csv"
    feed.write_text(GOLDEN_CSV)
    with Ledger.open(db) as ledger:
        before = ledger.store.content_hash()
        with pytest.raises(LedgerError) as library:
            ledger.ingest_bytes(feed.read_bytes(), "csv")
    proc = cli(tmp_path, "ingest", str(feed), db=db)
    assert proc.returncode != 0
    assert library.value.title in proc.stderr and "OVS-2025" in proc.stderr
    assert library.value.detail in proc.stderr.replace("\n", " ") or "over by" in proc.stderr
    assert "Traceback" not in proc.stderr
    with Ledger.open(db) as ledger:
        assert ledger.store.content_hash() == before
        assert ledger.entry_count() == 0


def test_cli_prints_warn_budget_warnings(tmp_path):
    db = prepared_ledger(tmp_path, WARN_BUDGET)
    feed = tmp_path / "golden.csv"
    feed.write_text(GOLDEN_CSV)
    proc = cli(tmp_path, "ingest", str(feed), db=db, check=True)
    assert "warning" in proc.stderr and "OVS-2025" in proc.stderr
    assert json.loads(proc.stdout)["warnings"][0]["kind"] == "budget-exceeded"


def test_the_demo_builder_path_is_guarded(tmp_path):
    """The demo ingests through ingest_table: the same guard refuses a stop budget there."""
    with Ledger.open(tmp_path / "d.duckdb") as ledger:
        demo.load_reference(ledger)
        tiny = [{"entity": "Group-SG", "budget_code": "AI-OVERSEAS", "fiscal_year": 2025,
                 "currency": "USD", "amount": "1.00", "action": "stop"}]  # fmt: skip
        ledger.load_reference("budgets", json.dumps(tiny).encode(), "json")
        batch = next(demo.generate(2000, 2000))
        with pytest.raises(LedgerError) as e:
            ledger.ingest_table(batch, feed_id="demo-batch")
        assert e.value.kind == "budget-exceeded"
        assert ledger.entry_count() == 0


def _resident_state(ledger: Ledger) -> tuple:
    cols = ledger.cols
    return (
        {k: list(d.values) for k, d in cols.dicts.items()},
        cols.n,
        cols.min_day,
        cols.max_day,
        cols.lookups.rate_num.shape,
        cols.lookups.rate_day0,
        int(cols.seen.sum()),
        len(ledger.key_index()),
        ledger.reads._committed,
    )


def test_a_refused_feed_leaves_no_trace_in_resident_state(ledger):
    ledger.load_reference("budgets", json.dumps(STOP_BUDGET).encode(), "json")
    ok = "\n".join([HEADER, *[x for x in GOLDEN_CSV.splitlines()[1:] if ",ACME-CN," in x]])
    ledger.ingest_bytes(ok.encode(), "csv")
    ledger.budgets()  # committed totals computed and kept
    before = _resident_state(ledger)
    digest = ledger.store.content_hash()
    # a new budget code and an order day far past the rate table, over the stop budget
    over = (
        f"{HEADER}\n"
        "PO-7,1,0,open,ACME-CN,2031-06-01,Nvidia,H20,1,10,CNY,CN,NEW-CODE,training,purchase,,,false,\n"
        "PO-7,2,0,open,ACME-SG,2025-05-01,Nvidia,H100,100,25000,USD,SG,OVS-2025,training,purchase,,,false,\n"
    )
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(over.encode(), "csv")
    assert e.value.kind == "budget-exceeded"
    assert _resident_state(ledger) == before
    assert ledger.store.content_hash() == digest
    assert "NEW-CODE" not in ledger.cols.dicts["budget_code"].values


def test_dictionary_overflow_is_a_422_and_writes_nothing(ledger, monkeypatch):
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    room = len(ledger.cols.dicts["budget_code"]) + 1
    monkeypatch.setattr(dictionary, "MAX_CODES", room)  # a small code range, to reach its end
    lines = [
        f"PO-9,{k},0,open,ACME-CN,2025-02-01,Huawei,Ascend 910B,1,1,CNY,CN,CODE-{k},inference,purchase,,,false,"
        for k in range(1, 4)
    ]
    before = (ledger.store.content_hash(), list(ledger.cols.dicts["budget_code"].values))
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes("\n".join([HEADER, *lines]).encode(), "csv")
    assert e.value.status == 422 and e.value.kind == "too-many-values"
    assert (ledger.store.content_hash(), list(ledger.cols.dicts["budget_code"].values)) == before


def _h100_to_cn_kinds(ledger: Ledger) -> set[str]:
    ledger.load_reference("entities", ENTITIES_CSV, "csv")
    ledger.load_reference("fx-rates", json.dumps(RATES).encode(), "json")
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    flagged = ledger.compliance(limit=1000)["lines"]
    return {f["kind"] for f in flagged if (f["order_id"], f["line_no"]) == ("PO-3", 2)}


def test_a_new_ledger_screens_with_the_shipped_rules(tmp_path):
    with Ledger.open(tmp_path / "new.duckdb") as ledger:
        assert ledger.store.created
        assert ledger.store.count("export_rules") > 0 and ledger.store.count("chips") > 0
        # PO-3 line 2: an H100 (TPP ~15,832) installed in CN, no licence: 3A090.a applies
        assert "tpp_license" in _h100_to_cn_kinds(ledger)


def test_cli_ingest_and_demo_create_screening_ledgers(tmp_path):
    feed = tmp_path / "golden.csv"
    feed.write_text(GOLDEN_CSV)
    proc = cli(tmp_path, "ingest", str(feed), db=tmp_path / "i.duckdb")
    assert proc.returncode != 0 and "unknown entity" in proc.stderr  # refused: no entities yet
    shown = cli(tmp_path, "reference", "show", "export-rules", db=tmp_path / "i.duckdb", check=True)
    assert len(json.loads(shown.stdout)) > 0  # but the ledger it created has the rule pack
    cli(tmp_path, "demo", "--lines", "3000", "--batch-lines", "3000", "--feeds-dir", "f",
        db=tmp_path / "d.duckdb", check=True)  # fmt: skip
    answer = cli(tmp_path, "compliance", "--format", "json", db=tmp_path / "d.duckdb", check=True)
    assert json.loads(answer.stdout)["total"] > 0


def test_snapshot_of_the_default_file_name(tmp_path):
    cli(tmp_path, "init", check=True)  # ./chip-ledger.duckdb
    proc = cli(tmp_path, "snapshot", "snap", check=True)
    written = json.loads(proc.stdout)
    assert Path(written["duckdb"]).exists() and Path(written["chips"]).exists()


def test_db_option_before_or_after_the_subcommand(tmp_path):
    cli(tmp_path, "--db", str(tmp_path / "a.duckdb"), "init", check=True)
    cli(tmp_path, "init", db=tmp_path / "b.duckdb", check=True)
    assert (tmp_path / "a.duckdb").exists() and (tmp_path / "b.duckdb").exists()
    assert not (tmp_path / "chip-ledger.duckdb").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """`chip-ledger serve` on a ledger with the golden feed in it."""
    db = prepared_ledger(tmp_path, WARN_BUDGET)
    with Ledger.open(db) as ledger:
        ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIP_LEDGER_")}
    env["PYTHONPATH"] = str(ROOT)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--db", str(db), "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    record = Path(str(db) + ".serving.json")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not record.exists():
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        time.sleep(0.1)
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    yield db, port
    proc.terminate()
    proc.wait(timeout=30)
    log.close()
    assert not record.exists()  # removed on exit


def test_cli_beside_a_running_service(served, tmp_path):
    db, port = served
    totals = cli(tmp_path, "totals", "--by", "entity", "--format", "json", db=db, check=True)
    answer = json.loads(totals.stdout)
    api = httpx.get(f"http://127.0.0.1:{port}/v1/totals", params={"by": "entity"}).json()
    assert answer["rows"] == api["rows"] and answer["total"] == api["total"]
    sql = cli(tmp_path, "sql", "SELECT count(*) AS n FROM orders", "--format", "json", db=db)
    assert sql.returncode == 0 and json.loads(sql.stdout) == [{"n": 9}]
    feed = tmp_path / "golden.csv"
    feed.write_text(GOLDEN_CSV)
    refused = cli(tmp_path, "ingest", str(feed), db=db)
    assert refused.returncode == 3
    assert "is held by process" in refused.stderr and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) <= 3


def test_a_stale_service_record_is_ignored(tmp_path):
    from ledger import service

    db = prepared_ledger(tmp_path, WARN_BUDGET)
    Path(str(db) + ".serving.json").write_text(json.dumps({"pid": 2**22 + 7, "url": "x"}))
    assert service.read_record(db) is None
    proc = cli(tmp_path, "budgets", "--format", "json", db=db, check=True)
    assert json.loads(proc.stdout)[0]["budget_code"] == "OVS-2025"


def test_refused_feed_resident_columns_equal_a_reload(ledger, db_path):
    """After a refusal and an acceptance, the resident columns equal ones rebuilt from disk."""
    ledger.load_reference("budgets", json.dumps(STOP_BUDGET).encode(), "json")
    with pytest.raises(LedgerError):
        ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    ok = "\n".join([HEADER, *[x for x in GOLDEN_CSV.splitlines()[1:] if ",ACME-CN," in x]])
    ledger.ingest_bytes(ok.encode(), "csv")
    with Ledger.open(db_path, cache=False) as again:
        n = again.cols.n
        assert n == ledger.cols.n
        assert np.array_equal(again.cols.codes[:, :n], ledger.cols.codes[:, :n])
        assert again.totals(["entity"], "USD") == ledger.totals(["entity"], "USD")
