"""Roll-up with conversion: the kernel on resident columns against the best DuckDB SQL,
numpy reading the same bytes, and the parallel read floor, in one process on one ledger.

    python -m bench.rollup --db chip-ledger.duckdb [--runs 5]

(`chip-ledger bench` runs this among all the other benchmarks; see bench/suite.py.)
Every method's result is checked equal to the kernel's before its time counts.
Writes bench/results/<machine>-<date>-rollup.json and prints a table.

The DuckDB SQL converts each line the way the kernel does, exactly: a float product
whose rounding is provably the half-even answer when its fraction is clearly away
from one half, else 128-bit integer arithmetic (`half_even_div`). DuckDB evaluates a
CASE branch only for the rows that select it, so the exact branch costs nothing on
the rows that do not need it. The plain 128-bit query is timed beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.timing import interleave, must_equal

BY = ["entity", "chip_model", "month"]

# Per-day rates, forward-filled (the latest on or before each day), for every
# currency with rates, over the days that orders use.
RATES_DAILY = """
CREATE OR REPLACE TEMP TABLE bench_rates_daily AS
WITH days AS (SELECT CAST(d AS DATE) AS rate_date FROM generate_series(
    (SELECT min(order_date) FROM line_entries), (SELECT max(order_date) FROM line_entries),
    INTERVAL 1 DAY) t(d)),
cur AS (SELECT DISTINCT currency FROM fx_rates_e12)
SELECT d.rate_date, cur.currency, r.rate_e12 FROM days d CROSS JOIN cur
ASOF JOIN fx_rates_e12 r ON r.currency = cur.currency AND d.rate_date >= r.rate_date
"""
# Conversion cells into each reporting currency: amount x num / den, half-even, with
# ratio = num / den as a float for the fast path (the kernel's cells, in SQL).
CELLS = """
CREATE OR REPLACE TEMP TABLE bench_cells AS
WITH c AS (SELECT currency, minor_exponent AS e FROM currencies)
SELECT t.currency AS target, r.rate_date, r.currency,
       r.rate_e12 * CAST(pow(10, greatest(0, ct.e - cl.e)) AS HUGEINT) AS num,
       t.rate_e12 * CAST(pow(10, greatest(0, cl.e - ct.e)) AS HUGEINT) AS den,
       CAST(r.rate_e12 * CAST(pow(10, greatest(0, ct.e - cl.e)) AS HUGEINT) AS DOUBLE)
       / CAST(t.rate_e12 * CAST(pow(10, greatest(0, cl.e - ct.e)) AS HUGEINT) AS DOUBLE)
       AS ratio
FROM bench_rates_daily r
JOIN bench_rates_daily t ON t.rate_date = r.rate_date
JOIN c cl ON cl.currency = r.currency
JOIN c ct ON ct.currency = t.currency
"""
# x = amount x ratio; exact when the fraction of |x| is farther from one half than
# the float error bound (|x| x 2^-50, with margin), else exact 128-bit arithmetic.
CONVERT_MACRO = """
CREATE OR REPLACE TEMP MACRO bench_half_even(x, a, num, den) AS
CASE WHEN abs(x) < 2251799813685248.0
          AND abs(abs(x) - floor(abs(x)) - 0.5) > abs(x) * 8.881784197001252e-16
     THEN CAST(round(x) AS BIGINT)
     ELSE CAST(half_even_div(CAST(a AS HUGEINT) * num, den) AS BIGINT) END
"""
SETUP = [RATES_DAILY, CELLS, CONVERT_MACRO]

SQL_EQUI = """
SELECT entity, chip_model, strftime(m, '%Y-%m') AS month, lines, quantity, amount FROM (
    SELECT e.entity, e.chip_model, date_trunc('month', e.order_date) AS m,
           sum(e.lines)::BIGINT AS lines, sum(e.quantity)::BIGINT AS quantity,
           sum(bench_half_even(e.amount_minor * c.ratio, e.amount_minor, c.num, c.den))::BIGINT
           AS amount
    FROM line_entries e
    JOIN bench_cells c
      ON c.target = 'USD' AND c.currency = e.currency AND c.rate_date = e.order_date
    GROUP BY ALL)
