"""The CLI end to end on a real ledger file, and the demo ledger's shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(tmp_path, *args, check=True):
    env = dict(os.environ, PYTHONPATH=str(ROOT), CHIP_LEDGER_DB=str(tmp_path / "cli.duckdb"))
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr)
    return proc


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    cli(tmp, "demo", "--lines", "20000", "--batch-lines", "7000", "--feeds-dir", "feeds")
    return tmp


def test_demo_reproduces_the_case(demo_dir):
    out = cli(
        demo_dir,
        "sql",
        "--format",
        "json",
        """
        SELECT entity, fiscal_year, count(*) AS lines, sum(amount_usd_minor)::BIGINT AS usd
        FROM orders_usd WHERE status = 'open' GROUP BY ALL ORDER BY ALL""",
    ).stdout
    rows = json.loads(out)
    assert {(r["entity"], r["fiscal_year"]) for r in rows} == {
        ("Group-CN", 2024), ("Group-CN", 2025), ("Group-SG", 2024), ("Group-SG", 2025),
    }  # fmt: skip
    fy25 = {r["entity"]: r for r in rows if r["fiscal_year"] == 2025}
    # ~37bn CNY (~5.1bn USD) domestic, ~6.2bn USD overseas; wide bounds: seeded but small N
    assert 4.0e11 < fy25["Group-CN"]["usd"] < 6.5e11
    assert 5.0e11 < fy25["Group-SG"]["usd"] < 7.5e11
    share = json.loads(
        cli(
            demo_dir,
            "sql",
            "--format",
            "json",
            """
        SELECT sum(amount_usd_minor) FILTER (WHERE s.hq_country = 'CN') / sum(amount_usd_minor) AS cn
        FROM orders_usd o JOIN suppliers s USING (supplier)
        WHERE destination = 'CN' AND fiscal_year = 2025""",
        ).stdout
    )[0]["cn"]
    assert 0.5 < share < 0.7
    kinds = json.loads(
        cli(
            demo_dir,
            "sql",
            "--format",
            "json",
            """
        SELECT count(*) FILTER (WHERE entry_kind = 'reversal') AS reversals,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE acquisition = 'lease' AND NOT identity_reviewed) AS unreviewed,
               count(*) FILTER (WHERE synthetic) AS synthetic_rates
        FROM line_entries, (SELECT bool_and(synthetic) AS synthetic FROM fx_rates)""",
        ).stdout
    )[0]
    assert kinds["reversals"] > 0 and kinds["cancelled"] > 0 and kinds["unreviewed"] > 0
    assert kinds["synthetic_rates"] > 0


def test_sample_feeds_ingest_and_replay(demo_dir):
    feeds = sorted((demo_dir / "feeds").iterdir())
    assert {p.suffix for p in feeds} == {".csv", ".json", ".ndjson", ".arrow", ".parquet"}
    first = cli(demo_dir, "ingest", *map(str, feeds))
    assert first.stdout.count('"accepted"') == 5
    again = cli(demo_dir, "ingest", str(feeds[0]))
    assert "already in the ledger" in again.stdout


def test_bad_feed_exits_nonzero_with_errors_on_stderr(tmp_path):
    cli(tmp_path, "init")
    bad = tmp_path / "bad.csv"
    from tests.conftest import HEADER
    from tests.test_validation import with_field

    bad.write_text(f"{HEADER}\n{with_field('line_no', 'zero')}\n")
    proc = cli(tmp_path, "ingest", str(bad), check=False)
    assert proc.returncode == 1
    assert "row 0, field line_no" in proc.stderr


def test_reference_load_and_show(tmp_path):
    cli(tmp_path, "init")
    ent = tmp_path / "entities.csv"
    ent.write_text("entity,hq_country,fy_start_month\nX-CN,CN,4\n")
    cli(tmp_path, "reference", "load", "entities", str(ent))
    shown = json.loads(cli(tmp_path, "reference", "show", "entities").stdout)
    assert shown == [{"entity": "X-CN", "hq_country": "CN", "parent_hq_country": None,
                      "fy_start_month": 4}]  # fmt: skip
    chips = json.loads(cli(tmp_path, "reference", "show", "chips").stdout)
    assert {c["chip_model"] for c in chips} >= {"H100", "H20", "A100", "Ascend 910B", "MLU590"}
    bad = tmp_path / "bad.csv"
    bad.write_text("entity,hq_country\nY,Narnia\n")
    proc = cli(tmp_path, "reference", "load", "entities", str(bad), check=False)
    assert proc.returncode == 2 and "hq_country" in proc.stderr


def test_sql_formats_and_refusal(tmp_path):
    cli(tmp_path, "init")
    csv_out = cli(tmp_path, "sql", "--format", "csv", "SELECT 1 AS one").stdout
    assert csv_out.splitlines() == ['"one"', "1"]
    refused = cli(tmp_path, "sql", "DELETE FROM chips", check=False)
    assert refused.returncode == 2 and "not allowed" in refused.stderr


def test_snapshot(demo_dir):
    out = json.loads(cli(demo_dir, "snapshot", "snap").stdout)
    assert Path(out["duckdb"]).exists() and Path(out["line_entries"]).exists()


def test_report_commands(demo_dir):
    totals = json.loads(
        cli(demo_dir, "totals", "--by", "vendor", "--currency", "CNY", "--format", "json").stdout
    )
    assert {r["vendor"] for r in totals["rows"]} >= {"Nvidia", "Huawei", "Cambricon"}
    budgets = json.loads(
        cli(demo_dir, "budgets", "--fiscal-year", "2025", "--format", "json").stdout
    )
    assert {b["budget_code"] for b in budgets} == {"AI-DOMESTIC", "AI-OVERSEAS"}
    sourcing = json.loads(cli(demo_dir, "sourcing", "--format", "json").stdout)
    assert {s["metric"] for s in sourcing} == {"spend", "units", "tpp"}
    flagged = json.loads(cli(demo_dir, "compliance", "--limit", "5", "--format", "json").stdout)
    assert flagged["total"] > 0 and len(flagged["lines"]) == 5
    assert "total:" in cli(demo_dir, "totals", "--by", "entity").stdout
