"""The service end to end: real uvicorn processes on 127.0.0.1, real DuckDB files, httpx."""

from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import HEADER
from tests.test_api_support import MEDIA, LiveServer, encode, needs_queries, start_servers

FORMATS = list(MEDIA)
MAX_BODY_BYTES = 200_000
MAX_ROWS_PER_FEED = 50
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Five fresh ledgers, one per feed format; the CSV one also serves the other tests."""
    base = tmp_path_factory.mktemp("api")
    env = {
        "CHIP_LEDGER_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "CHIP_LEDGER_MAX_ROWS_PER_FEED": str(MAX_ROWS_PER_FEED),
        "CHIP_LEDGER_SQL_TIMEOUT_S": "1",
        "CHIP_LEDGER_SQL_MAX_ROWS": "1000",
    }
    started = start_servers([(base / fmt, env) for fmt in FORMATS])
    yield dict(zip(FORMATS, started, strict=True))
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def server(servers) -> LiveServer:
    return servers["csv"]


def feed_csv(*lines: str) -> bytes:
    return (HEADER + "\n" + "\n".join(lines) + "\n").encode()


def line(order_id: str, line_no: int = 1, **overrides) -> str:
    fields = {
        "order_id": order_id, "line_no": str(line_no), "revision": "0", "status": "open",
        "entity": "ACME-CN", "order_date": "2025-02-01", "supplier": "Huawei",
        "chip_model": "Ascend 910B", "quantity": "2", "unit_price": "1000.00", "currency": "CNY",
        "destination": "CN", "budget_code": "DOM-2025", "workload": "inference",
        "acquisition": "purchase", "owner": "", "operator": "", "identity_reviewed": "false",
        "license_ref": "",
    }  # fmt: skip
    fields.update({k: str(v) for k, v in overrides.items()})
    return ",".join(fields[name] for name in HEADER.split(","))


def assert_problem(r, status: int, kind: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status
    assert body["title"]
    assert body["type"].startswith("https://")
    if kind is not None:
        assert body["type"].endswith("/" + kind), body
    return body


ORDERS_SQL = (
    "SELECT order_id, line_no, revision, status, entity, order_date, fiscal_year, supplier, "
    "chip_model, quantity, amount_minor, currency, destination, budget_code, workload, "
    "acquisition, owner, operator, identity_reviewed, license_ref, amount_usd_minor "
    "FROM orders_usd ORDER BY order_id, line_no"
)


# -- ingest: formats, idempotency, refusals ----------------------------------


def test_every_format_gives_the_same_ledger(servers):
    for fmt, srv in servers.items():
        r = srv.post_feed(encode(fmt), fmt, key="golden")
        assert r.status_code == 201, (fmt, r.text)
        answer = r.json()
        assert answer["feed_id"] == "golden"
        assert answer["lines_accepted"] == 9 and answer["entries_appended"] == 9, (fmt, answer)
    ledgers = {fmt: srv.rows(ORDERS_SQL) for fmt, srv in servers.items()}
    assert len(ledgers["csv"]) == 9
    for fmt in FORMATS:
        assert ledgers[fmt] == ledgers["csv"], fmt


@needs_queries
def test_every_format_gives_the_same_totals(servers):
    answers = {}
    for fmt, srv in servers.items():
        if srv.rows("SELECT count(*) FROM feeds WHERE feed_id = 'golden'")[0][0] == 0:
            assert srv.post_feed(encode(fmt), fmt, key="golden").status_code == 201
        r = srv.client.get("/v1/totals", params={"by": "entity,supplier,line_currency"})
        assert r.status_code == 200, r.text
        answers[fmt] = r.json()
    for fmt in FORMATS:
        assert answers[fmt] == answers["csv"], fmt
    assert answers["csv"]["currency"] == "USD"
    assert answers["csv"]["total"]["lines"] == 9


def test_replay_answers_200_and_changes_nothing(server):
    data = feed_csv(line("PO-R", 1), line("PO-R", 2, quantity=5))
    first = server.post_feed(data, "csv", key="replay-1")
    assert first.status_code == 201, first.text
    before = server.digest()
    again = server.post_feed(data, "csv", key="replay-1")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert server.digest() == before


def test_feed_id_from_content_hash_and_json_object(server):
    data = feed_csv(line("PO-H", 1))
    first = server.post_feed(data, "csv")
    assert first.status_code == 201, first.text
    assert first.json()["feed_id"].startswith("sha256:")
    assert server.post_feed(data, "csv").status_code == 200
    doc = {"feed_id": "json-object-feed", "lines": [json.loads(encode("json"))[0]]}
    r = server.post_feed(json.dumps(doc).encode(), "json")
    assert r.status_code == 201, r.text
    assert r.json()["feed_id"] == "json-object-feed"


def test_feed_id_with_other_content_is_409(server):
    assert server.post_feed(feed_csv(line("PO-C", 1)), "csv", key="conflict-1").status_code == 201
    before = server.digest()
    r = server.post_feed(feed_csv(line("PO-C", 1, quantity=3)), "csv", key="conflict-1")
    body = assert_problem(r, 409, "feed-conflict")
    assert "conflict-1" in body["detail"]
    assert server.digest() == before


def test_invalid_rows_are_422_naming_row_and_field_and_change_nothing(server):
    before = server.digest()
    data = feed_csv(
        line("PO-X", 1),
        line("PO-X", 2, quantity="-3"),
        line("PO-X", 3, entity="NOBODY"),
        line("PO-X", 4, currency="XXX"),
    )
    for fmt, body in (("csv", data), ("json", encode("json", data.decode()))):
        problem = assert_problem(server.post_feed(body, fmt), 422)
        faults = {(e["row"], e["field"]) for e in problem["errors"]}
        assert (1, "quantity") in faults, problem
        assert (2, "entity") in faults, problem
        assert (3, "currency") in faults, problem
        assert all(set(e) == {"row", "field", "message"} for e in problem["errors"])
    assert server.digest() == before


def test_malformed_feeds_are_400(server):
    before = server.digest()
    assert_problem(server.post_feed(b"[{", "json"), 400, "malformed-feed")
    assert_problem(server.post_feed(b"not arrow", "arrow"), 400, "malformed-feed")
    assert_problem(server.post_feed(b"PAR1 nope", "parquet"), 400, "malformed-feed")
    assert server.digest() == before


def test_csv_with_a_stray_carriage_return_is_400_not_500(server):
    # Python's csv module raises csv.Error here; it must reach the sender as a 400.
    before = server.digest()
    assert_problem(server.post_feed(b"order_id\rx,line_no\nA,1\n", "csv"), 400)
    r = server.client.put(
        "/v1/reference/chips", content=b"chip_model\rx;\n", headers={"Content-Type": "text/csv"}
    )
    assert_problem(r, 400)
    assert server.digest() == before


def test_body_over_the_limit_is_413_from_content_length(server):
    before = server.digest()
    data = b"x" * (MAX_BODY_BYTES + 1)
    body = assert_problem(server.post_feed(data, "csv"), 413, "body-too-large")
    assert "Content-Length" in body["detail"]
    assert server.digest() == before


def test_body_over_the_limit_is_413_while_streaming(server):
    before = server.digest()

    def chunks():  # no Content-Length: the server must count as it reads
        for _ in range(8):
            yield b"y" * (MAX_BODY_BYTES // 4)

    r = server.client.post("/v1/orders", content=chunks(), headers={"Content-Type": "text/csv"})
    assert_problem(r, 413, "body-too-large")
    assert server.digest() == before


def test_other_bodies_have_a_small_limit(server):
    big = "SELECT 1 -- " + "z" * (1 << 20)
    body = assert_problem(server.sql(big), 413, "body-too-large")
    assert str(1 << 20) in body["detail"]

    def chunks():  # streamed JSON without a length: refused as it passes the limit
        yield b'{"sql": "SELECT 1 -- '
        for _ in range(40):
            yield b"z" * 65536
        yield b'"}'

    r = server.client.post(
        "/v1/sql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(r, 413, "body-too-large")
    assert server.sql("SELECT 1").status_code == 200


def test_rows_over_the_limit_is_413(server):
    before = server.digest()
    data = feed_csv(*(line("PO-ROWS", i) for i in range(1, MAX_ROWS_PER_FEED + 2)))
    assert_problem(server.post_feed(data, "csv"), 413)
    assert server.digest() == before


def test_unsupported_content_type_is_415(server):
    r = server.client.post(
        "/v1/orders", content=b"<orders/>", headers={"Content-Type": "application/xml"}
    )
    assert_problem(r, 415, "unsupported-media-type")
    r = server.client.post("/v1/orders", content=b"x")  # no content type at all
    assert_problem(r, 415)


def test_concurrent_feeds_are_serialised(server):
    def send(i: int):
        return server.post_feed(feed_csv(line(f"PO-P{i}", 1), line(f"PO-P{i}", 2)), "csv")

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, range(12)))
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers]
    seqs = [r.json()["feed_seq"] for r in answers]
    assert len(set(seqs)) == 12
    n = server.rows("SELECT count(*) FROM orders WHERE order_id LIKE 'PO-P%'")[0][0]
    assert n == 24


# -- one problem shape everywhere ------------------------------------------


def test_problem_json_for_404_405_and_request_validation(server):
    body = assert_problem(server.client.get("/no/such/route"), 404)
    assert "/no/such/route" in body["detail"]
    r = server.client.delete("/v1/orders")
    assert_problem(r, 405)
    assert "POST" in r.headers["allow"]
    body = assert_problem(server.client.post("/v1/sql", json={"max_rows": -1}), 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"body.sql", "body.max_rows"} <= fields
    assert all(e["row"] is None for e in body["errors"])
    body = assert_problem(server.client.post("/v1/sql", content=b"{", headers={
        "Content-Type": "application/json"}), 422)  # fmt: skip
    r = server.post_feed(encode("csv"), "csv", key="k" * 201)
    assert_problem(r, 422)


def test_openapi_documents_content_types_and_problems(server):
    doc = server.client.get("/openapi.json").json()
    post = doc["paths"]["/v1/orders"]["post"]
    assert set(post["requestBody"]["content"]) == set(MEDIA.values())
    for status in ("200", "201", "401", "403", "409", "413", "415", "422"):
        assert status in post["responses"], status
    for status in ("401", "403", "409", "413", "415", "422"):
        content = post["responses"][status]["content"]
        assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "Idempotency-Key" in {p["name"] for p in post["parameters"]}


# -- reference data ----------------------------------------------------------


def test_reference_get_and_put(server):
    r = server.client.get("/v1/reference/entities")
    assert r.status_code == 200, r.text
    assert {"ACME-CN", "ACME-SG"} <= {row["entity"] for row in r.json()["rows"]}

    rows = [{"entity": "ACME-DE", "hq_country": "DE", "fy_start_month": 10}]
    r = server.client.put("/v1/reference/entities", json=rows)
    assert r.status_code == 200, r.text
    assert r.json() == {"table": "entities", "rows_loaded": 1}
    r = server.client.put(
        "/v1/reference/suppliers",
        content=b"supplier,hq_country\nBiren,CN\n",
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    suppliers = server.client.get("/v1/reference/suppliers").json()["rows"]
    assert any(s["supplier"] == "Biren" and s["hq_country"] == "CN" for s in suppliers)
    entities = server.client.get("/v1/reference/entities").json()["rows"]
    assert any(e["entity"] == "ACME-DE" and e["fy_start_month"] == 10 for e in entities)
    # the new entity takes feeds at once
    r = server.post_feed(feed_csv(line("PO-DE", 1, entity="ACME-DE", supplier="Biren")), "csv")
    assert r.status_code == 201, r.text
    rates = server.client.get("/v1/reference/fx-rates").json()["rows"]
    assert all(isinstance(r["rate"], str) for r in rates)


def test_reference_refusals_change_nothing(server):
    before = server.digest()
    bad = [{"entity": "", "hq_country": "ZZ"}, {"entity": "E2", "hq_country": "CN", "x": 1}]
    body = assert_problem(server.client.put("/v1/reference/entities", json=bad), 422)
    faults = {(e["row"], e["field"]) for e in body["errors"]}
    assert {(0, "entity"), (0, "hq_country"), (1, "x")} <= faults
    assert_problem(server.client.get("/v1/reference/planets"), 404)
    assert_problem(server.client.put("/v1/reference/planets", json=[]), 404)
    r = server.client.put(
        "/v1/reference/entities", content=b"<x/>", headers={"Content-Type": "application/xml"}
    )
    assert_problem(r, 415)
    r = server.client.put(
        "/v1/reference/budgets",
        json=[{"entity": "NOBODY", "budget_code": "B", "fiscal_year": 2025,
               "currency": "USD", "amount": "1.00", "action": "stop"}],
    )  # fmt: skip
    assert_problem(r, 422)
    assert server.digest() == before


# -- ad-hoc SQL ----------------------------------------------------------------


def test_sql_json_csv_and_arrow(server):
    sql = (
        "SELECT 1 AS n, CAST(12345678901234567890 AS HUGEINT) AS big, 9007199254740993 AS over, "
        "CAST('1.50' AS DECIMAL(9,2)) AS price, DATE '2025-02-01' AS d, NULL AS nothing, "
        "'x,y' AS text"
    )
    r = server.sql(sql)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["n", "big", "over", "price", "d", "nothing", "text"]
    assert body["rows"] == [
        [1, "12345678901234567890", "9007199254740993", "1.50", "2025-02-01", None, "x,y"]
    ]
    assert body["truncated"] is False

    r = server.sql(sql, Accept="text/csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == body["columns"]
    assert rows[1] == ["1", "12345678901234567890", "9007199254740993", "1.50", "2025-02-01", "",
                       "x,y"]  # fmt: skip

    import pyarrow as pa
    import pyarrow.ipc as ipc

    r = server.sql(sql, Accept="application/vnd.apache.arrow.stream")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = ipc.open_stream(pa.BufferReader(r.content)).read_all()
    assert table.column_names == body["columns"]
    assert table["over"][0].as_py() == 9007199254740993


def test_sql_row_cap(server):
    r = server.sql("SELECT range AS i FROM range(10)", max_rows=3)
    assert r.json()["rows"] == [[0], [1], [2]] and r.json()["truncated"] is True
    r = server.sql("SELECT range AS i FROM range(5000)", max_rows=10**9)  # capped by the server
    assert len(r.json()["rows"]) == 1000 and r.json()["truncated"] is True
    r = server.sql("SELECT range AS i FROM range(10)", max_rows=3, Accept="text/csv")
    assert r.headers["x-truncated"] == "true"
    assert list(csv.reader(io.StringIO(r.text))) == [["i"], ["0"], ["1"], ["2"]]


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE line_entries",
        "INSERT INTO feeds SELECT * FROM feeds",
        "DELETE FROM line_entries",
        "UPDATE entities SET hq_country = 'US'",
        "CREATE TABLE t AS SELECT 1",
        "COPY line_entries TO '/tmp/chip-ledger-stolen.csv'",
        "COPY (SELECT * FROM line_entries) TO '/tmp/chip-ledger-stolen.parquet' (FORMAT parquet)",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "ATTACH '/tmp/chip-ledger-other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "PRAGMA enable_profiling",
        "SELECT 1; DROP TABLE line_entries",
        "SELECT 1; SELECT 2",
        "CREATE SEQUENCE s",
        "SELECT nextval('s')",
        "SELECT * FROM read_parquet('https://example.invalid/x.parquet')",
        "CALL checkpoint()",
        "CHECKPOINT",
        "EXPORT DATABASE '/tmp/chip-ledger-export'",
        "BEGIN TRANSACTION",
    ],
)
def test_sql_sandbox_refuses(server, sql):
    before = server.digest()
    r = server.sql(sql)
    body = assert_problem(r, r.status_code)
    assert r.status_code in (400, 403), (sql, r.status_code, body)
    assert server.digest() == before


def test_sql_nextval_of_a_missing_sequence_changes_nothing(server):
    before = server.digest()
    assert server.sql("SELECT nextval('no_such_seq')").status_code in (400, 403)
    assert server.digest() == before


def test_sql_long_query_is_interrupted(server):
    r = server.sql(
        "SELECT count(*) FROM range(1000000000) a, range(1000000) b WHERE a.range * b.range = -1"
    )
    assert_problem(r, 408, "sql-timeout")
    # the service still answers afterwards
    assert server.sql("SELECT 42").json()["rows"] == [[42]]


# -- health and metrics -----------------------------------------------------


def test_healthz_and_metrics(server):
    r = server.client.get("/healthz")
    assert r.status_code == 200
    n = server.rows("SELECT count(*) FROM line_entries")[0][0]
    assert r.json()["entries"] == n
    server.post_feed(feed_csv(line("PO-M", 1)), "csv")
    server.client.get("/openapi.json")
    text = server.client.get("/metrics").text
    assert 'chip_ledger_requests_total{method="GET",route="/openapi.json",status="200"}' in text
    assert 'chip_ledger_requests_total{method="POST",route="/v1/orders",status="201"}' in text
    assert 'chip_ledger_request_seconds_bucket{le="0.001",method="GET",route="/healthz"}' in text
    assert "chip_ledger_lines_ingested_total" in text
    assert "# TYPE chip_ledger_kernel_seconds histogram" in text
    assert 'route="/no/such/route"' not in text  # unmatched paths never become labels


# -- reads (the use cases of ledger/queries.py) ---------------------------------


@needs_queries
def test_totals_equal_sql_over_orders_usd(server):
    r = server.client.get("/v1/totals", params={"by": "entity,fiscal_year"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["currency"] == "USD" and body["fx"] == "order-date"
    sql = server.rows(
        "SELECT entity, fiscal_year, CAST(count(*) AS BIGINT), CAST(sum(quantity) AS BIGINT), "
        "CAST(sum(amount_usd_minor) AS BIGINT) FROM orders_usd WHERE status = 'open' "
        "GROUP BY ALL ORDER BY ALL"
    )
    got = sorted(
        [row["entity"], row["fiscal_year"], row["lines"], row["quantity"], row["amount_minor"]]
        for row in body["rows"]
    )
    assert [[e, fy, int(n), int(q), int(a)] for e, fy, n, q, a in got] == [
        [e, fy, int(n), int(q), int(a)] for e, fy, n, q, a in sql
    ]
    assert int(body["total"]["amount_minor"]) == sum(int(row[4]) for row in sql)
    for row in body["rows"]:
        assert isinstance(row["amount"], str)


@needs_queries
def test_totals_filters_and_refusals(server):
    r = server.client.get(
        "/v1/totals", params=[("by", "supplier"), ("entity", "ACME-CN"), ("entity", "ACME-SG")]
    )
    assert r.status_code == 200, r.text
    one = server.client.get("/v1/totals", params={"by": "supplier", "entity": "ACME-CN"}).json()
    assert int(one["total"]["amount_minor"]) <= int(r.json()["total"]["amount_minor"])
    body = assert_problem(server.client.get("/v1/totals", params={"colour": "red"}), 422)
    assert "colour" in json.dumps(body)
    body = assert_problem(server.client.get("/v1/totals", params={"by": "colour"}), 422)
    assert "colour" in json.dumps(body)
    body = assert_problem(server.client.get("/v1/totals", params={"currency": "XAU"}), 422)
    assert "XAU" in json.dumps(body)
    eur = server.client.get("/v1/totals", params={"currency": "EUR", "fx": "2025-03-01"})
    assert eur.status_code == 200, eur.text
    assert eur.json()["currency"] == "EUR"
    assert_problem(server.client.get("/v1/totals", params={"fx": "yesterday"}), 422)


@needs_queries
def test_budgets_sourcing_compliance(server):
    r = server.client.get("/v1/budgets", params={"fiscal_year": 2025})
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["rows"], list)
    r = server.client.get("/v1/sourcing", params={"entity": "ACME-CN"})
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["rows"], list)
    r = server.client.get("/v1/compliance", params={"limit": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["lines"]) <= 2 and body["total"] >= len(body["lines"])
    if body["total"] > 2:
        page2 = server.client.get("/v1/compliance", params={"limit": 2, "offset": 2}).json()
        assert page2["lines"] and page2["lines"] != body["lines"]
    assert_problem(server.client.get("/v1/compliance", params={"limit": -1}), 422)
    assert_problem(server.client.get("/v1/budgets", params={"fiscal_year": "soon"}), 422)


@needs_queries
def test_budget_stop_refuses_the_feed_and_warn_accepts_it(server):
    budgets = [
        {"entity": "ACME-SG", "budget_code": "STOP-1", "fiscal_year": 2026, "currency": "USD",
         "amount": "1000.00", "action": "stop"},
        {"entity": "ACME-SG", "budget_code": "WARN-1", "fiscal_year": 2026, "currency": "USD",
         "amount": "1000.00", "action": "warn"},
    ]  # fmt: skip
    r = server.client.put("/v1/reference/budgets", json=budgets)
    assert r.status_code == 200, r.text
    before = server.digest()
    over = feed_csv(
        line("PO-B", 1, entity="ACME-SG", budget_code="STOP-1", currency="USD",
             unit_price="600.00", quantity=2, order_date="2025-05-01"),
    )  # fmt: skip
    body = assert_problem(server.post_feed(over, "csv"), 409, "budget-exceeded")
    assert "STOP-1" in json.dumps(body)
    assert server.digest() == before
    warn = feed_csv(
        line("PO-W", 1, entity="ACME-SG", budget_code="WARN-1", currency="USD",
             unit_price="600.00", quantity=2, order_date="2025-05-01"),
    )  # fmt: skip
    r = server.post_feed(warn, "csv")
    assert r.status_code == 201, r.text
    assert "WARN-1" in json.dumps(r.json()["warnings"])


@needs_queries
def test_readers_never_see_half_a_feed(server):
    per_feed = 20
    base = server.client.get("/v1/totals").json()["total"]["lines"]

    def send(i: int):
        lines = (line(f"PO-Z{i}", j) for j in range(1, per_feed + 1))
        return server.post_feed(feed_csv(*lines), "csv").status_code

    def read_totals(_):
        r = server.client.get("/v1/totals", params={"by": "entity"})
        assert r.status_code == 200, r.text
        return r.json()["total"]["lines"] - base

    def read_sql(_):
        return server.rows("SELECT count(*) FROM orders WHERE order_id LIKE 'PO-Z%'")[0][0]

    with ThreadPoolExecutor(8) as pool:
        sent = [pool.submit(send, i) for i in range(6)]
        seen = [pool.submit(f, i) for i in range(20) for f in (read_totals, read_sql)]
        assert [f.result() for f in sent] == [201] * 6
        counts = [f.result() for f in seen]
    assert all(n % per_feed == 0 for n in counts), counts
    assert read_totals(0) == read_sql(0) == 6 * per_feed


def test_fx_rates_import_as_published(server):
    """POST /v1/reference/fx-rates/import: a wide CSV with a stated base, stored as printed."""
    r = server.client.post(
        "/v1/reference/fx-rates/import?format=wide&base=USD",
        content=b"date,NGN,XOF\n2030-01-02,1534.5,N/A\n",
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["rows"], r.json()["currencies"]) == (1, ["NGN"])
    rates = server.client.get("/v1/reference/fx-rates").json()["rows"]
    assert {"base": "USD", "quote": "NGN", "rate": "1534.5"}.items() <= next(
        x for x in rates if x["quote"] == "NGN"
    ).items()
    bad = server.client.post(
        "/v1/reference/fx-rates/import?format=ecb&base=USD", content=b"Date,JPY\n",
        headers={"content-type": "text/csv"},
    )  # fmt: skip
    assert_problem(bad, 400)
    assert_problem(
        server.client.post("/v1/reference/fx-rates/import?format=xls", content=b"x"), 415
    )


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/v1/compliance?entity=ACME-SG&limit=3", "entity"),  # compliance has no entity filter
        ("/v1/compliance?rule_id=nope", "rule_id"),  # the parameter is `rule`
        ("/v1/budgets?fiscal_year=2025&fiscal_year=2024", "fiscal_year"),  # which one?
        ("/v1/budgets?fiscal_year=2025&foo=1", "foo"),
        ("/v1/sourcing?entity=ACME-SG&entity=ACME-CN", "entity"),
        ("/v1/licences?stat=ok", "stat"),
        ("/v1/totals?by=entity&limit=3", "limit"),
    ],
)
def test_unknown_or_repeated_query_parameters_are_422_not_ignored(server, path, named):
    r = server.client.get(path)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == named
    # the same route without the stray parameter answers
    assert server.client.get(path.split("?")[0]).status_code == 200


def test_declared_and_repeatable_parameters_still_pass(server):
    for path in (
        "/v1/budgets?fiscal_year=2025&entity=ACME-SG",
        "/v1/compliance?fiscal_year=2025&rule=US-3A090a-TPP&limit=5&offset=0",
        "/v1/totals?by=entity&by=chip_model&destination=SG&destination=CN&currency=USD",
    ):
        assert server.client.get(path).status_code == 200, path