"""
SQL_ASOF = """
SELECT entity, chip_model, strftime(m, '%Y-%m') AS month, lines, quantity, amount FROM (
    SELECT e.entity, e.chip_model, date_trunc('month', e.order_date) AS m,
           sum(e.lines)::BIGINT AS lines, sum(e.quantity)::BIGINT AS quantity,
           sum(bench_half_even(e.amount_minor * (CAST(r.rate_e12 * s.up AS DOUBLE)
               / CAST(1000000000000 * s.down AS DOUBLE)), e.amount_minor,
               r.rate_e12 * s.up, 1000000000000 * s.down))::BIGINT AS amount
    FROM line_entries e
    JOIN (SELECT currency, CAST(pow(10, greatest(0, 2 - minor_exponent)) AS HUGEINT) AS up,
                 CAST(pow(10, greatest(0, minor_exponent - 2)) AS HUGEINT) AS down
          FROM currencies) s ON s.currency = e.currency
    ASOF JOIN fx_rates_e12 r ON e.currency = r.currency AND e.order_date >= r.rate_date
    GROUP BY ALL)
"""
# The same equi-join with every line converted in 128-bit integers (no float fast path).
SQL_EXACT = """
SELECT e.entity, e.chip_model, strftime(e.order_date, '%Y-%m') AS month,
       sum(e.lines)::BIGINT AS lines, sum(e.quantity)::BIGINT AS quantity,
       sum(half_even_div(CAST(e.amount_minor AS HUGEINT) * c.num, c.den))::BIGINT AS amount
FROM line_entries e
JOIN bench_cells c ON c.target = 'USD' AND c.currency = e.currency AND c.rate_date = e.order_date
GROUP BY ALL
"""
DUCKDB_SQL = "equi-join on a forward-filled per-day rate table, float fast path + exact 128-bit"


def prepare(cur) -> None:
    """The rate tables and macro the SQL methods use (temp objects: nothing is written)."""
    for statement in SETUP:
        cur.execute(statement)


def kernel_rows(q, by: list[str] = BY, currency: str = "USD") -> dict:
    """The totals use case's rows as {dims: (lines, quantity, amount_minor)}."""
    return {
        tuple(r[d] for d in by): (r["lines"], r["quantity"], r["amount_minor"])
        for r in q.totals(by, currency)["rows"]
    }


def sql_rows(cur, text: str) -> dict:
    """A roll-up query's rows as {dims: (lines, quantity, amount)}, all-zero groups left out."""
    rows = cur.execute(text).fetchall()
    return {tuple(r[:-3]): tuple(r[-3:]) for r in rows if tuple(r[-3:]) != (0, 0, 0)}


def floor_words(q) -> tuple[tuple, int]:
    """The bytes the roll-up kernel reads, as uint64 views, and their size."""
    from ledger.resident import columns as C

    n = q.cols.n
    view = q.cols.view()
    read = [view["codes"][r, :n] for r in (C.ENTITY, C.CHIP, C.DAY, C.CURRENCY)]
    read += [view["amount"], view["quantity"], view["lines"]]

    def words(a):
        raw = np.ascontiguousarray(a).view(np.uint8)
        return raw[: raw.size - raw.size % 8].view(np.uint64)

    return tuple(words(a) for a in read), sum(a.nbytes for a in read)


def measure(q, cur, runs: int, polars: bool = True, exact: bool = True) -> dict:
    """Every roll-up method, interleaved; the kernel's answer is the reference.

    polars joins in when it is installed (the `bench` extra) and `polars` is true.
    """
    from bench import polars_rollup
    from kernels import dispatch

    prepare(cur)
    words, bytes_read = floor_words(q)
    floor_out = np.zeros(1, np.uint64)
    kernel_only: list[float] = []

    def observe(kernel: str, seconds: float) -> None:
        if kernel == "rollup":
            kernel_only.append(seconds * 1000)

    methods = {
        "kernel_ms": lambda r: kernel_rows(q),
        "duckdb_ms": lambda r: sql_rows(cur, SQL_EQUI),
        "duckdb_asof_ms": lambda r: sql_rows(cur, SQL_ASOF),
    }
    if exact:
        methods["duckdb_exact_ms"] = lambda r: sql_rows(cur, SQL_EXACT)
    if polars and polars_rollup.available():
        methods["polars_ms"] = polars_rollup.method(cur)
    want = kernel_rows(q)
    q.observers.append(observe)
    try:
        timed = interleave(methods, runs, must_equal(want, "roll-up"))
    finally:
        q.observers.remove(observe)
    reads = interleave(
        {
            "floor_ms": lambda r: dispatch.read_floor(words, floor_out),
            "numpy_read_ms": lambda r: [w.sum() for w in words],
        },
        runs,
    )
    from bench.timing import summary

    return {
        "by": BY,
        **timed,
        "polars_ms": timed.get("polars_ms"),
        "duckdb_sql": DUCKDB_SQL,
        **reads,
        # the kernel call alone (the use case adds term tables, conversion cells, rows)
        "kernel_only_ms": summary(kernel_only[1:] or kernel_only),
        "bytes_read": bytes_read,
        "groups": len(want),
        "profile": profile(q, runs),
    }


