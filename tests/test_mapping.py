"""Mapping profiles (DESIGN section 3): ERP exports as they are, through the real service and
the CLI; profiles checked when stored; kept columns in `attributes`, queryable from SQL;
cancellations that name only the line's key."""

from __future__ import annotations

import json

import duckdb
import pytest

from cli.main import main as cli_main
from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from tests.test_api_support import LiveServer

# An ERP purchase-order export as SAP-like systems write it: German headers, `;`, day-first
# dates, decimal comma with a thousands point, capitalised values, columns we have no field for.
ERP_CSV = """Beleg;Pos;Belegdatum;Lieferant;Material;Menge;Nettopreis;Whg;Budget;Zweck;Status;Kostenstelle;Werk
4500001;10;31/12/2025;Huawei;Ascend 910B;2;1.234,50;CNY;DOM-2025;Training;Open;CC-100;1000
4500001;20;01/12/2025;Nvidia;H20;1.000;10,00;CNY;DOM-2025;Inference;Open;CC-200;
4500002;10;15/06/2025;Cambricon;MLU590;3;120.000,25;CNY;DOM-2025;Training;Open;;2000
"""  # noqa: E501
PROFILE = {
    "delimiter": ";",
    "unmapped": "keep",
    "fields": {
        "order_id": "Beleg",
        "line_no": "Pos",
        "entity": {"constant": "ACME-CN"},
        "order_date": {"column": "Belegdatum", "date_format": "%d/%m/%Y"},
        "supplier": "Lieferant",
        "chip_model": "Material",
        "quantity": {"column": "Menge", "thousands": ".", "decimal": ","},
        "unit_price": {"column": "Nettopreis", "thousands": ".", "decimal": ","},
        "currency": "Whg",
        "destination": {"constant": "CN"},
        "budget_code": "Budget",
        "workload": {
            "column": "Zweck",
            "values": {"Training": "training", "Inference": "inference"},
        },
        "status": {"column": "Status", "values": {"Open": "open", "Cancelled": "cancelled"}},
    },
}
# (order_id, line_no, order_date, quantity, amount_minor, workload, cost centre)
EXPECTED = [
    ("4500001", 10, "2025-12-31", 2, 246900, "training", "CC-100"),
    ("4500001", 20, "2025-12-01", 1000, 1000000, "inference", "CC-200"),
    ("4500002", 10, "2025-06-15", 3, 36000075, "training", None),
]
STORED_SQL = (
    "SELECT order_id, line_no, CAST(order_date AS VARCHAR), quantity, amount_minor, workload, "
    "json_extract_string(attributes, '$.Kostenstelle') FROM orders ORDER BY order_id, line_no"
)


def profiles(**named) -> bytes:
    return json.dumps([{"mapping": k, "profile": v} for k, v in named.items()]).encode()


@pytest.fixture
def mapped(ledger):
    ledger.load_reference("mappings", profiles(erp=PROFILE), "json")
    return ledger


def test_erp_export_through_a_profile(mapped):
    answer = mapped.ingest_bytes(ERP_CSV.encode(), "csv", mapping="erp").answer
    assert answer["lines_accepted"] == 3
    rows = [tuple(r.values()) for r in mapped.sql(STORED_SQL)[0].to_pylist()]
    assert rows == EXPECTED
    # kept columns as one JSON object per line, empty cells left out
    attrs = mapped.sql("SELECT attributes FROM orders ORDER BY order_id, line_no")[0]
    assert [json.loads(a) for a in attrs["attributes"].to_pylist()] == [
        {"Kostenstelle": "CC-100", "Werk": "1000"}, {"Kostenstelle": "CC-200"}, {"Werk": "2000"},
    ]  # fmt: skip
    # the same bytes without the profile are refused (unknown fields), not guessed
    with pytest.raises(LedgerError) as e:
        mapped.ingest_bytes(ERP_CSV.encode(), "csv")
    assert e.value.status == 400  # read with commas: one column a row, then a ragged row


