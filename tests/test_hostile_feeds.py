"""Hostile bytes and values in feeds and reference rows: a 4xx naming what is wrong, never a
crash, a 5xx, a shifted value or a trace in the store (issue 10)."""

from __future__ import annotations

import gzip
import json
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from ledger.domain.errors import LedgerError
from tests.conftest import HEADER
from tests.test_api_support import LiveServer

GOOD = {
    "order_id": "PO-H1", "line_no": "1", "revision": "0", "status": "open",
    "entity": "ACME-CN", "order_date": "2025-02-01", "supplier": "Huawei",
    "chip_model": "Ascend 910B", "quantity": "2", "unit_price": "10.00", "currency": "CNY",
    "destination": "CN", "budget_code": "DOM", "workload": "inference",
    "acquisition": "purchase", "owner": "", "operator": "", "identity_reviewed": "false",
    "license_ref": "",
}  # fmt: skip


def csv_feed(*lines: dict) -> bytes:
    rows = [",".join(line[k] for k in HEADER.split(",")) for line in lines]
    return (HEADER + "\n" + "\n".join(rows) + "\n").encode()


def line(**overrides) -> dict:
    return {**GOOD, **{k: str(v) for k, v in overrides.items()}}


def json_line(**overrides) -> dict:
    return {k: v for k, v in line(**overrides).items() if v != ""}


