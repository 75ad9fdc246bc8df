"""The roll-up in polars, on the same Arrow data DuckDB hands out (optional: the `bench` extra).

The best polars we found: the line's conversion cell by a gather on a dense
(currency x day) table, the kernel's float fast path (a float product whose
rounding is provably the half-even answer), and the few lines near a half
converted exactly in Python integers. 128-bit integers in polars were ~15x slower.
The frame is built once, like the kernel's resident columns: dims as categoricals,
the currency as a small integer, the order date as a day number.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

COLUMNS = "entity, chip_model, order_date, currency, amount_minor, quantity, lines"
ERROR_BOUND = 2.0**-50  # relative error of two float roundings, with margin (as the kernel)
FLOAT_EXACT = 2.0**51


def available() -> bool:
    try:
        import polars  # noqa: F401
    except ImportError:
        return False
    return True


def _half_even(amount: int, num: int, den: int) -> int:
    q, r = divmod(abs(amount) * num, den)
    if 2 * r > den or (2 * r == den and q % 2 == 1):
        q += 1
    return q if amount >= 0 else -q


def method(cur, target: str = "USD") -> Callable[[int], dict]:
    """A roll-up method over a frame read once; needs `bench.rollup.prepare(cur)` first."""
    import polars as pl

    cells = cur.sql(
        "SELECT rate_date, currency, CAST(num AS BIGINT) AS num, CAST(den AS BIGINT) AS den, "
        f"ratio FROM bench_cells WHERE target = '{target}'"
    ).to_arrow_table()
    currencies = sorted(set(cells["currency"].to_pylist()))
    code = {c: i for i, c in enumerate(currencies)}
    days = cells["rate_date"].cast("int32").to_numpy()
    day0, n_days = int(days.min()), int(days.max() - days.min() + 1)
    at = np.array([code[c] for c in cells["currency"].to_pylist()]) * n_days + (days - day0)
    size = len(currencies) * n_days
    ratio, num, den = np.zeros(size), np.zeros(size, np.int64), np.ones(size, np.int64)
    ratio[at] = cells["ratio"].to_numpy()
    num[at] = cells["num"].to_numpy()
    den[at] = cells["den"].to_numpy()
    all_days = np.arange(day0, day0 + n_days).astype("datetime64[D]")
    month_labels, month_of_day = np.unique(
        np.datetime_as_string(all_days.astype("datetime64[M]")), return_inverse=True
    )
    ratio_s = pl.Series("ratio", ratio)
    month_s = pl.Series("month", month_of_day.astype(np.int32))

    frame = pl.from_arrow(cur.sql(f"SELECT {COLUMNS} FROM line_entries").to_arrow_table())
    frame = frame.select(
        pl.col("entity").cast(pl.Categorical),
        pl.col("chip_model").cast(pl.Categorical),
        pl.col("currency").replace_strict(code, return_dtype=pl.Int64).alias("cur"),
        (pl.col("order_date").cast(pl.Int32) - day0).alias("day"),
        "amount_minor",
        "quantity",
        "lines",
    ).rechunk()

    def run(_round: int) -> dict:
        cell = pl.col("cur") * n_days + pl.col("day")
        g = frame.lazy().with_columns(
            x=pl.col("amount_minor") * pl.lit(ratio_s).gather(cell),
            month=pl.lit(month_s).gather(pl.col("day")),
            cell=cell,
        )
        ax = pl.col("x").abs()
        g = g.with_columns(
            clear=(ax < FLOAT_EXACT) & ((ax - ax.floor() - 0.5).abs() > ax * ERROR_BOUND)
        )
        keys = ["entity", "chip_model", "month"]
        fast = g.group_by(keys).agg(
            lines=pl.col("lines").cast(pl.Int64).sum(),
            quantity=pl.col("quantity").sum(),
            amount=pl.when("clear").then(pl.col("x").round().cast(pl.Int64)).otherwise(0).sum(),
        )
        slow = g.filter(~pl.col("clear")).select(*keys, "amount_minor", "cell")
        fast_df, slow_df = pl.collect_all([fast, slow])
        rows = {
            (e, c, m): [lines, qty, amount] for e, c, m, lines, qty, amount in fast_df.iter_rows()
        }
        for e, c, m, amount, k in slow_df.iter_rows():
            rows[(e, c, m)][2] += _half_even(amount, int(num[k]), int(den[k]))
        return {
            (e, c, str(month_labels[m])): tuple(v)
            for (e, c, m), v in rows.items()
            if tuple(v) != (0, 0, 0)
        }

    return run
