"""Ingest rates in lines/s: the ledger in process (`Ledger.ingest_bytes`, Arrow IPC and CSV),
the service over HTTP (`POST /v1/orders`, Arrow IPC, CSV and JSON), and a raw DuckDB
append of the same Arrow batches into a fresh file (no validation, no ledger rules).

Each round sends new lines (a ledger answers a re-sent feed from its log): batch r of
one family goes to every method of that family in round r, each into its own ledger.
The lines are the demo's, dated two years later (fiscal years without budgets) and
priced low, so that no `stop` budget refuses them, however full the ledger's budgets
are; the budget pre-check still runs on every feed, as it does in production.
"""

from __future__ import annotations

import io
import json
import time
from decimal import Decimal
from pathlib import Path

import duckdb  # bench only: the raw-append baseline, outside the ledger
import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bench.timing import interleave
from ledger import demo
from ledger.domain.feeds import FORMATS
from ledger.write import table_bytes

# order numbers far above the demo's and the sample feeds': every batch is new lines
FIRST_LINE = 5 * 10**11
FAMILIES = ("arrow", "csv", "json")
SHIFT_DAYS = 731  # 2024 -> 2026, 2025 -> 2027


def batches(family: str, count: int, lines: int, price_lines: int) -> list[pa.Table]:
    """`count` raw feed tables of `lines` new lines each, distinct for each family."""
    k0 = FAMILIES.index(family) * count
    return [one_batch(k0 + k, lines, price_lines) for k in range(count)]


def one_batch(index: int, lines: int, price_lines: int) -> pa.Table:
    """Batch `index` of `lines` new lines: lines FIRST_LINE + index * lines onwards."""
    table = next(
        demo.generate(
            lines, lines, seed=demo.SEED + 100 + index,
            start_line=FIRST_LINE + index * lines, price_lines=price_lines,
        )
    )  # fmt: skip
    days = pc.add(table["order_date"].cast(pa.int32()), pa.scalar(SHIFT_DAYS, pa.int32()))
    days = days.cast(pa.date32())
    return table.set_column(table.schema.get_field_index("order_date"), "order_date", days)


def csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def json_bytes(table: pa.Table) -> bytes:
    rows = table.to_pylist()
    for r in rows:
        r["order_date"] = r["order_date"].isoformat()
        r["unit_price"] = str(Decimal(r["unit_price"]))
    return json.dumps(rows).encode()


class RawAppend:
    """The baseline: Arrow batches appended to a plain DuckDB table in a fresh file."""

    def __init__(self, path: str | Path, schema_from: pa.Table):
        self.con = duckdb.connect(str(path))
        self.con.register("first_batch", schema_from)
        self.con.execute("CREATE TABLE raw_lines AS SELECT * FROM first_batch LIMIT 0")
        self.con.unregister("first_batch")

    def append(self, table: pa.Table) -> int:
        self.con.register("batch", table)
        self.con.execute("INSERT INTO raw_lines SELECT * FROM batch")
        self.con.unregister("batch")
        return table.num_rows

    def close(self) -> None:
        self.con.close()


def _ingest_in_process(ledger, data: bytes, fmt: str, feed_id: str) -> int:
    result = ledger.ingest_bytes(data, fmt, feed_id=feed_id)
    if result.replay:
        raise AssertionError(f"{feed_id} was already in the ledger")
    return result.answer["lines_accepted"]


SEND_CHUNK_BYTES = 1 << 20


def body_chunks(data: bytes):
    """The body in 1 MiB views, sent with its Content-Length. httpx given one 160 MB bytes
    object took 2.7-3.0 s to send it where curl took 0.85 s (to the same uvicorn server);
    in 1 MiB pieces httpx takes 0.86 s: the bench then times the service, not its client."""
    view = memoryview(data)
    for start in range(0, len(data), SEND_CHUNK_BYTES):
        yield view[start : start + SEND_CHUNK_BYTES]


def _ingest_http(http: httpx.Client, url: str, data: bytes, fmt: str, feed_id: str) -> int:
    answer = http.post(
        url + "/v1/orders", content=body_chunks(data),
        headers={"Content-Type": FORMATS[fmt], "Idempotency-Key": feed_id,
                 "Content-Length": str(len(data))},
    )  # fmt: skip
    if answer.status_code != 201:
        raise AssertionError(f"POST /v1/orders ({fmt}): {answer.status_code} {answer.text[:300]}")
    return answer.json()["lines_accepted"]


