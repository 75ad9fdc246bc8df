"""Frames as polars and pandas write them, sent to the real HTTP service (issue 12, item 2).

Each test lets the library write the bytes (no hand-built Arrow), posts them to a
uvicorn process and reads back what the ledger stored through ad-hoc SQL.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from tests.conftest import GOLDEN_CSV
from tests.test_api_support import LiveServer

pl = pytest.importorskip("polars")
pd = pytest.importorskip("pandas")

CURRENCIES = ["CNY", "USD", "JPY", "EUR", "KWD"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = LiveServer(tmp_path_factory.mktemp("frames")).wait_ready()
    yield s
    s.stop()


def polars_lines(tag: str) -> pl.DataFrame:
    """The golden lines as a polars user has them: typed columns, categoricals, Datetime."""
    df = pl.read_csv(io.StringIO(GOLDEN_CSV), infer_schema=False)
    return df.with_columns(
        pl.col("order_id") + f"-{tag}",
        pl.col("line_no").cast(pl.Int64),
        pl.col("quantity").cast(pl.Int32),
        pl.col("supplier").cast(pl.Categorical),
        pl.col("chip_model").cast(pl.Categorical),
        pl.col("currency").cast(pl.Enum(CURRENCIES)),
        pl.col("order_date").str.to_datetime("%Y-%m-%d", time_unit="us"),
    )


def pandas_lines(tag: str) -> pd.DataFrame:
    df = pd.read_csv(io.StringIO(GOLDEN_CSV), dtype=str, keep_default_na=False)
    df["order_id"] = df["order_id"] + f"-{tag}"
    df["order_date"] = pd.to_datetime(df["order_date"])  # datetime64[ns] at midnight
    df["quantity"] = df["quantity"].astype("int64")
    return df.replace("", None)


def stored(server: LiveServer, tag: str) -> list[list]:
    return server.rows(
        "SELECT order_id, line_no, supplier, chip_model, currency, CAST(order_date AS VARCHAR), "
        f"quantity, amount_minor FROM orders WHERE order_id LIKE '%-{tag}' ORDER BY 1, 2"
    )


def golden_stored(tag: str) -> list[list]:
    """What the golden CSV itself stores (the expectation for every frame of it)."""
    df = pd.read_csv(io.StringIO(GOLDEN_CSV), dtype=str, keep_default_na=False)
    exponent = {"CNY": 2, "USD": 2, "JPY": 0, "EUR": 2, "KWD": 3}
    out = []
    for r in df.itertuples():
        minor = int(Decimal(r.unit_price) * 10 ** exponent[r.currency]) * int(r.quantity)
        out.append([f"{r.order_id}-{tag}", int(r.line_no), r.supplier, r.chip_model,
                    r.currency, r.order_date, int(r.quantity), minor])  # fmt: skip
    return sorted(out, key=lambda x: (x[0], x[1]))


def post(server: LiveServer, data: bytes, fmt: str):
    return server.post_feed(data, fmt)


@pytest.mark.parametrize("fmt", ["arrow-stream", "arrow-file", "parquet"])
def test_polars_categoricals_enums_and_datetimes(server, fmt):
    df = polars_lines(fmt)
    buf = io.BytesIO()
    {"arrow-stream": df.write_ipc_stream, "arrow-file": df.write_ipc,
     "parquet": df.write_parquet}[fmt](buf)  # fmt: skip
    if fmt.startswith("arrow"):  # the trap of issue 12: dictionaries of string_view
        schema = pa.ipc.open_stream(buf.getvalue()).schema if fmt == "arrow-stream" else (
            pa.ipc.open_file(pa.BufferReader(buf.getvalue())).schema)  # fmt: skip
        assert pa.types.is_dictionary(schema.field("supplier").type)
        assert pa.types.is_timestamp(schema.field("order_date").type)
    r = post(server, buf.getvalue(), "parquet" if fmt == "parquet" else "arrow")
    assert r.status_code == 201, r.text
    assert r.json()["lines_accepted"] == 9
    assert stored(server, fmt) == golden_stored(fmt)


def test_a_time_of_day_is_refused_not_shifted(server):
    df = polars_lines("3am").with_columns(pl.col("order_date") + pl.duration(hours=3))
    buf = io.BytesIO()
    df.write_parquet(buf)
    r = post(server, buf.getvalue(), "parquet")
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert {e["field"] for e in errors} == {"order_date"}
    assert "2025-02-01T03:00:00" in errors[0]["message"] and "time of day" in errors[0]["message"]
    assert stored(server, "3am") == []


def test_pandas_parquet_datetime64_and_index_column(server):
    df = pandas_lines("pq").iloc[[0, 2, 3]]  # a filtered frame: an index pandas must write
    buf = io.BytesIO()
    df.to_parquet(buf)
    assert "__index_level_0__" in pa.parquet.read_schema(pa.BufferReader(buf.getvalue())).names
    r = post(server, buf.getvalue(), "parquet")
    assert r.status_code == 201, r.text
    expected = golden_stored("pq")  # in the golden CSV's own order
    assert stored(server, "pq") == [expected[0], expected[2], expected[3]]


def test_pandas_arrow_with_a_named_index(server):
    df = pandas_lines("ipc").set_index("budget_code", drop=False).rename_axis("row_label")
    table = pa.Table.from_pandas(df)
    assert "row_label" in table.column_names  # pandas names it in its schema metadata
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    r = post(server, sink.getvalue().to_pybytes(), "arrow")
    assert r.status_code == 201, r.text
    assert stored(server, "ipc") == golden_stored("ipc")


def test_pandas_to_csv_index_column(server):
    text = pandas_lines("csv").assign(order_date=lambda d: d.order_date.dt.date).to_csv()
    assert text.startswith(",order_id,")  # the unnamed index column pandas writes
    r = post(server, text.encode(), "csv")
    assert r.status_code == 201, r.text
    assert stored(server, "csv") == golden_stored("csv")


def test_pandas_floats_taken_only_when_exact(server):
    df = pandas_lines("fl").iloc[[4]].copy()  # PO-2 line 1: USD, quantity 10
    df["quantity"] = 1
    df["unit_price"] = 123456789012.5  # repr '123456789012.5', printed by Arrow as 1.23e+11
    buf = io.BytesIO()
    df.to_parquet(buf)
    r = post(server, buf.getvalue(), "parquet")
    assert r.status_code == 201, r.text
    assert stored(server, "fl")[0][-1] == 12345678901250

    df["order_id"] = "PO-2-inexact"
    df["unit_price"] = 0.1 + 0.2  # shortest form 0.30000000000000004: not a price in cents
    buf = io.BytesIO()
    df.to_parquet(buf)
    r = post(server, buf.getvalue(), "parquet")
    assert r.status_code == 422, r.text
    assert "'0.30000000000000004'" in r.json()["errors"][0]["message"]
