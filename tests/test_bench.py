"""Every benchmark also runs at a tiny size, so it never goes stale (no timing asserted)."""

from __future__ import annotations

import json

import pytest

from bench import report, rollup
from ledger.ledger import Ledger
from tests.conftest import GOLDEN_CSV


def test_rollup_bench_smoke(tmp_path, db_path):
    from tests.conftest import load_reference

    with Ledger.open(db_path) as ledger:
        load_reference(ledger)
        ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    out = tmp_path / "results"
    results = rollup.main(["--db", db_path, "--runs", "1", "--no-compile", "--out", str(out)])
    assert results["lines"] == 9
    written = json.loads(next(out.iterdir()).read_text())
    assert set(written["rollup"]) >= {"kernel_ms", "duckdb_ms", "floor_ms", "duckdb_sql"}
    # the golden lines include exact half-cent cases: the SQL's exact branch is exercised
    assert written["rollup"]["groups"] > 0


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    """The whole suite once, tiny: a 2,000-line demo ledger, one run, the real service."""
    from bench import suite

    root = tmp_path_factory.mktemp("bench")
    readme = root / "README.md"
    readme.write_text(f"# x\n\n## Performance\n\n{report.START}\nold\n{report.END}\n\nafter\n")
    argv = [
        "--lines", "2000", "--runs", "1", "--no-compile", "--data-dir", str(root / "data"),
        "--out", str(root / "results"), "--readme", str(readme), "--work-dir", str(root / "work"),
        "--ingest-batch-lines", "200", "--ingest-large-lines", "300", "--http-requests", "4",
    ]  # fmt: skip
    return suite.main(argv), root


def test_suite_shape(suite_run):
    results, root = suite_run
    files = sorted(p.name for p in (root / "results").iterdir())
    name = report.result_name(results)
    assert name in files and name.replace(".json", ".md") in files
    r = json.loads((root / "results" / name).read_text())
    assert r["lines"] == results["lines"] > 2000  # amendments add entries
    assert r["cores"] >= 1
    assert set(r["rollup"]) >= {"kernel_ms", "duckdb_ms", "duckdb_sql", "polars_ms", "floor_ms"}
    for work in ("budgets", "sourcing", "screening"):
        assert set(r[work]) >= {"kernel_ms", "duckdb_ms"}
    assert set(r["http"]) >= {"totals_1_client", "totals_8_clients", "start_s"}
    assert r["http"]["totals_8_clients"]["requests"] > 0
    assert r["http"]["totals_8_clients_distinct"]["requests"] > 0
    for method in ("duckdb_raw_append", "store_arrow", "store_csv", "http_arrow", "http_csv",
                   "http_json"):  # fmt: skip
        assert r["ingest"][method]["lines_per_s"] > 0
        assert r["ingest_large"][method]["lines_per_s"] > 0  # one large feed each (issue 14)
    assert r["startup"]["service_start_s"]["median"] > 0
    assert r["memory"]["column_bytes_per_line"] > 0
    assert set(r["targets"]) >= {"rollup_vs_duckdb", "http_json_ingest", "memory_per_line"}


def test_suite_polars_when_installed(suite_run):
    results, _ = suite_run
    pytest.importorskip("polars")
    assert results["rollup"]["polars_ms"]["runs"] == 1


def test_suite_plots_and_readme(suite_run):
    from bench import suite

    results, root = suite_run
    pytest.importorskip("matplotlib")
    machine = results["machine"]
    for png in (f"{machine}-throughput.png", f"{machine}-ingest.png"):
        assert (root / "results" / png).read_bytes().startswith(b"\x89PNG")
    # a run writes under --out alone: the README waits for the explicit command
    assert "old" in (root / "README.md").read_text()
    assert suite.main(["--update-readme", "--out", str(root / "results"),
                       "--readme", str(root / "README.md")]) == {"readme_changed": True}  # fmt: skip
    text = (root / "README.md").read_text()
    assert "old" not in text and text.endswith("after\n")
    assert "GET /v1/totals, 8 clients" in text and "| target (issue 5) |" in text
    assert f"![{machine}-ingest.png](results/{machine}-ingest.png)" in text
    # regenerating from the same results changes nothing
    assert report.update_readme(root / "README.md", root / "results") is False
    assert report.main(["--out", str(root / "results"), "--readme", str(root / "README.md")]) == 0
    assert (root / "README.md").read_text() == text


def test_readme_without_markers_is_left_alone(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# nothing to generate here\n")
    assert report.update_readme(readme, tmp_path) is False
    assert readme.read_text() == "# nothing to generate here\n"


def test_targets_from_figures():
    r = {
        "rollup": {"kernel_ms": {"median": 40.0}, "duckdb_ms": {"median": 400.0},
                   "polars_ms": {"median": 100.0}, "floor_ms": {"median": 8.0}},
        "http": {"totals_1_client": {"p50_ms": 55.0}},
        "ingest": {"duckdb_raw_append": {"lines_per_s": 2e6}, "http_arrow": {"lines_per_s": 9e5},
                   "http_json": {"lines_per_s": 3e5}},
        "startup": {"service_start_s": {"median": 2.0}},
        "memory": {"resident_bytes_per_line": 40.0},
    }  # fmt: skip
    t = report.targets(r)
    assert t["rollup_vs_duckdb"]["met"] and t["rollup_vs_duckdb"]["value"] == 10
    assert not t["rollup_vs_polars"]["met"]  # 2.5x < 3x
    assert not t["rollup_vs_floor"]["met"]  # 5x > 4x
    assert not t["http_totals_p50"]["met"]  # 15 ms over the kernel
    assert not t["http_arrow_ingest"]["met"]  # 0.45 < 0.5
    assert t["http_json_ingest"]["met"] and t["service_start"]["met"]
    assert t["memory_per_line"]["met"]
    assert report.targets({})["rollup_vs_duckdb"]["met"] is None


# the simulator runs the kernels' wrapping uint64 arithmetic in numpy, which warns
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_gpu_rollup_smoke_under_the_simulator(tmp_path, db_path):
    """The GPU phase on the CUDA simulator (tests set NUMBA_ENABLE_CUDASIM=1), tiny."""
    from bench import gpu
    from tests.conftest import load_reference

    with Ledger.open(db_path, cache=False) as ledger:
        load_reference(ledger)
        ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
        q = ledger.reads
        result = gpu.measure(q, runs=1, sizes=(2 * q.cols.n,))
        (entry,) = [v for v in result.values() if isinstance(v, dict) and "kernel_ms" in v]
        assert entry["lines"] == 2 * q.cols.n and entry["kernel_ms"]["runs"] == 1


def test_load_bench_smoke(tmp_path):
    """The load bench at a tiny size: writers and readers together, no errors, and no reader
    ever sees part of a feed."""
    from bench import load
    from ledger import demo

    db = tmp_path / "demo.duckdb"
    with Ledger.open(db) as ledger:
        demo.build(ledger, 2000, batch_lines=2000)
    result = load.main(["--db", str(db), "--writers", "2", "--readers", "3", "--seconds", "3",
                        "--lines-per-feed", "50", "--out", str(tmp_path / "out")])  # fmt: skip
    assert result["error_count"] == 0, result["errors"]
    assert result["partial_feeds_seen"] == []
    assert result["feeds_accepted"] > 0 and result["routes"]["totals"]["requests"] > 0
    assert (tmp_path / "out").iterdir()
