"""Sourcing by chip origin or supplier HQ, with shortfall and headroom, against plain Python.

The reference reads the feed's CSV text, the pack's chips and suppliers and the rates
(tests.reference.convert), decides domestic per line by the basis, and finds shortfall and
headroom by searching whole amounts with an exact predicate (no closed form), so a wrong
formula or a wrong rounding direction in the ledger shows up as a different number.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from fractions import Fraction

import pytest

from ledger.domain.money import MINOR_EXPONENT
from ledger.read.sourcing import headroom, shortfall
from ledger.reference import PACK_DIR
from tests.conftest import GOLDEN_CSV, HEADER, RATES
from tests.reference import convert, feed_rows

# Inspur (HQ CN) resells Nvidia H20: domestic by supplier HQ, foreign by chip origin.
RESELLER = (
    "PO-8,1,0,open,ACME-CN,2025-03-02,Inspur,H20,1000,700.00,CNY,CN,DOM-2025,training,"
    "purchase,,,false,LIC-8"
)
FEED = GOLDEN_CSV + RESELLER + "\n"


def _pack(name: str, key: str) -> dict[str, dict]:
    with (PACK_DIR / name).open() as f:
        return {r[key]: r for r in csv.DictReader(f)}


CHIPS, SUPPLIERS = _pack("chips.csv", "chip_model"), _pack("suppliers.csv", "supplier")


def _reference_sums(policy: dict) -> tuple[int, int]:
    """(domestic, total) over the policy's scope, per the basis, in whole minor units /
    units / TPP."""
    domestic = total = 0
    for row in feed_rows(FEED):
        if row["destination"] not in policy["destinations"].split(","):
            continue
        chip = CHIPS[row["chip_model"]]
        if policy.get("basis", "chip_origin") == "chip_origin":
            is_domestic = chip["origin_country"] == policy["jurisdiction"]
        else:
            is_domestic = SUPPLIERS[row["supplier"]]["hq_country"] == policy["jurisdiction"]
        qty = int(row["quantity"])
        if policy["metric"] == "spend":
            day = dt.date.fromisoformat(row["order_date"])
            amount = qty * Decimal(row["unit_price"])
            value = convert(amount, row["currency"], policy["currency"], day, RATES)
        else:
            value = qty * (int(chip["tpp"]) if policy["metric"] == "tpp" else 1)
        total += value
        domestic += value if is_domestic else 0
    return domestic, total


def _least(predicate, limit: int = 10**16) -> int | None:
    """The least whole x >= 0 with predicate(x) (monotone), by doubling then bisection."""
    hi = 1
    while not predicate(hi):
        hi *= 2
        if hi > limit:
            return None
    lo = 0
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if predicate(mid) else (mid + 1, hi)
    return lo


def _meets(d: int, t: int, m: Fraction) -> bool:
    """The policy's test as stated: share >= minimum; nothing in scope passes only m = 0."""
    return (t > 0 and Fraction(d, t) >= m) if m else True


def _reference_answer(d: int, t: int, m: Fraction) -> tuple[str, int | None, int | None]:
    def ok(dd, tt):
        return _meets(dd, tt, m)

    if ok(d, t):
        # headroom: the most y with ok(d, t + y): one less than the least y that breaks it
        breaks = _least(lambda y: not ok(d, t + y))
        return "pass", 0, None if breaks is None else breaks - 1
    return "fail", _least(lambda x: ok(d + x, t + x)), 0


def _show(v: int | None, policy: dict) -> str | None:
    if v is None or policy["metric"] != "spend":
        return None if v is None else str(v)
    return str(Decimal(v).scaleb(-MINOR_EXPONENT[policy["currency"]]))


POLICIES = [
    {"policy": f"{basis}-{metric}-{share}", "jurisdiction": "CN", "destinations": "CN",
     "metric": metric, "min_share": share, "currency": "CNY", "basis": basis}
    for basis in ("chip_origin", "supplier_hq")
    for metric in ("spend", "units", "tpp")
    for share in ("0", "0.3", "0.6", "0.95", "1")
]  # fmt: skip


