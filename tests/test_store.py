"""The store: idempotency, revisions, reversals, exact USD totals, durability."""

from __future__ import annotations

import pytest

from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from ledger.store.store import Store
from tests.conftest import GOLDEN_CSV, HEADER, RATES
from tests.reference import total_in


def test_replay_answers_as_the_first_time(ledger):
    first = ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    assert not first.replay
    assert first.answer["lines_accepted"] == 9
    before = ledger.store.content_hash()
    again = ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    assert again.replay
    assert again.answer == first.answer
    assert ledger.store.content_hash() == before


def test_same_id_other_content_conflicts(ledger):
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv", feed_id="feed-A")
    before = ledger.store.content_hash()
    other = GOLDEN_CSV.replace("120000.50", "120000.51")
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(other.encode(), "csv", feed_id="feed-A")
    assert e.value.status == 409
    assert ledger.store.content_hash() == before


def test_unchanged_lines_in_a_new_feed(ledger):
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv", feed_id="one")
    again = ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv", feed_id="two")
    assert again.answer["lines_unchanged"] == 9
    assert again.answer["entries_appended"] == 0
    assert ledger.store.count("line_entries") == 9


def test_revision_and_cancellation(ledger):
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    amend = (
        f"{HEADER}\n"
        "PO-1,1,1,open,ACME-CN,2025-02-01,Huawei,Ascend 910B,90,120000.50,CNY,CN,DOM-2025,inference,purchase,,,false,\n"
        "PO-2,1,1,cancelled,ACME-SG,2025-05-01,Nvidia,H100,10,25000,USD,SG,OVS-2025,training,purchase,,,false,\n"
    )
    result = ledger.ingest_bytes(amend.encode(), "csv")
    assert result.answer["entries_appended"] == 4
    store = ledger.store
    rows = store.query(
        "SELECT entry_kind, order_id, line_no, revision, status, quantity, amount_minor, lines "
        "FROM line_entries WHERE feed_seq = 2 ORDER BY entry_seq"
    ).to_pylist()
    assert [
        (r["entry_kind"], r["order_id"], r["quantity"], r["amount_minor"], r["lines"]) for r in rows
    ] == [
        ("reversal", "PO-1", -100, -1200005000, -1),
        ("line", "PO-1", 90, 1080004500, 1),
        ("reversal", "PO-2", -10, -25000000, -1),
        ("line", "PO-2", 0, 0, 0),
    ]
    current = {
        (r["order_id"], r["line_no"]): r for r in store.query("SELECT * FROM orders").to_pylist()
    }
    assert len(current) == 9
    assert current[("PO-1", 1)]["quantity"] == 90 and current[("PO-1", 1)]["revision"] == 1
    assert current[("PO-2", 1)]["status"] == "cancelled"
    # plain sums over entries equal sums over current lines
    by_entries = store.query(
        "SELECT sum(amount_minor)::BIGINT s FROM line_entries WHERE currency='CNY'"
    )
    by_orders = store.query("SELECT sum(amount_minor)::BIGINT s FROM orders WHERE currency='CNY'")
    assert by_entries.to_pylist() == by_orders.to_pylist()
    # stale and clashing revisions are refused, naming the row
    stale = amend.replace(",1,1,open,", ",1,0,open,")
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(stale.encode(), "csv")
    assert e.value.errors[0].row == 0 and e.value.errors[0].field == "revision"


def test_orders_usd_equals_decimal_reference_with_half_even_cases(ledger):
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    got = ledger.store.query("SELECT sum(amount_usd_minor)::BIGINT AS s FROM orders_usd")["s"][
        0
    ].as_py()
    assert got == total_in(GOLDEN_CSV, "USD", RATES)
    per_line = ledger.store.query(
        "SELECT order_id, line_no, amount_usd_minor FROM orders_usd ORDER BY order_id, line_no"
    ).to_pylist()
    half_cases = {(r["order_id"], r["line_no"]): r["amount_usd_minor"] for r in per_line}
    assert half_cases[("PO-1", 2)] == 0  # 0.5 cent -> 0 (even)
    assert half_cases[("PO-1", 3)] == 2  # 1.5 cents -> 2
    assert half_cases[("PO-1", 4)] == 2  # 2.5 cents -> 2
    assert half_cases[("PO-2", 3)] == 0  # 1 JPY at 0.005 = 0.5 cent -> 0


def test_reopen_sees_every_committed_feed(db_path, ledger, store):
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv", feed_id="a")
    digest = store.content_hash()
    ledger.close()
    again = Store(db_path)
    assert again.content_hash() == digest
    assert again.count("feeds") == 1
    assert again.counters() == (9, 2)
    again.close()