def test_unmapped_columns_refused_unless_kept(ledger):
    strict = {**PROFILE, "unmapped": "refuse"}
    ledger.load_reference("mappings", profiles(strict=strict), "json")
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(ERP_CSV.encode(), "csv", mapping="strict")
    assert e.value.status == 422
    assert {f.field for f in e.value.errors} == {"Kostenstelle", "Werk"}
    ignoring = {**strict, "ignore": ["Kostenstelle", "Werk"]}
    ledger.load_reference("mappings", profiles(ignoring=ignoring), "json")
    ledger.ingest_bytes(ERP_CSV.encode(), "csv", mapping="ignoring")
    assert ledger.sql("SELECT count(attributes) FROM orders")[0].to_pylist() == [
        {"count(attributes)": 0}
    ]


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        ("31/02/2025", "Belegdatum", "is not a date in %d/%m/%Y"),  # no roll into March
        ("2025-12-31", "Belegdatum", "is not a date in %d/%m/%Y"),
        ("1,234.50", "Nettopreis", "is not a number written with thousands '.'"),
        ("12.34", "Nettopreis", "is not a number written with thousands '.'"),  # not a decimal
        ("training", "Zweck", "is not in the profile's values for workload"),
    ],
)
def test_cells_that_do_not_fit_the_profile(mapped, cell, column, message):
    header, first, *_ = ERP_CSV.splitlines()
    cells = first.split(";")
    cells[header.split(";").index(column)] = cell
    with pytest.raises(LedgerError) as e:
        mapped.ingest_bytes(f"{header}\n{';'.join(cells)}\n".encode(), "csv", mapping="erp")
    assert e.value.status == 422
    assert message in e.value.errors[0].message, e.value.errors
    assert repr(cell) in e.value.errors[0].message
    assert mapped.entry_count() == 0


@pytest.mark.parametrize(
    ("profile", "fault"),
    [
        ({"fields": {"cost_center": "KOST"}}, "unknown line field 'cost_center'"),
        ({"fields": {"order_date": {"column": "d", "date_format": "%d/%m"}}}, "needs a day"),
        ({"fields": {"order_date": {"column": "d", "date_format": "%d/%m/%Y %H"}}}, "%H"),
        ({"fields": {"unit_price": {"column": "p", "decimal": ";"}}}, "decimal must be"),
        ({"fields": {"unit_price": {"column": "p", "thousands": "."}}}, "needs decimal ','"),
        ({"fields": {"supplier": {"column": "s", "decimal": ","}}}, "apply to line_no"),
        ({"fields": {"entity": {"column": "e", "constant": "X"}}}, "exactly one of"),
        ({"fields": {"workload": {"column": "w", "values": []}}}, "values must be"),
        ({"fields": {"order_id": "PO"}, "unmapped": "maybe"}, "refuse or keep"),
        ({"fields": {"order_id": "PO"}, "delimiter": "::"}, "delimiter must be"),
    ],
)
def test_a_profile_is_checked_when_stored(ledger, profile, fault):
    with pytest.raises(LedgerError) as e:
        ledger.load_reference("mappings", profiles(bad=profile), "json")
    assert e.value.status == 422
    assert e.value.errors[0].field == "profile"
    assert fault in e.value.errors[0].message, e.value.errors
    assert ledger.reference_rows("mappings") == []


def test_unknown_profile_is_named(ledger):
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(ERP_CSV.encode(), "csv", mapping="nope")
    assert e.value.status == 422 and "'nope'" in e.value.detail