def arrow_bytes(table: pa.Table | pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as w:
        w.write(table)
    return sink.getvalue().to_pybytes()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def good_table(n: int = 1, **columns) -> pa.Table:
    """n good lines (line_no 1..n) as an Arrow table of strings, some columns replaced."""
    data = {k: pa.array([v or None] * n, pa.string()) for k, v in GOOD.items()}
    data["line_no"] = pa.array([str(i + 1) for i in range(n)])
    data.update(columns)
    return pa.table(data)


def refused(ledger, data: bytes, fmt: str, status: int | tuple = (400, 422)) -> LedgerError:
    """Ingest must be refused with a 4xx and leave the store as it was."""
    before = ledger.store.content_hash()
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(data, fmt)
    assert e.value.status in ((status,) if isinstance(status, int) else status), e.value
    assert ledger.store.content_hash() == before
    return e.value


def messages(e: LedgerError) -> list[tuple]:
    return [(x.row, x.field, x.message) for x in e.errors]


# -- Arrow IPC: untrusted memory ----------------------------------------------

OFFSETS = np.array([0, 3, 6, 10], np.int32).tobytes()


def _stream_with_offsets(offsets: list[int]) -> bytes:
    """A valid stream of three order ids ("aaa", "bbb", "cccc") whose offsets are then patched."""
    data = arrow_bytes(good_table(3, order_id=pa.array(["aaa", "bbb", "cccc"])))
    assert data.count(OFFSETS) == 1
    return data.replace(OFFSETS, np.array(offsets, np.int32).tobytes())


def test_patched_stream_is_good_before_patching(ledger):
    ledger.ingest_bytes(_stream_with_offsets([0, 3, 6, 10]), "arrow")
    assert ledger.store.count("line_entries") == 3


@pytest.mark.parametrize(
    "offsets",
    [[0, 5, 2, 10], [0, 48, 6, 10], [0, 3, 6, 48], [0, -4, 6, 10]],
    ids=["non-monotonic", "past-the-buffer-inside", "past-the-buffer-at-end", "negative"],
)
def test_bad_string_offsets_are_a_400_never_read(ledger, offsets):
    e = refused(ledger, _stream_with_offsets(offsets), "arrow", 400)
    assert "Malformed Arrow IPC" in e.title


@pytest.mark.parametrize("index_type", [pa.int8(), pa.uint16(), pa.int32(), pa.uint64()])
def test_dictionary_index_out_of_range_is_a_400(ledger, index_type):
    dtype = index_type.to_pandas_dtype()
    suppliers = pa.DictionaryArray.from_arrays(
        pa.array([0, 1], index_type), pa.array(["Huawei", "Nvidia"])
    )
    data = arrow_bytes(
        good_table(2, supplier=suppliers, chip_model=pa.array(["Ascend 910B", "H20"]))
    )
    want = np.array([0, 1], dtype).tobytes()
    assert data.count(want) >= 1
    refused(ledger, data.replace(want, np.array([0, 77], dtype).tobytes(), 1), "arrow", 400)
    ledger.ingest_bytes(data, "arrow")  # the unpatched stream is good


def test_invalid_utf8_in_an_arrow_string_is_a_400(ledger):
    data = arrow_bytes(good_table(license_ref=pa.array(["LIC-\u00e9"])))
    assert data.count("\u00e9".encode()) == 1
    refused(ledger, data.replace("\u00e9".encode(), b"\xff\xfe"), "arrow", 400)


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_uint64_max_and_date32_min_name_their_field(ledger, fmt):
    write = arrow_bytes if fmt == "arrow" else parquet_bytes
    table = good_table(quantity=pa.array([2**64 - 1], pa.uint64()))
    e = refused(ledger, write(table), fmt, 422)
    assert messages(e) == [(0, "quantity", "18446744073709551615 is not in [1, 1000000000]")]
    date_min = pa.array([-(2**31)], pa.int32()).view(pa.date32())
    e = refused(ledger, write(good_table(order_date=date_min)), fmt, 422)
    assert [(r, f) for r, f, _ in messages(e)] == [(0, "order_date")]
    assert "must be between 2000-01-01 and 2099-12-31" in e.errors[0].message


@pytest.mark.parametrize(
    "values",
    [
        pa.array(["Huawei"], pa.string_view()),
        pa.array(["Huawei"], pa.large_string()),
        pa.DictionaryArray.from_arrays(pa.array([0], pa.uint64()), pa.array(["Huawei"], pa.string_view())),
        pa.DictionaryArray.from_arrays(pa.array([0], pa.int16()), pa.array(["Huawei"], pa.large_string())),
    ],
    ids=["string_view", "large_string", "dict-uint64-string_view", "dict-int16-large_string"],
)  # fmt: skip
def test_polars_string_layouts_are_read_as_text(ledger, values):
    ledger.ingest_bytes(arrow_bytes(good_table(supplier=values)), "arrow")
    assert ledger.store.query("SELECT supplier FROM line_entries").to_pylist() == [
        {"supplier": "Huawei"}
    ]


@pytest.mark.parametrize(
    "value, date",
    [
        (pa.array([1738368000], pa.timestamp("s")), "2025-02-01"),
        (pa.array([1738368000 * 10**9], pa.timestamp("ns")), "2025-02-01"),
        (pa.array([1738368000 * 1000], pa.date64()), "2025-02-01"),
    ],
)
def test_a_midnight_timestamp_is_its_date(ledger, value, date):
    ledger.ingest_bytes(parquet_bytes(good_table(order_date=value)), "parquet")
    got = ledger.store.query("SELECT order_date::VARCHAR AS d FROM line_entries").to_pylist()
    assert got == [{"d": date}]


@pytest.mark.parametrize(
    "value, why",
    [
        (pa.array([1738368000 + 3600], pa.timestamp("s")), "has a time of day"),
        (pa.array([1738368000], pa.timestamp("s", tz="UTC")), "has a time zone"),
        (pa.array([1738368000], pa.timestamp("s", tz="-08:00")), "has a time zone"),
    ],
)
def test_any_other_time_or_zone_is_refused_not_shifted(ledger, value, why):
    e = refused(ledger, arrow_bytes(good_table(order_date=value)), "arrow", 422)
    assert [(r, f) for r, f, _ in messages(e)] == [(0, "order_date")]
    assert why in e.errors[0].message


# -- text: strict decoding, depth, duplicates, one meaning ----------------------


def test_invalid_utf8_in_csv_header_and_body_is_a_400(ledger):
    good = csv_feed(line())
    refused(ledger, good.replace(b"license_ref", b"license_r\xffef"), "csv", 400)
    refused(ledger, good.replace(b"Huawei", b"Hua\xc3wei"), "csv", 400)


def test_invalid_utf8_in_a_parquet_string_is_a_400(ledger):
    data = parquet_bytes(good_table(license_ref=pa.array(["LIC-\u00e9"])))
    assert data.count("\u00e9".encode()) >= 1
    refused(ledger, data.replace("\u00e9".encode(), b"\xff\xfe"), "parquet", 400)


def big_json(n: int = 400, **overrides) -> bytes:
    rows = [json_line(order_id=f"PO-B{i}", **overrides) for i in range(n)]
    data = json.dumps(rows, indent=1).encode()
    from ledger.domain.feeds import FAST_JSON_BYTES

    assert len(data) >= FAST_JSON_BYTES
    return data


@pytest.mark.parametrize("size", ["small", "big"])
def test_invalid_utf8_and_lone_surrogates_in_json_are_refused(ledger, size):
    data = big_json() if size == "big" else json.dumps([json_line()]).encode()
    refused(ledger, data.replace(b"Huawei", b"Hua\xffwei", 1), "json", 400)
    e = refused(ledger, data.replace(b"Huawei", b"Hua\\ud800wei", 1), "json", 422)
    assert messages(e)[0][:2] == (0, "supplier")
    assert "surrogate" in e.errors[0].message


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_nested_100000_deep_is_a_400(ledger, fmt):
    e = refused(ledger, b"[" * 100_000 + b"]" * 100_000, fmt, 400)
    assert "nested" in e.detail


def test_json_duplicate_keys_are_a_422(ledger):
    one = json.dumps(json_line()).encode()
    dup = one.replace(b'"quantity": "2"', b'"quantity": "2", "quantity": "200"')
    assert dup != one
    e = refused(ledger, b"[" + dup + b"]", "json", 422)
    assert messages(e) == [(0, "quantity", "appears more than once in one object")]
    e = refused(ledger, dup + b"\n", "ndjson", 422)
    assert messages(e)[0][:2] == (0, "quantity")
    refused(
        ledger,
        big_json().replace(b'"quantity": "2"', b'"quantity": "2", "quantity": "3"', 1),
        "json",
        422,
    )


def test_numeric_feed_id_is_a_422(ledger):
    e = refused(ledger, json.dumps({"feed_id": 42, "lines": [json_line()]}).encode(), "json", 422)
    assert messages(e) == [(None, "feed_id", "must be a string (feed ids are text)")]
    ledger.ingest_bytes(json.dumps({"feed_id": "42", "lines": [json_line()]}).encode(), "json")


def test_big_and_small_json_agree_on_a_zoned_time(ledger):
    """Arrow's reader turned this into 2025-01-01 in big feeds; both sizes refuse it."""
    zoned = "2024-12-31T20:00:00-08:00"
    e = refused(ledger, json.dumps([json_line(order_date=zoned)]).encode(), "json", 422)
    assert messages(e)[0][:2] == (0, "order_date")
    e = refused(ledger, big_json(order_date=zoned), "json", 422)
    assert messages(e)[0][:2] == (0, "order_date") and e.error_count == 400
    assert "not an ISO date" in e.errors[0].message


def test_midnight_without_zone_is_its_date_in_every_size(ledger):
    ledger.ingest_bytes(json.dumps([json_line(order_date="2025-02-01T00:00:00")]).encode(), "json")
    ledger.ingest_bytes(big_json(order_date="2025-02-01T00:00:00"), "json")
    got = ledger.store.query(
        "SELECT DISTINCT order_date::VARCHAR AS d FROM line_entries"
    ).to_pylist()
    assert got == [{"d": "2025-02-01"}]


@pytest.mark.parametrize("token", ["N/A", "NA", "null", "NULL", "NaN", "nan", "None"])
def test_csv_null_like_text_is_text(ledger, token):
    ledger.ingest_bytes(csv_feed(line(order_id=token, license_ref=token)), "csv")
    got = ledger.store.query("SELECT order_id, license_ref FROM line_entries").to_pylist()
    assert got == [{"order_id": token, "license_ref": token}]


def test_only_an_empty_csv_cell_is_missing(ledger):
    e = refused(ledger, csv_feed(line(order_id='""')), "csv", 422)
    assert messages(e) == [(0, "order_id", "required field is missing")]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_leading_plus_is_one_clear_422(ledger, fmt):
    data = (
        csv_feed(line(quantity="+5"))
        if fmt == "csv"
        else json.dumps([json_line(quantity="+5")]).encode()
    )
    e = refused(ledger, data, fmt, 422)
    assert messages(e) == [
        (0, "quantity", "'+5' is not an integer (a leading + is not accepted: write '5')")
    ]


@pytest.mark.parametrize(
    "price, currency, outcome",
    [
        (0.1, "USD", 10),
        (120000.5, "CNY", 12000050),
        (1.234567890125e11, "JPY", "'123456789012.5' has more decimals than JPY allows (0)"),
        (10.001, "USD", "'10.001' has more decimals than USD allows (2)"),
        (float("inf"), "USD", "'inf' is not a non-negative decimal"),
    ],
)
def test_a_float_is_taken_only_when_its_shortest_form_is_exact(ledger, price, currency, outcome):
    table = good_table(unit_price=pa.array([price], pa.float64()), currency=pa.array([currency]),
                       quantity=pa.array([1], pa.int64()))  # fmt: skip
    if isinstance(outcome, int):
        ledger.ingest_bytes(parquet_bytes(table), "parquet")
        got = ledger.store.query("SELECT unit_price_minor FROM line_entries").to_pylist()
        assert got == [{"unit_price_minor": outcome}]
    else:
        e = refused(ledger, parquet_bytes(table), "parquet", 422)
        assert messages(e) == [(0, "unit_price", outcome)]


def test_validate_is_split_into_small_checkers():
    import inspect

    from ledger.domain import validate as batches

    sizes = {
        name: len(inspect.getsource(fn).splitlines())
        for name, fn in inspect.getmembers(batches, inspect.isfunction)
        if fn.__module__ == batches.__name__
    }
    assert max(sizes.values()) <= 70, sizes
    assert len(inspect.getsource(batches.validate).splitlines()) <= 25


# -- reference rows ---------------------------------------------------------------


def load_refused(store, name: str, data, status: int = 422) -> LedgerError:
    from ledger import reference

    before = store.content_hash()
    with pytest.raises(LedgerError) as e:
        reference.load(
            store, name, data if isinstance(data, bytes) else json.dumps(data).encode(), "json"
        )
    assert e.value.status == status, e.value
    assert store.content_hash() == before
    return e.value


def budget(amount) -> dict:
    return {"entity": "ACME-CN", "budget_code": "B", "fiscal_year": 2025, "currency": "USD",
            "amount": amount, "action": "stop"}  # fmt: skip


@pytest.mark.parametrize("amount", ["Infinity", "NaN", "1e999999999", "-Infinity"])
def test_budget_amount_must_be_finite_and_bounded(store, amount):
    e = load_refused(store, "budgets", [budget(amount)])
    assert [(x.row, x.field) for x in e.errors] == [(0, "amount")]
    literal = json.dumps([budget("X")]).replace('"X"', amount).encode()
    if amount != "1e999999999":  # JSON literals NaN / Infinity, as Python writes them
        e = load_refused(store, "budgets", literal)
        assert [(x.row, x.field) for x in e.errors] == [(0, "amount")]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31", "20250101"])
def test_reference_dates_lie_in_the_ledger_range(store, day):
    e = load_refused(
        store, "fx-rates", [{"rate_date": day, "currency": "CNY", "usd_per_unit": "0.1"}]
    )
    assert [(x.row, x.field) for x in e.errors] == [(0, "rate_date")]


def test_a_usd_rate_is_refused(store):
    e = load_refused(
        store, "fx-rates", [{"rate_date": "2025-01-01", "currency": "USD", "usd_per_unit": "1"}]
    )
    assert [(x.row, x.field) for x in e.errors] == [(0, "currency")]  # the field it sent
    assert "against itself" in e.errors[0].message
    e = load_refused(
        store, "fx-rates", [{"rate_date": "2025-01-01", "base": "EUR", "quote": "eur", "rate": "1"}]
    )
    assert [(x.row, x.field) for x in e.errors] == [(0, "quote")]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"origins": ["CN"], "products": [1, {"a": 2}]}, "params.products must be a list"),
        ({"origins": ["CN"], "products": "H20"}, "params.products must be a list"),
        ({"origins": [1], "products": ["H20"]}, "params.origins must be a list"),
        (
            {"origins": ["CN"], "products": ["H20"], "tpp_min": 5},
            "params.tpp_min is not a parameter",
        ),
    ],
)
def test_rule_params_follow_the_schema_of_their_kind(store, params, message):
    rule = {"rule_id": "R-X", "kind": "product_caution", "effective_from": "2025-01-01",
            "params": params, "source": "test"}  # fmt: skip
    e = load_refused(store, "export-rules", [rule])
    assert [(x.row, x.field) for x in e.errors] == [(0, "params")]
    assert message in e.errors[0].message