def test_sql_is_read_only(ledger):
    ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    table, truncated = ledger.store.read_only_sql("SELECT count(*) AS n FROM orders")
    assert table.to_pylist() == [{"n": 9}] and not truncated
    _, truncated = ledger.store.read_only_sql("SELECT * FROM line_entries", max_rows=3)
    assert truncated
    for bad in [
        "DROP TABLE line_entries",
        "INSERT INTO feeds SELECT * FROM feeds",
        "SELECT 1; SELECT 2",
        "COPY line_entries TO '/tmp/x.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "ATTACH '/tmp/other.duckdb' AS o",
        "INSTALL httpfs",
        "SET threads = 1",
        "CREATE SEQUENCE s",
        "SELECT nextval('s')",
    ]:
        with pytest.raises(LedgerError):
            ledger.store.read_only_sql(bad)
    assert ledger.store.count("line_entries") == 9


def test_long_sql_is_interrupted(store):
    with pytest.raises(LedgerError) as e:
        store.read_only_sql(
            "SELECT count(*) FROM range(1000000000) a, range(1000000) b WHERE a.range + b.range = -1",
            timeout_s=0.3,
        )
    assert e.value.status == 408


def test_snapshot(tmp_path, db_path):
    snap = tmp_path / "snaps"
    s = Ledger.open(db_path, snapshot_dir=snap)
    from tests.conftest import load_reference

    load_reference(s)
    s.ingest_bytes(GOLDEN_CSV.encode(), "csv")
    written = s.snapshot(snap / "one")
    import duckdb  # the copy opens in another connection while the ledger stays open

    con = duckdb.connect(written["duckdb"], read_only=True)
    assert con.execute("SELECT count(*) FROM line_entries").fetchone()[0] == 9
    con.close()
    import pyarrow.parquet as pq

    assert pq.read_table(written["line_entries"]).num_rows == 9
    with pytest.raises(LedgerError):
        s.snapshot(tmp_path / "elsewhere")
    s.close()


def test_two_stores_on_one_file_see_each_others_lines(db_path, ledger, store):
    """Two ledgers on one file in one process share DuckDB's instance: a revision sent
    through the second one must find the line the first one appended (its key index and
    entry counters must not be stale), and entry numbers stay unique."""
    first = ledger
    first.ingest_bytes(GOLDEN_CSV.encode(), "csv", feed_id="a")
    second = Ledger.open(db_path, cache=False)
    other = second.store
    second.ingest_bytes(GOLDEN_CSV.encode(), "csv", feed_id="b")  # builds its key index
    amend = (
        f"{HEADER}\n"
        "PO-1,1,1,open,ACME-CN,2025-02-01,Huawei,Ascend 910B,90,120000.50,CNY,CN,DOM-2025,inference,purchase,,,false,\n"
    )
    first.ingest_bytes(amend.encode(), "csv", feed_id="c")
    amend_again = amend.replace(",1,1,open,", ",1,2,open,").replace(",90,", ",80,")
    result = second.ingest_bytes(amend_again.encode(), "csv", feed_id="d")
    assert result.answer["entries_appended"] == 2  # a reversal of revision 1, then revision 2
    seqs = other.query("SELECT entry_seq FROM line_entries")["entry_seq"].to_pylist()
    assert sorted(seqs) == list(range(len(seqs)))
    current = other.query("SELECT quantity FROM orders WHERE order_id = 'PO-1' AND line_no = 1")
    assert current["quantity"].to_pylist() == [80]
    other.close()


def test_a_feed_sent_again_answers_first_even_if_its_lines_would_no_longer_pass(ledger):
    """Replay and conflict come before validation: a feed whose lines were revised since,
    sent again, gets its first answer; its id with other (even invalid) bytes is a 409."""
    first = ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv", feed_id="a")
    amend = GOLDEN_CSV.replace("PO-1,1,0,open", "PO-1,1,1,open").replace(
        ",100,120000.50,", ",90,120000.50,"
    )
    ledger.ingest_bytes(amend.encode(), "csv", feed_id="b")
    again = ledger.ingest_bytes(GOLDEN_CSV.encode(), "csv", feed_id="a")
    assert again.replay and again.answer == first.answer
    with pytest.raises(LedgerError) as e:
        ledger.ingest_bytes(b"order_id\nnot-a-feed\n", "csv", feed_id="a")
    assert e.value.status == 409 and e.value.kind == "feed-conflict"