def measure(
    ledger, base_url: str | None, raw_path: str | Path, runs: int, batch_lines: int,
    price_lines: int, tag: str,
) -> dict:  # fmt: skip
    """Every ingest method, interleaved; rates from the median (and best) round."""
    count = runs + 1  # the warm-up round takes a batch too
    tables = {f: batches(f, count, batch_lines, price_lines) for f in FAMILIES}
    data = {
        "arrow": [table_bytes(t) for t in tables["arrow"]],
        "csv": [csv_bytes(t) for t in tables["csv"]],
        "json": [json_bytes(t) for t in tables["json"]] if base_url else [],
    }
    raw = RawAppend(raw_path, tables["arrow"][0])

    def feed_id(fmt: str, r: int) -> str:
        return f"bench-{tag}-{fmt}-{r}"

    methods = {
        "duckdb_raw_append": lambda r: raw.append(tables["arrow"][r]),
        "store_arrow": lambda r: _ingest_in_process(
            ledger, data["arrow"][r], "arrow", feed_id("arrow", r)
        ),
        "store_csv": lambda r: _ingest_in_process(ledger, data["csv"][r], "csv", feed_id("csv", r)),
    }
    http = httpx.Client(timeout=600) if base_url else None
    if http is not None:
        for fmt in FAMILIES:
            methods[f"http_{fmt}"] = lambda r, fmt=fmt: _ingest_http(
                http, base_url, data[fmt][r], fmt, feed_id(fmt, r)
            )

    def check(name: str, accepted: int) -> None:
        if accepted != batch_lines:
            raise AssertionError(f"ingest {name}: {accepted} of {batch_lines} lines accepted")

    try:
        timed = interleave(methods, runs, check)
    finally:
        raw.close()
        if http is not None:
            http.close()
    out: dict = {"batch_lines": batch_lines}
    for name, s in timed.items():
        out[name] = {
            "ms": s,
            "lines_per_s": batch_lines / (s["median"] / 1000),
            "lines_per_s_best": batch_lines / (s["min"] / 1000),
        }
    out["bytes_per_batch"] = {f: len(d[0]) for f, d in data.items() if d}
    return out


LARGE_INDEX0 = 1000  # large batches' lines start far above every regular batch's


def measure_large(
    ledger, base_url: str | None, raw_path: str | Path, batch_lines: int, price_lines: int,
    tag: str,
) -> dict:  # fmt: skip
    """One feed of `batch_lines` new lines per method (1M by default), timed once each.

    The regular rounds before it have warmed every path, but a service restarted since
    builds its key index and committed totals on its first feed: a 1,000-line feed per
    family goes first (untimed), so that the large one times ingest, not that build."""
    tables = {f: one_batch(LARGE_INDEX0 + i, batch_lines, price_lines)
              for i, f in enumerate(FAMILIES)}  # fmt: skip
    encode = {"arrow": table_bytes, "csv": csv_bytes, "json": json_bytes}
    raw = RawAppend(raw_path, tables["arrow"])
    http = httpx.Client(timeout=600) if base_url else None
    out: dict = {"batch_lines": batch_lines, "rounds": 1, "bytes_per_batch": {}}

    def timed(name: str, call) -> None:
        started = time.perf_counter()
        accepted = call()
        ms = (time.perf_counter() - started) * 1000
        if accepted != batch_lines:
            raise AssertionError(f"ingest {name}: {accepted} of {batch_lines} lines accepted")
        s = {"median": ms, "min": ms, "max": ms, "runs": 1}
        out[name] = {"ms": s, "lines_per_s": batch_lines / (ms / 1000),
                     "lines_per_s_best": batch_lines / (ms / 1000)}  # fmt: skip

    try:
        if http is not None:
            for i, fmt in enumerate(FAMILIES):
                small = one_batch((LARGE_INDEX0 + 10 + i) * batch_lines // 1000, 1000, price_lines)
                _ingest_http(http, base_url, encode[fmt](small), fmt, f"bench-{tag}-warm-{fmt}")
        timed("duckdb_raw_append", lambda: raw.append(tables["arrow"]))
        for fmt in ("arrow", "csv"):
            data = encode[fmt](tables[fmt])
            out["bytes_per_batch"][fmt] = len(data)
            timed(f"store_{fmt}", lambda d=data, f=fmt: _ingest_in_process(
                ledger, d, f, f"bench-{tag}-large-store-{f}"))  # fmt: skip
        if http is not None:
            for fmt in FAMILIES:
                # the in-process ledger took this family's lines: the service's is another
                # ledger (its own file), so the same lines are new there
                data = encode[fmt](tables[fmt])
                out["bytes_per_batch"][fmt] = len(data)
                timed(f"http_{fmt}", lambda d=data, f=fmt: _ingest_http(
                    http, base_url, d, f, f"bench-{tag}-large-http-{f}"))  # fmt: skip
                del data
    finally:
        raw.close()
        if http is not None:
            http.close()
    return out