@pytest.mark.parametrize("value", ["Infinity", "NaN", "1e999999999", "true"])
def test_rule_numbers_are_finite(store, value):
    rule = {"rule_id": "R-X", "kind": "lease_identity", "effective_from": "2025-01-01",
            "params": {"origins": ["CN"], "tpp_min": "TPP"}, "source": "t"}  # fmt: skip
    body = json.dumps([rule]).replace('"TPP"', value)  # a bare JSON literal
    e = load_refused(store, "export-rules", body.encode())
    assert [(x.row, x.field) for x in e.errors] == [(0, "params")]


def test_reference_json_is_strict(store):
    load_refused(store, "entities", b"[" * 100_000, 400)
    load_refused(store, "entities", b'[{"entity": "\xff", "hq_country": "CN"}]', 400)
    e = load_refused(store, "entities", b'[{"entity": "\\udc00", "hq_country": "CN"}]')
    assert e.errors[0].field == "entity"
    e = load_refused(store, "entities", b'[{"entity": "E", "entity": "F", "hq_country": "CN"}]')
    assert e.errors[0].field == "entity"


def test_reference_decimals_are_written_plainly(store):
    from ledger import reference

    rows = [{"rate_date": "2025-06-01", "currency": "CNY", "usd_per_unit": "10"}]
    reference.load(store, "fx-rates", json.dumps(rows).encode(), "json")
    got = [r for r in reference.as_rows(store, "fx-rates") if r["rate_date"] == "2025-06-01"]
    assert (got[0]["base"], got[0]["quote"], got[0]["rate"]) == ("CNY", "USD", "10")


