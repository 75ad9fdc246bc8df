"""The SQL sandbox: statement checks (each layer alone), limits, every value encoded.

Library tests run the sandbox on a real store; the HTTP ones go through a live
uvicorn server (tests/test_api_support.py), where the memory figure is taken.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from api.encoding import ArrowSink, CsvSink, JsonSink
from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from ledger.store import sandbox as sql_sandbox
from ledger.store.sandbox import SqlLimits, check_parsed, check_tokens
from ledger.store.store import Store
from tests.conftest import GOLDEN_CSV, load_reference
from tests.test_api_support import LiveServer

UHUGEINT_MAX = str(2**128 - 1)


@pytest.fixture
def filled(tmp_path):
    """A ledger named as the CLI names it, with a feed, a WAL and a snapshot folder."""
    db = tmp_path / "chip-ledger.duckdb"
    ledger = Ledger.open(db, snapshot_dir=tmp_path / "snaps")
    load_reference(ledger)
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    (tmp_path / "snaps").mkdir()
    (tmp_path / "snaps" / "x.csv").write_text("a\n1\n")
    yield ledger.store, tmp_path
    ledger.close()


def refused_status(store: Store, sql: str) -> int:
    with pytest.raises(LedgerError) as e:
        store.read_only_sql(sql)
    return e.value.status


def temp_tables(store: Store) -> int:
    table, _ = store.read_only_sql("SELECT count(*) AS n FROM duckdb_tables() WHERE temporary")
    return table["n"][0].as_py()


# -- statement checks ----------------------------------------------------------


UNDER_EXPLAIN = [
    "CHECKPOINT",
    "FORCE CHECKPOINT",
    "VACUUM",
    "VACUUM ANALYZE line_entries",
    "CREATE TEMP TABLE t AS SELECT 1",
    "CREATE TEMP VIEW v AS SELECT 1",
    "CREATE TEMP SEQUENCE s",
    "COMMIT",
    "ROLLBACK",
    "BEGIN",
    "SET threads = 1",
    "PRAGMA version",
    "COPY (SELECT 42) TO '{dir}/snaps/x.csv'",
    "COPY line_entries FROM '{dir}/snaps/x.csv'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "ATTACH '{dir}/snaps/o.duckdb' AS o",
    "DETACH o",
    "INSERT INTO chips SELECT * FROM chips",
    "DELETE FROM feeds",
    "EXPORT DATABASE '{dir}/snaps/e'",
]


@pytest.mark.parametrize("prefix", ["EXPLAIN ANALYZE ", "EXPLAIN ", "EXPLAIN (ANALYZE) "])
def test_explain_checks_the_statement_it_would_run(filled, prefix):
    store, tmp = filled
    before = store.content_hash()
    wal = tmp / "chip-ledger.duckdb.wal"
    wal_bytes = wal.read_bytes() if wal.exists() else b""
    for inner in UNDER_EXPLAIN:
        sql = prefix + inner.format(dir=tmp)
        assert refused_status(store, sql) in (400, 403), sql
    assert store.content_hash() == before
    assert temp_tables(store) == 0
    # no checkpoint ran: the WAL still holds the feed (a checkpoint folds and empties it)
    assert (wal.read_bytes() if wal.exists() else b"") == wal_bytes
    assert (tmp / "snaps" / "x.csv").read_text() == "a\n1\n"
    assert not (tmp / "snaps" / "o.duckdb").exists()


def test_explain_of_a_select_still_answers(filled):
    store, _ = filled
    for sql in [
        "EXPLAIN SELECT count(*) FROM orders",
        "EXPLAIN ANALYZE SELECT count(*) FROM orders_usd",
        "EXPLAIN (FORMAT json) SELECT 1",
        "EXPLAIN (SELECT 1) UNION ALL (SELECT 2)",
        "/* why */ EXPLAIN -- a comment\n ANALYZE SELECT 1",
    ]:
        table, _ = store.read_only_sql(sql)
        assert table.num_rows >= 1, sql
    for sql, rows in [
        ("DESCRIBE orders", None),
        ("SUMMARIZE SELECT 1 AS a", 1),
        ("SHOW TABLES", None),
        ("FROM range(3)", 3),
        ("WITH x AS (SELECT 2 AS v) SELECT v FROM x", 1),
        ("SELECT count(*) FROM duckdb_tables()", 1),
        ("SELECT * FROM generate_series(1, 4)", 4),
        ("SELECT unnest([1, 2])", 2),
    ]:
        table, _ = store.read_only_sql(sql)
        assert rows is None or table.num_rows == rows, sql


FILE_AND_SIDE_EFFECT_SQL = [
    "SELECT * FROM checkpoint()",
    "SELECT * FROM force_checkpoint()",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM query_table('chips')",
    "SELECT * FROM read_blob('{dir}/chip-ledger.duckdb')",
    "SELECT size FROM read_blob('{dir}/chip-ledger.duckdb.wal')",
    "SELECT * FROM read_text('{dir}/chip-ledger.duckdb')",
    "SELECT * FROM read_csv('{dir}/snaps/x.csv')",
    "SELECT * FROM read_csv_auto('{dir}/snaps/x.csv')",
    "SELECT * FROM read_parquet('{dir}/snaps/*.parquet')",
    "SELECT * FROM read_json_auto('{dir}/snaps/x.csv')",
    "SELECT * FROM parquet_metadata('{dir}/snaps/x.parquet')",
    "SELECT * FROM sniff_csv('{dir}/snaps/x.csv')",
    "SELECT * FROM glob('{dir}/*')",
    "SELECT * FROM '{dir}/snaps/x.csv'",
    'SELECT * FROM "{dir}/snaps/x.csv"',
    "SELECT (SELECT count(*) FROM read_blob('{dir}/chip-ledger.duckdb'))",
    "WITH f AS (SELECT * FROM read_text('{dir}/snaps/x.csv')) SELECT * FROM f",
    "SELECT * FROM main.read_blob('{dir}/chip-ledger.duckdb')",
    "SELECT * FROM duckdb_databases()",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM enable_logging()",
    "SELECT nextval('s')",
    "SELECT setseed(0.5)",
    "SELECT sleep_ms(100000)",
    "EXPLAIN ANALYZE SELECT * FROM checkpoint()",
    "EXPLAIN ANALYZE SELECT * FROM read_blob('{dir}/chip-ledger.duckdb')",
]


def test_file_readers_and_side_effect_functions_are_403(filled):
    store, tmp = filled
    before = store.content_hash()
    for template in FILE_AND_SIDE_EFFECT_SQL:
        sql = template.format(dir=tmp)
        assert refused_status(store, sql) == 403, sql
    assert store.content_hash() == before
    assert (tmp / "snaps" / "x.csv").read_text() == "a\n1\n"


def test_each_layer_refuses_alone(filled, monkeypatch):
    """The parse-tree check and the token denylist each stop a side-effect call alone."""
    store, tmp = filled
    side_effects = [
        "SELECT * FROM checkpoint()",
        'SELECT * FROM "force_checkpoint"()',
        f"SELECT * FROM main.read_blob('{tmp}/chip-ledger.duckdb')",
        "SELECT * FROM (SELECT * FROM query('CHECKPOINT'))",
    ]
    for sql in side_effects:
        for layer in (check_parsed, check_tokens):
            with pytest.raises(LedgerError) as e:
                layer(sql)
            assert e.value.status == 403, (layer.__name__, sql)
    # the allowlist (parse tree) refuses a table function no denylist names
    with pytest.raises(LedgerError):
        check_parsed("SELECT * FROM duckdb_eviction_queues()")
    check_tokens("SELECT * FROM duckdb_eviction_queues()")  # not on the denylist
    # through the whole sandbox with one layer switched off, the other still holds
    for off in ("check_parsed", "check_tokens"):
        with monkeypatch.context() as m:
            m.setattr(sql_sandbox, off, lambda sql: None)
            for sql in side_effects:
                assert refused_status(store, sql) == 403, (off, sql)
    # and with both off, the instance itself has no file access (not even the
    # snapshot folder), so a reader still fails with a clean 4xx
    with monkeypatch.context() as m:
        m.setattr(sql_sandbox, "check_statement", lambda sql: [sql])
        assert refused_status(store, f"SELECT * FROM read_csv('{tmp}/snaps/x.csv')") == 403
        assert refused_status(store, "SELECT * FROM glob('/*')") == 403


def test_memory_limit_is_bounded(tmp_path):
    store = Store(tmp_path / "m.duckdb", sql_memory_mb=256)
    try:
        table, _ = store.read_only_sql("SELECT current_setting('memory_limit') AS m")
        assert table["m"][0].as_py() in ("256.0 MiB", "244.1 MiB"), table  # MiB or MB shown
        with pytest.raises(LedgerError) as e:
            store.read_only_sql("EXPLAIN ANALYZE SET memory_limit = '100GB'")
        assert e.value.status == 403
    finally:
        store.close()


# -- limits ------------------------------------------------------------------


def run_into(store: Store, sql: str, sink, **limits) -> bool:
    return store.run_sql(sql, SqlLimits(**{"max_rows": 1_000_000, **limits}), sink)


def body(sink, truncated: bool) -> bytes:
    return b"".join(sink.finish(truncated))


def test_row_cap_and_answer_size_cap(store):
    sink = JsonSink()
    truncated = run_into(store, "SELECT range AS i FROM range(10)", sink, max_rows=3)
    assert truncated and json.loads(body(sink, truncated))["rows"] == [[0], [1], [2]]
    sink = JsonSink()
    assert not run_into(store, "SELECT range AS i FROM range(3)", sink, max_rows=3)
    # the byte cap cuts at a row boundary: the body stays valid JSON within the cap
    sql = "SELECT range AS i, repeat('x', 100) AS pad FROM range(100000)"
    for sink in (JsonSink(), CsvSink(), ArrowSink(), ArrowSink(file=True)):
        truncated = run_into(store, sql, sink, max_bytes=200_000)
        data = body(sink, truncated)
        assert truncated and len(data) <= 200_000, type(sink).__name__
        if isinstance(sink, JsonSink):
            rows = json.loads(data)["rows"]
        elif isinstance(sink, CsvSink):
            rows = list(csv.reader(io.StringIO(data.decode())))[1:]
        elif sink.file:
            rows = ipc.open_file(pa.BufferReader(data)).read_all().to_pylist()
        else:
            rows = ipc.open_stream(pa.BufferReader(data)).read_all().to_pylist()
        assert 1000 < len(rows) < 2000, (type(sink).__name__, len(rows))


class SlowSink(JsonSink):
    """Sleeps in its first write, past the time limit: the interrupt lands after batch one."""

    slice_rows = 2048

    def write(self, batch, budget_bytes):
        if not self.size_bytes > 100:
            time.sleep(0.6)
        return super().write(batch, budget_bytes)


def test_interrupt_after_the_first_batch_is_408(store):
    with pytest.raises(LedgerError) as e:
        run_into(store, "SELECT range FROM range(100000000)", SlowSink(), timeout_s=0.2)
    assert e.value.status == 408 and e.value.kind == "sql-timeout"
    # also when DuckDB is interrupted inside EXPLAIN ANALYZE
    with pytest.raises(LedgerError) as e:
        store.read_only_sql(
            "EXPLAIN ANALYZE SELECT count(*) FROM range(1000000000) a, range(1000000) b "
            "WHERE a.range + b.range = -1",
            timeout_s=0.2,
        )
    assert e.value.status == 408


# -- every value encoded ---------------------------------------------------------


def test_every_value_duckdb_returns_encodes(store):
    sql = "SELECT * FROM test_all_types()"
    sink = JsonSink()
    answer = json.loads(body(sink, run_into(store, sql, sink)))
    named = [dict(zip(answer["columns"], row, strict=True)) for row in answer["rows"]]
    assert answer["types"][answer["columns"].index("uhugeint")] == "UHUGEINT"
    low, high, null = named
    assert high["uhugeint"] == UHUGEINT_MAX and low["uhugeint"] == "0"
    assert high["hugeint"] == str(2**127 - 1) and high["ubigint"] == str(2**64 - 1)
    assert high["date"] == "5881580-07-10" and high["time_tz"] == "24:00:00-15:59:59"
    assert low["timestamp"].startswith("290309-12-22 (BC)")
    assert high["blob"] == base64.b64encode(b"\x00\x00\x00a").decode()
    assert high["interval"] == {"months": 999, "days": 999, "nanoseconds": 999999999000}
    assert high["double_array"][1] is None  # NaN is null
    assert high["date_array"][1:3] == ["infinity", "-infinity"]
    assert set(null.values()) == {None}

    sink = JsonSink()
    infinities = "SELECT DATE 'infinity' AS d, TIMESTAMP '-infinity' AS t, 'nan'::DOUBLE AS f"
    assert json.loads(body(sink, run_into(store, infinities, sink)))["rows"] == [
        ["infinity", "-infinity", None]
    ]
    sink = CsvSink()
    rows = list(csv.reader(io.StringIO(body(sink, run_into(store, sql, sink)).decode())))
    assert len(rows) == 4 and rows[0] == answer["columns"]
    cells = dict(zip(rows[0], rows[2], strict=True))
    assert cells["uhugeint"] == UHUGEINT_MAX and cells["date"] == "5881580-07-10"
    assert json.loads(cells["struct"]) == high["struct"]
    # Arrow keeps DuckDB's types, but UHUGEINT (which Arrow cannot hold) travels as text
    for file in (False, True):
        sink = ArrowSink(file=file)
        data = body(sink, run_into(store, sql, sink))
        opened = ipc.open_file if file else ipc.open_stream
        table = opened(pa.BufferReader(data)).read_all()
        assert table["uhugeint"].to_pylist()[:2] == ["0", UHUGEINT_MAX]
        assert table.schema.field("int").type == pa.int32()


# -- through the service ------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer(
        tmp_path_factory.mktemp("sandbox"),
        {"CHIP_LEDGER_SQL_MAX_ROWS": "1000000", "CHIP_LEDGER_SQL_TIMEOUT_S": "60"},
    )
    srv.wait_ready()
    yield srv
    srv.stop()


def test_service_encodes_every_value_and_both_arrow_formats(server):
    for accept in ("application/json", "text/csv"):
        for sql in ("SELECT DATE 'infinity' AS d", "SELECT * FROM test_all_types()"):
            r = server.sql(sql, Accept=accept)
            assert r.status_code == 200, (accept, sql, r.text)
    r = server.sql("SELECT range AS i FROM range(5)", Accept="application/vnd.apache.arrow.file")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.arrow.file"
    assert ipc.open_file(pa.BufferReader(r.content)).read_all()["i"].to_pylist() == list(range(5))
    r = server.sql("SELECT range AS i FROM range(5)", Accept="application/vnd.apache.arrow.stream")
    assert r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert ipc.open_stream(pa.BufferReader(r.content)).read_all().num_rows == 5
    r = server.sql("EXPLAIN ANALYZE CHECKPOINT")
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


# Tens of thousands of rows of nested structs, ~2.5 KB each as JSON: past the answer cap.
NESTED_SQL = (
    "SELECT range AS i, {'a': range, 'b': [range::VARCHAR, 'x' || range, repeat('y', 300)], "
    "'c': {'d': DATE '2025-01-01' + (range % 1000)::INTEGER, 'e': repeat('z', 2000), "
    "'f': [{'g': range * 1.5, 'h': [1, 2, 3]}]}} AS s FROM range(60000)"
)


def test_a_large_nested_answer_stays_bounded(server):
    before_mb = peak_rss_mb(server.proc.pid)
    r = server.sql(NESTED_SQL)
    assert r.status_code == 200, r.text[:500]
    answer = r.json()
    assert answer["truncated"] is True and r.headers["x-truncated"] == "true"
    assert len(r.content) <= 64 * 1024 * 1024
    assert 10_000 < len(answer["rows"]) < 60_000
    assert answer["rows"][1][1]["c"]["d"] == "2025-01-02"
    peak_mb = peak_rss_mb(server.proc.pid)
    print(f"service peak RSS: {before_mb:.0f} MB before, {peak_mb:.0f} MB after the nested query")
    assert peak_mb - before_mb < 250, (before_mb, peak_mb)


# -- metrics and loopback ------------------------------------------------------------


def test_made_up_methods_and_routes_share_one_label(server):
    for method, path in [
        ("BREW", "/v1/totals"),
        ("FROB", "/"),
        ("GET", "/no-such-route-1"),
        ("GET", "/v1/no-such-route-2"),
        ("PATCH", "/no-such-route-3"),
    ]:
        assert server.client.request(method, path).status_code in (400, 404, 405)
    series = [
        line
        for line in server.client.get("/metrics").text.splitlines()
        if line.startswith("chip_ledger_requests_total{")
    ]
    text = "\n".join(series)
    for made_up in ("BREW", "FROB", "no-such-route"):
        assert made_up not in text
    assert 'method="other"' in text and 'route="other"' in text


def test_without_keys_every_route_answers_loopback_only(tmp_path, monkeypatch):
    from api.main import create_app, open_ledger
    from api.settings import Settings

    monkeypatch.delenv("CHIP_LEDGER_API_KEYS", raising=False)
    settings = Settings(db=str(tmp_path / "t.duckdb"))
    app = create_app(settings)
    app.state.ledger = open_ledger(settings)

    async def get(client_host: str, path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            return await c.get(path)

    try:
        for path in ("/healthz", "/metrics", "/openapi.json", "/docs", "/v1/reference/chips"):
            r = asyncio.run(get("203.0.113.9", path))
            assert r.status_code == 403, (path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert asyncio.run(get("127.0.0.1", path)).status_code != 403, path
    finally:
        app.state.ledger.store.close()


def test_forwarded_non_loopback_client_is_refused(server):
    # uvicorn takes the client from X-Forwarded-For when a local proxy sends it
    r = server.client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 403, r.text
    assert server.client.get("/healthz").status_code == 200


def test_a_real_server_refuses_other_proxies_rebinding_and_cross_site_posts(server):
    """The same rules on a real uvicorn (api.loopback): Forwarded / X-Real-IP naming
    another host, a Host of another name, a cross-site text/plain POST."""
    for headers in ({"Forwarded": "for=203.0.113.9"}, {"X-Real-IP": "203.0.113.9"},
                    {"Host": "attacker.example"}):  # fmt: skip
        r = server.client.get("/healthz", headers=headers)
        assert r.status_code == 403, (headers, r.text)
    before = server.client.get("/healthz").json()
    r = server.client.post(
        "/v1/sql", content=b'{"sql": "SELECT 1"}',
        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
    )  # fmt: skip
    assert r.status_code == 403 and "Cross-site" in r.json()["title"]
    assert server.client.get("/healthz").json() == before
