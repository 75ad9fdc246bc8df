"""Each feed format reads to the same lines and the same ledger entries."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ledger.domain.errors import LedgerError
from ledger.domain.feeds import format_of_content_type, read_feed
from tests.conftest import load_reference
from tests.test_api_support import encode as encode_feed


def encode(fmt: str) -> bytes:
    """The golden feed in a format; JSON in its object form {"lines": [...]} here."""
    data = encode_feed(fmt)
    if fmt == "json":
        return json.dumps({"lines": json.loads(data)}).encode()
    return data


ENTRY_COLUMNS = (
    "order_id, line_no, revision, status, entity, order_date, fiscal_year, supplier, "
    "chip_model, quantity, unit_price_minor, amount_minor, currency, destination, budget_code, "
    "workload, acquisition, owner, operator, identity_reviewed, license_ref, entry_kind, lines"
)


@pytest.mark.parametrize("fmt", ["json", "ndjson", "arrow", "parquet"])
def test_every_format_gives_identical_entries(tmp_path, fmt):
    from ledger.ledger import Ledger

    results = {}
    for name in ("csv", fmt):
        with Ledger.open(tmp_path / f"{name}.duckdb") as ledger:
            load_reference(ledger)
            ledger.ingest_bytes(encode(name), name)
            results[name] = ledger.store.query(
                f"SELECT {ENTRY_COLUMNS} FROM line_entries ORDER BY entry_seq"
            ).to_pylist()
    assert len(results["csv"]) == 9
    assert results[fmt] == results["csv"]


def test_json_numbers_keep_their_exact_literal():
    raw = read_feed(b'[{"unit_price": 0.1, "quantity": 3}]', "json").table
    assert raw["unit_price"].to_pylist() == ["0.1"]
    big = read_feed(b'[{"unit_price": 12345678901234.56}]', "json").table
    assert big["unit_price"].to_pylist() == ["12345678901234.56"]


@pytest.mark.parametrize(
    "fmt, data",
    [
        ("json", b'[{"order_id": "x",'),
        ("json", b'{"lines": 3}'),
        ("json", b"[1, 2]"),
        ("ndjson", b'{"order_id": "x"}\n{not json}\n'),
        ("csv", b'order_id,line_no\n"unterminated,1\n'),
        ("csv", b"order_id,line_no\nPO-1,1,extra,cells\n"),
        ("arrow", b"not arrow at all"),
        ("parquet", b"PAR1 but not really"),
    ],
)
def test_malformed_feeds_are_clear_errors(fmt, data):
    with pytest.raises(LedgerError) as e:
        read_feed(data, fmt)
    assert e.value.status == 400
    assert e.value.kind == "malformed-feed"


def test_content_types():
    assert format_of_content_type("text/csv; charset=utf-8") == "csv"
    assert format_of_content_type("application/vnd.apache.arrow.stream") == "arrow"
    with pytest.raises(LedgerError) as e:
        format_of_content_type("application/xml")
    assert e.value.status == 415


def _big_json(n: int = 600, numeric: bool = False) -> tuple[list[dict], bytes]:
    base = [r for r in json.loads(encode("json"))["lines"]]
    rows = []
    for i in range(n):
        r = dict(base[i % len(base)])
        r["order_id"] = f"PO-J{i}"
        if numeric:  # prices as JSON numbers, e.g. 120000.5 and 0.04
            r["unit_price"] = float(r["unit_price"])
        rows.append(r)
    return rows, json.dumps(rows, indent=1).encode()


@pytest.mark.parametrize("numeric", [False, True])
def test_large_json_takes_the_fast_route_and_reads_the_same_lines(numeric):
    from ledger.domain import feeds

    rows, data = _big_json(numeric=numeric)
    assert len(data) >= feeds.FAST_JSON_BYTES
    fast = feeds._read_json_fast(data, array_form=True)
    assert fast is not None and fast.num_rows == len(rows)
    slow = feeds._rows_to_table(json.loads(data, parse_float=str, parse_int=str), "JSON")
    # the same text for every cell once both are seen as text
    from ledger.domain.validate import _as_text

    for name in slow.column_names:
        got = _as_text(fast.column(name).combine_chunks())[0].to_pylist()
        want = _as_text(slow.column(name).combine_chunks())[0].to_pylist()
        if name == "unit_price":  # the same decimal value ("25000" for the literal 25000.0)
            got = [Decimal(v) for v in got]
            want = [Decimal(v) for v in want]
        assert got == want, name
    ndjson = b"\n".join(json.dumps(r).encode() for r in rows)
    assert feeds._read_json_fast(ndjson, array_form=False).num_rows == len(rows)


@pytest.mark.parametrize("literal", [b"12345678901234.567", b"1e3", b"1.5E-2"])
def test_numbers_a_float_may_not_carry_take_the_exact_route(literal):
    from ledger.domain import feeds

    _, data = _big_json()
    data = data.replace(b'"unit_price": "120000.50"', b'"unit_price": ' + literal, 1)
    assert feeds._read_json_fast(data, array_form=True) is None
    raw = read_feed(data, "json").table
    assert literal.decode() in raw["unit_price"].to_pylist()