# -- the live service ---------------------------------------------------------------

MAX_BODY_BYTES = 100_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = LiveServer(
        tmp_path_factory.mktemp("hostile"), {"CHIP_LEDGER_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    )
    s.wait_ready()
    yield s
    s.stop()


def assert_4xx(server: LiveServer, r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert server.proc.poll() is None
    return r.json()


def test_http_gzip_and_deflate_are_decoded(server):
    plain = csv_feed(line(order_id="PO-GZ"))
    r = server.post_feed(gzip.compress(plain), "csv", **{"Content-Encoding": "gzip"})
    assert r.status_code == 201, r.text
    r = server.post_feed(zlib.compress(csv_feed(line(order_id="PO-DF"))), "csv",
                         **{"Content-Encoding": "deflate"})  # fmt: skip
    assert r.status_code == 201, r.text
    r = server.post_feed(plain, "csv")  # the same feed, unencoded: a replay of the first
    assert r.status_code == 200, r.text


def test_http_bad_encodings_change_nothing(server):
    before = server.digest()
    bomb = gzip.compress(b"0" * (MAX_BODY_BYTES * 50))
    assert len(bomb) < MAX_BODY_BYTES
    body = assert_4xx(server, server.post_feed(bomb, "csv", **{"Content-Encoding": "gzip"}), 413)
    assert "decoded" in body["detail"]
    plain = csv_feed(line(order_id="PO-NOTGZ"))
    assert_4xx(server, server.post_feed(plain, "csv", **{"Content-Encoding": "gzip"}), 400)
    assert_4xx(
        server,
        server.post_feed(gzip.compress(plain)[:-9], "csv", **{"Content-Encoding": "gzip"}),
        400,
    )
    for coding in ("br", "zstd", "compress", "gzip, gzip"):
        assert_4xx(server, server.post_feed(plain, "csv", **{"Content-Encoding": coding}), 415)
    assert server.digest() == before


def test_http_hostile_feeds_are_4xx_and_change_nothing(server):
    before = server.digest()
    cases = [
        (_stream_with_offsets([0, 5, 2, 10]), "arrow", 400),
        (_stream_with_offsets([0, 48, 6, 10]), "arrow", 400),
        (b"[" * 100_000, "json", 400),
        (json.dumps([json_line()]).encode().replace(b"Huawei", b"\\ud800"), "json", 422),
        (csv_feed(line(quantity="+5")), "csv", 422),
        (csv_feed(line()).replace(b"order_id", b"order_\xff"), "csv", 400),
        (arrow_bytes(good_table(quantity=pa.array([2**64 - 1], pa.uint64()))), "arrow", 422),
        (json.dumps({"feed_id": 7, "lines": [json_line()]}).encode(), "json", 422),
    ]
    for data, fmt, status in cases:
        assert_4xx(server, server.post_feed(data, fmt), status)
    assert server.digest() == before


def test_http_hostile_reference_rows_are_422(server):
    before = server.digest()
    put = lambda table, body: server.client.put(  # noqa: E731
        f"/v1/reference/{table}", content=body, headers={"Content-Type": "application/json"}
    )
    r = put("budgets", b'[{"entity": "ACME-CN", "budget_code": "B", "fiscal_year": 2025, '
                       b'"currency": "USD", "amount": Infinity, "action": "stop"}]')  # fmt: skip
    body = assert_4xx(server, r, 422)
    assert body["errors"][0]["row"] == 0 and body["errors"][0]["field"] == "amount"
    r = put("budgets", json.dumps([budget("1e999999999")]).encode())
    assert_4xx(server, r, 422)
    r = put(
        "fx-rates",
        json.dumps(
            [{"rate_date": "9999-12-31", "currency": "CNY", "usd_per_unit": "0.1"}]
        ).encode(),
    )
    assert_4xx(server, r, 422)
    rule = {"rule_id": "R-X", "kind": "product_caution", "effective_from": "2025-01-01",
            "params": {"origins": ["CN"], "products": [1, {"a": 2}]}, "source": "t"}  # fmt: skip
    assert_4xx(server, put("export-rules", json.dumps([rule]).encode()), 422)
    assert server.digest() == before
    assert server.client.get("/v1/compliance").status_code < 500