def test_a_cancellation_may_name_only_the_key(mapped, ledger):
    ledger.ingest_bytes(ERP_CSV.encode(), "csv", mapping="erp")
    before = ledger.totals(["workload"], "CNY")["total"]
    # plain feed: just the key (a higher revision) and the status
    cancel = b"order_id,line_no,revision,status\n4500001,10,1,cancelled\n"
    first = ledger.ingest_bytes(cancel, "csv")
    assert first.answer["entries_appended"] == 2
    again = ledger.ingest_bytes(cancel, "csv")  # re-sending is harmless: the first answer
    assert again.replay and again.answer == first.answer
    after = ledger.totals(["workload"], "CNY")["total"]
    assert before["lines"] - after["lines"] == 1
    assert before["amount_minor"] - after["amount_minor"] == 246900
    entries = ledger.sql(
        "SELECT entry_kind, revision, status, supplier, order_date, attributes FROM line_entries "
        "WHERE order_id = '4500001' AND line_no = 10 ORDER BY entry_seq"
    )[0].to_pylist()
    assert [(e["entry_kind"], e["revision"], e["status"]) for e in entries] == [
        ("line", 0, "open"), ("reversal", 0, "open"), ("line", 1, "cancelled"),
    ]  # fmt: skip
    assert {e["supplier"] for e in entries} == {"Huawei"}  # the current entry's fields
    assert json.loads(entries[-1]["attributes"])["Kostenstelle"] == "CC-100"
    # a key-only cancellation of a line the ledger does not have is refused, by row
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(b"order_id,line_no,revision,status\nPO-X,1,1,cancelled\n", "csv")
    assert e.value.status == 422 and "does not have" in e.value.errors[0].message


def test_old_ledgers_gain_the_attributes_column(tmp_path, mapped):
    path = tmp_path / "old.duckdb"
    Ledger.open(path, cache=False).close()
    con = duckdb.connect(str(path))
    con.execute("DROP VIEW orders_usd; DROP VIEW orders")
    con.execute("ALTER TABLE line_entries DROP COLUMN attributes")
    con.close()
    with Ledger.open(path, cache=False) as old:
        old.load_reference("mappings", profiles(erp=PROFILE), "json")
        from tests.conftest import load_reference

        load_reference(old)
        old.ingest_bytes(ERP_CSV.encode(), "csv", mapping="erp")
        assert [tuple(r.values()) for r in old.sql(STORED_SQL)[0].to_pylist()] == EXPECTED


def test_cli_ingest_with_mapping(tmp_path, capsys):
    db = str(tmp_path / "cli.duckdb")
    with Ledger.open(db) as ledger:
        from tests.conftest import load_reference

        load_reference(ledger)
    (tmp_path / "erp.json").write_bytes(profiles(erp=PROFILE))
    (tmp_path / "po.csv").write_text(ERP_CSV)
    assert cli_main(["--db", db, "reference", "load", "mappings", str(tmp_path / "erp.json")]) == 0
    assert cli_main(["--db", db, "ingest", str(tmp_path / "po.csv")]) == 1  # unknown fields
    assert cli_main(["--db", db, "ingest", str(tmp_path / "po.csv"), "--mapping", "erp"]) == 0
    with Ledger.open(db) as ledger:
        assert [tuple(r.values()) for r in ledger.sql(STORED_SQL)[0].to_pylist()] == EXPECTED


@pytest.mark.slow
def test_mapping_through_the_service(tmp_path):
    server = LiveServer(tmp_path / "svc").wait_ready()
    try:
        c = server.client
        r = c.put("/v1/reference/mappings", content=profiles(erp=PROFILE),
                  headers={"Content-Type": "application/json"})  # fmt: skip
        assert r.status_code == 200, r.text
        bad = profiles(bad={"fields": {"cost_center": "KOST"}})
        r = c.put(
            "/v1/reference/mappings", content=bad, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422 and "cost_center" in r.text
        assert c.get("/v1/reference/mappings").json()["rows"][0]["profile"] == PROFILE
        r = server.post_feed(ERP_CSV.encode(), "csv")
        assert r.status_code == 400
        r = c.post("/v1/orders", params={"mapping": "erp"}, content=ERP_CSV.encode(),
                   headers={"Content-Type": "text/csv"})  # fmt: skip
        assert r.status_code == 201, r.text
        assert [tuple(row) for row in server.rows(STORED_SQL)] == EXPECTED
        r = c.post("/v1/orders", params={"mapping": "erp"}, content=ERP_CSV.encode(),
                   headers={"Content-Type": "text/csv"})  # fmt: skip
        assert r.status_code == 200  # the same feed through the same profile: a replay
    finally:
        server.stop()