@pytest.fixture
def answers(ledger):
    ledger.load_reference("sourcing-policies", json.dumps(POLICIES).encode(), "json")
    ledger.ingest_bytes(FEED.encode(), "csv")
    return {r["policy"]: r for r in ledger.sourcing()["rows"]}


def test_every_basis_metric_and_minimum_matches_the_reference(answers):
    statuses = set()
    for policy in POLICIES:
        row = answers[policy["policy"]]
        d, t = _reference_sums(policy)
        status, short, room = _reference_answer(d, t, Fraction(policy["min_share"]))
        statuses.add((policy["min_share"], status))
        assert row["basis"] == policy["basis"]
        assert (row["domestic"], row["total"]) == (_show(d, policy), _show(t, policy)), policy
        assert row["status"] == status, policy
        assert row["shortfall"] == _show(short, policy), policy
        assert row["headroom"] == _show(room, policy), policy
    # both outcomes are exercised, min_share 0 always passes and 1 always fails here
    assert {s for _, s in statuses} == {"pass", "fail"}
    assert ("0", "pass") in statuses and ("1", "fail") in statuses


def test_the_reseller_line_is_foreign_by_chip_origin_only(answers):
    by_chip = answers["chip_origin-units-0.3"]
    by_supplier = answers["supplier_hq-units-0.3"]
    # 1,000 H20 from Inspur (CN): domestic by supplier HQ, not by chip origin
    assert int(by_supplier["domestic"]) - int(by_chip["domestic"]) == 1000
    assert by_chip["total"] == by_supplier["total"]
    assert (by_chip["status"], by_supplier["status"]) == ("fail", "pass")


def test_shortfall_and_headroom_are_the_exact_edges():
    for d, t, m in [(0, 0, "0.3"), (10, 100, "0.3"), (30, 100, "0.3"), (7, 9, "0.777777"),
                    (1, 3, "0.333333"), (5, 5, "1"), (4, 5, "1"), (0, 0, "1"), (0, 7, "0")]:  # fmt: skip
        mf, md = Fraction(m), Decimal(m)

        def ok(dd, tt, mf=mf):
            return _meets(dd, tt, mf)

        x, y = shortfall(d, t, md), headroom(d, t, md)
        if ok(d, t):
            assert x == 0
            if y is not None:
                assert ok(d, t + y) and not ok(d, t + y + 1)
            else:
                assert mf == 0
        else:
            assert y == 0
            if x is not None:
                assert ok(d + x, t + x) and (x == 0 or not ok(d + x - 1, t + x - 1))
            else:
                assert mf == 1 and d < t


def test_a_ledger_made_before_the_basis_column_gets_it(tmp_path):
    from ledger.ledger import Ledger
    from tests.conftest import load_reference

    path = str(tmp_path / "old.duckdb")
    with Ledger.open(path) as old:
        load_reference(old)
        old.store.query("ALTER TABLE sourcing_policies DROP COLUMN basis")
        old.store._con.execute(
            "INSERT INTO sourcing_policies (policy, jurisdiction, destinations, metric, "
            "min_share, currency) VALUES ('p', 'CN', 'CN', 'units', 0.3, 'USD')"
        )
    with Ledger.open(path) as reopened:
        reopened.ingest_bytes((HEADER + "\n" + RESELLER + "\n").encode(), "csv")
        [row] = reopened.sourcing()["rows"]
        assert row["basis"] == "chip_origin" and row["domestic"] == "0"
        assert row["shortfall"] == "429"  # (0 + x) / (1000 + x) >= 0.3: x >= 428.57


def test_basis_is_checked(ledger):
    from ledger.domain.errors import LedgerError

    bad = [dict(POLICIES[0], basis="vendor")]
    with pytest.raises(LedgerError) as e:
        ledger.load_reference("sourcing-policies", json.dumps(bad).encode(), "json")
    assert [f.field for f in e.value.errors] == ["basis"]
