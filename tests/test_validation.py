"""Every class of bad input is answered with its row and field, and writes nothing."""

from __future__ import annotations

import pytest

from ledger.domain.errors import LedgerError
from tests.conftest import GOLDEN_CSV, HEADER

GOOD = "PO-9,1,0,open,ACME-CN,2025-02-01,Huawei,Ascend 910B,1,10.00,CNY,CN,DOM,inference,purchase,,,false,"


def with_field(field: str, value: str, line: str = GOOD) -> str:
    cells = line.split(",")
    cells[HEADER.split(",").index(field)] = value
    return ",".join(cells)


CASES = [
    ("order_id", "", "required field is missing"),
    ("order_id", "x" * 65, "1-64 printable"),
    ("order_id", "PO\t9", "1-64 printable"),  # ASCII, not printable
    ("order_id", "PO\x7f9", "1-64 printable"),
    ("order_id", "PO-é\u200b", "1-64 printable"),  # not ASCII: the Unicode check
    ("budget_code", "é" * 65, "1-64 printable"),  # 65 characters (130 bytes)
    ("line_no", "0", "not in [1,"),
    ("line_no", "one", "not an integer"),
    ("revision", "-1", "not in [0,"),
    ("status", "closed", "not one of open, cancelled"),
    ("entity", "NOBODY", "unknown entity"),
    ("order_date", "2025-02-30", "not an ISO date"),
    ("order_date", "01/02/2025", "not an ISO date"),
    ("order_date", "1999-12-31", "must be between"),
    ("supplier", "Acme Chips", "unknown supplier"),
    ("chip_model", "Z9000", "unknown chip model"),
    ("quantity", "0", "not in [1,"),
    ("quantity", "2.5", "not an integer"),
    ("unit_price", "-5", "not a non-negative decimal"),
    ("unit_price", "1e5", "not a non-negative decimal"),
    ("unit_price", "10.001", "more decimals than CNY allows (2)"),
    ("unit_price", "999999999999999", "exceeds"),
    ("currency", "XXX", "not a supported ISO 4217 code"),
    ("currency", "GBP", "no GBP rate on or before 2025-02-01"),
    ("destination", "XX", "not an ISO 3166-1 alpha-2 code"),
    ("budget_code", "", "required field is missing"),
    ("workload", "gaming", "not one of training, inference"),
    ("acquisition", "rent", "not one of purchase, lease"),
    ("identity_reviewed", "yes", "not true or false"),
]


@pytest.mark.parametrize("field, value, message", CASES)
def test_fault_names_row_and_field_and_changes_nothing(ledger, field, value, message):
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    before = ledger.store.content_hash()
    entries = ledger.store.count("line_entries")
    feed = f"{HEADER}\n{GOOD.replace('PO-9', 'PO-8')}\n{with_field(field, value)}\n"
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(feed.encode(), "csv")
    problem = e.value.as_problem()
    assert problem["status"] in (413, 422)
    faults = [f for f in problem["errors"] if f["field"] == field or f["field"] == "unit_price"]
    assert faults, problem
    assert faults[0]["row"] == 1
    assert message in faults[0]["message"], faults
    assert ledger.store.count("line_entries") == entries
    assert ledger.store.content_hash() == before


def test_lease_needs_owner_and_operator(ledger):
    line = with_field("acquisition", "lease")
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(f"{HEADER}\n{line}\n".encode(), "csv")
    fields = {f.field for f in e.value.errors}
    assert fields == {"owner", "operator"}


def test_all_faults_are_reported_and_capped(ledger):
    bad = with_field("quantity", "0")
    feed = HEADER + "\n" + "\n".join(bad.replace("PO-9,1", f"PO-9,{i + 1}") for i in range(150))
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(feed.encode(), "csv")
    assert e.value.error_count == 150
    assert len(e.value.errors) == 100
    assert [f.row for f in e.value.errors] == list(range(100))


def test_unknown_and_missing_fields(ledger):
    feed = "order_id,line_no,colour\nPO-1,1,red\n"
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(feed.encode(), "csv")
    messages = {(f.field, f.message) for f in e.value.errors}
    assert ("colour", "unknown field 'colour'") in messages
    assert ("entity", "required field is missing") in messages


def test_duplicate_line_in_one_feed(ledger):
    feed = f"{HEADER}\n{GOOD}\n{GOOD}\n"
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(feed.encode(), "csv")
    assert [(f.row, f.field) for f in e.value.errors] == [(1, "line_no")]


def test_row_limit(store):
    from ledger.ledger import Ledger

    small = Ledger.open(store.path, max_rows_per_feed=3, cache=False)
    with pytest.raises(LedgerError) as e:
        small.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    assert e.value.status == 413


def test_bad_feed_in_each_format_changes_nothing(ledger):
    import json

    before = ledger.store.content_hash()
    for data, fmt in [
        (b'[{"order_id": "PO-1", "line_no": 1, "quantity": {"a": 1}}]', "json"),
        (b"[]", "json"),
        (b"order_id\n", "csv"),
        (json.dumps({"lines": [{"order_id": "PO-1"}]}).encode(), "json"),
    ]:
        with pytest.raises(LedgerError):
            ledger.ingest_bytes(data, fmt)
    assert ledger.store.content_hash() == before


def test_non_ascii_printable_identifiers_are_accepted(ledger):
    """64 characters of 2 bytes each: the length is counted in characters, not bytes."""
    line = with_field("order_id", "ПО-" + "я" * 61)
    result = ledger.ingest_bytes(f"{HEADER}\n{line}\n".encode(), "csv")
    assert result.answer["lines_accepted"] == 1


def test_fy_start_month_cannot_change_once_lines_exist(ledger):
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    before = ledger.store.content_hash()
    moved = b"entity,hq_country,fy_start_month\nACME-SG,SG,7\n"
    with pytest.raises(LedgerError) as e:
        ledger.load_reference("entities", moved, "csv")
    assert e.value.status == 409 and e.value.kind == "fiscal-year-start-in-use"
    assert [(f.row, f.field) for f in e.value.errors] == [(0, "fy_start_month")]
    assert ledger.store.content_hash() == before
    # unchanged, or an entity with no lines yet, is fine
    ledger.load_reference("entities", b"entity,hq_country,fy_start_month\nACME-SG,SG,4\n", "csv")
    ledger.load_reference("entities", b"entity,hq_country,fy_start_month\nNEW,SG,7\n", "csv")
    ledger.load_reference("entities", b"entity,hq_country,fy_start_month\nNEW,SG,10\n", "csv")
    # and the same feed sent again is still a replay, not a refusal
    assert ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv").replay