# Kernel-only time of roll-up variants: what grouping and per-day conversion cost.
PROFILE = {
    "no_dims": ([], "order-date"),
    "entity": (["entity"], "order-date"),
    "three_dims": (BY, "order-date"),
    "three_dims_one_rate_date": (BY, "2025-06-30"),
}


def profile(q, runs: int) -> dict:
    """{variant: kernel-only ms}: the roll-up kernel with fewer dims, or one rate date."""
    from bench.timing import summary

    times: dict[str, list[float]] = {name: [] for name in PROFILE}
    current: list[str] = []

    def observe(kernel: str, seconds: float) -> None:
        if kernel == "rollup" and current:
            times[current[0]].append(seconds * 1000)

    def variant(name: str):
        by, fx = PROFILE[name]

        def run(_round: int) -> None:
            current[:] = [name]
            q.totals(by, "USD", fx)

        return run

    q.observers.append(observe)
    try:
        interleave({name: variant(name) for name in PROFILE}, runs)
    finally:
        q.observers.remove(observe)
    return {name: summary(t[1:] or t) for name, t in times.items()}


def cold_compile_seconds() -> tuple[float, float]:
    """Kernel compile time from an empty cache, then the load from that cache: fresh processes."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, CHIP_LEDGER_BACKEND="cpu")
        env.pop("NUMBA_ENABLE_CUDASIM", None)
        code = "from kernels import dispatch; print(dispatch.warm_up())"
        cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)  # fmt: skip
        warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)  # fmt: skip
    return float(cold.stdout.split()[-1]), float(warm.stdout.split()[-1])


def main(argv: list[str] | None = None) -> dict:
    from kernels import dispatch
    from ledger.ledger import Ledger

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--db", default=os.environ.get("CHIP_LEDGER_DB", "chip-ledger.duckdb"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", default="bench/results")
    p.add_argument("--no-compile", action="store_true", help="skip the cold-compile measurement")
    args = p.parse_args(argv)

    ledger = Ledger.open(args.db)
    store = ledger.store
    started = time.perf_counter()
    q = ledger.reads
    load_s = time.perf_counter() - started
    cur = store.cursor()
    threads_duckdb = cur.execute("SELECT current_setting('threads')").fetchall()[0][0]
    results = {
        "lines": q.cols.n,
        "cores": os.cpu_count(),
        "machine": platform.node(),
        "date": dt.date.today().isoformat(),
        "backend": dispatch.backend(),
        "numba_threads": dispatch.threads(),
        "duckdb_threads": threads_duckdb,
        "resident_bytes_per_entry": q.cols.nbytes_per_entry(),
        "resident_load_s": load_s,
        "rollup": measure(q, cur, args.runs),
    }
    if not args.no_compile:
        cold, warm = cold_compile_seconds()
        results["startup"] = {"kernel_compile_cold_s": cold, "kernel_load_cached_s": warm}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.out) / f"{platform.node() or 'machine'}-{results['date']}-rollup.json"
    path.write_text(json.dumps(results, indent=2))
    r = results["rollup"]
    print(f"{q.cols.n:,} lines; numba threads {results['numba_threads']}, "
          f"DuckDB threads {threads_duckdb}")  # fmt: skip
    for name in ("kernel_ms", "duckdb_ms", "duckdb_asof_ms", "duckdb_exact_ms", "floor_ms"):
        print(f"  {name:16s} median {r[name]['median']:9.1f}  min {r[name]['min']:9.1f}")
    print(f"  kernel vs DuckDB: {r['duckdb_ms']['median'] / r['kernel_ms']['median']:.1f}x faster; "
          f"kernel / floor: {r['kernel_ms']['median'] / r['floor_ms']['median']:.1f}x")  # fmt: skip
    print(f"written {path}")
    ledger.close()
    return results


if __name__ == "__main__":
    main()
