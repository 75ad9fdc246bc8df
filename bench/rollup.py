"""Roll-up with conversion: the kernel on resident columns against the best DuckDB SQL,
numpy reading the same bytes, and the parallel read floor, in one process on one ledger.

    python -m bench.rollup --db chip-ledger.duckdb [--runs 5]

Every method's result is checked equal to the kernel's before its time counts.
Writes bench/results/<machine>-<date>-rollup.json and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BY = ["entity", "chip_model", "month"]
SQL_EQUI = """
SELECT e.entity, e.chip_model, strftime(e.order_date, '%Y-%m') AS month,
       sum(e.lines)::BIGINT AS lines, sum(e.quantity)::BIGINT AS quantity,
       sum(half_even_div(CAST(e.amount_minor AS HUGEINT) * r.rate_e12 * 100,
           CAST(1000000000000 AS HUGEINT) * c.scale))::BIGINT AS amount
FROM line_entries e
JOIN bench_rates_daily r ON r.currency = e.currency AND r.rate_date = e.order_date
JOIN (SELECT currency, CAST(pow(10, minor_exponent) AS HUGEINT) AS scale FROM currencies) c
  ON c.currency = e.currency
GROUP BY ALL
"""
SQL_ASOF = """
SELECT e.entity, e.chip_model, strftime(e.order_date, '%Y-%m') AS month,
       sum(e.lines)::BIGINT AS lines, sum(e.quantity)::BIGINT AS quantity,
       sum(half_even_div(CAST(e.amount_minor AS HUGEINT) * r.rate_e12 * 100,
           CAST(1000000000000 AS HUGEINT) * CAST(pow(10, c.minor_exponent) AS HUGEINT)))::BIGINT
           AS amount
FROM line_entries e JOIN currencies c USING (currency)
ASOF JOIN fx_rates_e12 r ON e.currency = r.currency AND e.order_date >= r.rate_date
GROUP BY ALL
"""
RATES_DAILY = """
CREATE OR REPLACE TEMP TABLE bench_rates_daily AS
WITH days AS (SELECT CAST(d AS DATE) AS rate_date FROM generate_series(
    (SELECT min(order_date) FROM line_entries), (SELECT max(order_date) FROM line_entries),
    INTERVAL 1 DAY) t(d)),
cur AS (SELECT DISTINCT currency FROM line_entries)
SELECT d.rate_date, cur.currency, r.rate_e12 FROM days d CROSS JOIN cur
ASOF JOIN fx_rates_e12 r ON r.currency = cur.currency AND d.rate_date >= r.rate_date
"""


def timed(fn, runs: int) -> tuple[list[float], object]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def summary(times: list[float]) -> dict:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def cold_compile_seconds() -> float:
    """Kernel compile time from an empty cache, in a fresh process."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, CHIP_LEDGER_BACKEND="cpu")
        code = "from kernels import dispatch; print(dispatch.warm_up())"
        cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)  # fmt: skip
        warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)  # fmt: skip
    return float(cold.stdout.split()[-1]), float(warm.stdout.split()[-1])


def main(argv: list[str] | None = None) -> dict:
    from kernels import dispatch
    from ledger import columns as C
    from ledger.ingest import Ledger
    from ledger.queries import Queries
    from ledger.store import Store

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", default=os.environ.get("CHIP_LEDGER_DB", "chip-ledger.duckdb"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", default="bench/results")
    p.add_argument("--no-compile", action="store_true", help="skip the cold-compile measurement")
    args = p.parse_args(argv)

    store = Store(args.db)
    started = time.perf_counter()
    q = Queries(Ledger(store))
    load_s = time.perf_counter() - started
    n = q.cols.n
    cur = store.cursor()
    threads_duckdb = cur.execute("SELECT current_setting('threads')").fetchall()[0][0]

    def kernel():
        return {
            (r["entity"], r["chip_model"], r["month"]): (
                r["lines"],
                r["quantity"],
                r["amount_minor"],
            )
            for r in q.totals(BY, "USD")["rows"]
        }

    def sql(text):
        def run():
            rows = cur.execute(text).fetchall()
            return {(a, b, c): (x, y, z) for a, b, c, x, y, z in rows if (x, y, z) != (0, 0, 0)}

        return run

    cur.execute(RATES_DAILY)
    results = {}
    kernel_t, want = timed(kernel, args.runs)
    equi_t, got = timed(sql(SQL_EQUI), args.runs)
    assert got == want, "DuckDB equi-join result differs from the kernel's"
    asof_t, got = timed(sql(SQL_ASOF), args.runs)
    assert got == want, "DuckDB ASOF result differs from the kernel's"

    view = q.cols.view()
    read = [view["codes"][r, :n] for r in (C.ENTITY, C.CHIP, C.DAY, C.CURRENCY)]
    read += [view["amount"], view["quantity"], view["lines"]]

    def words(a):
        raw = a.view(np.uint8)
        return raw[: raw.size - raw.size % 8].view(np.uint64)

    word_views = tuple(words(a) for a in read)
    bytes_read = sum(a.nbytes for a in read)
    floor_out = np.zeros(1, np.uint64)
    floor_t, _ = timed(lambda: dispatch.read_floor(word_views, floor_out), args.runs)
    numpy_t, _ = timed(lambda: [w.sum() for w in word_views], args.runs)

    results = {
        "lines": n,
        "cores": os.cpu_count(),
        "machine": platform.node(),
        "date": dt.date.today().isoformat(),
        "backend": dispatch.backend(),
        "numba_threads": dispatch.threads(),
        "duckdb_threads": threads_duckdb,
        "resident_bytes_per_entry": q.cols.nbytes_per_entry(),
        "resident_load_s": load_s,
        "rollup": {
            "by": BY,
            "kernel_ms": summary(kernel_t),
            "duckdb_ms": summary(equi_t),
            "duckdb_sql": "equi-join on a forward-filled per-day rate table",
            "duckdb_asof_ms": summary(asof_t),
            "floor_ms": summary(floor_t),
            "numpy_read_ms": summary(numpy_t),
            "bytes_read": bytes_read,
        },
    }
    if not args.no_compile:
        cold, warm = cold_compile_seconds()
        results["startup"] = {"kernel_compile_cold_s": cold, "kernel_load_cached_s": warm}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.out) / f"{platform.node() or 'machine'}-{results['date']}-rollup.json"
    path.write_text(json.dumps(results, indent=2))
    r = results["rollup"]
    print(f"{n:,} lines; numba threads {results['numba_threads']}, DuckDB threads {threads_duckdb}")
    for name in ("kernel_ms", "duckdb_ms", "duckdb_asof_ms", "floor_ms", "numpy_read_ms"):
        print(f"  {name:16s} median {r[name]['median']:9.1f}  min {r[name]['min']:9.1f}")
    print(f"  kernel vs DuckDB: {r['duckdb_ms']['median'] / r['kernel_ms']['median']:.1f}x faster; "
          f"kernel / floor: {r['kernel_ms']['median'] / r['floor_ms']['median']:.1f}x")  # fmt: skip
    if "startup" in results:
        print(f"  compile cold {results['startup']['kernel_compile_cold_s']:.1f} s, "
              f"cached {results['startup']['kernel_load_cached_s']:.2f} s")  # fmt: skip
    print(f"written {path}")
    store.close()
    return results


if __name__ == "__main__":
    main()
