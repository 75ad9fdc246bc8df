"""The shipped rule pack and chips catalogue: sourced rows, HK as China, the Ascend
guidance without exemptions, the 2026 case-by-case rule, and TPP by recomputation."""

from __future__ import annotations

import csv
import json

import pytest

from ledger import reference
from tests.conftest import HEADER

PACK = reference.PACK_DIR
ENTITIES = b"""entity,hq_country,fy_start_month
ACME-CN,CN,1
ACME-SG,SG,4
ACME-HK,HK,1
"""
# The chip names the demo and the other tests use; they must stay in the catalogue.
DEMO_CHIPS = {
    "Ascend 910B",
    "Ascend 910C",
    "MLU590",
    "MLU370",
    "H20",
    "H100",
    "H200",
    "B200",
    "MI300X",
}
NEW_CHIPS = {
    "B300", "GB200", "GB300", "H800", "A800", "L20", "L40S", "RTX Pro 6000", "MI308X", "MI325X",
    "MI350X", "MI355X", "Gaudi 3", "Ascend 910D", "MLU690",
}  # fmt: skip


def _csv(name: str) -> list[dict]:
    with open(PACK / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _rules() -> list[dict]:
    return json.loads((PACK / "export_rules.json").read_text())


def _rule(rule_id: str) -> dict:
    return next(r for r in _rules() if r["rule_id"] == rule_id)


def test_pack_loads_into_a_fresh_ledger_and_every_row_has_a_source(store):
    chips, suppliers, rules = _csv("chips.csv"), _csv("suppliers.csv"), _rules()
    for row in [*chips, *suppliers, *rules]:
        assert row["source"] and row["source"].strip(), row
    # the store holds exactly the shipped rows (conftest loaded the pack)
    assert {r["chip_model"] for r in store.reference("chips").to_pylist()} == {
        r["chip_model"] for r in chips
    }
    assert all(r["source"] for r in store.reference("suppliers").to_pylist())
    assert {r["rule_id"] for r in store.reference("export_rules").to_pylist()} == {
        r["rule_id"] for r in rules
    }
    models = {r["chip_model"] for r in chips}
    assert DEMO_CHIPS | NEW_CHIPS <= models
    # every vendor of the catalogue is a known supplier, and every named product a chip
    assert {r["vendor"] for r in chips} <= {r["supplier"] for r in suppliers}
    for r in rules:
        assert set(r["params"].get("products", [])) <= models, r["rule_id"]


def test_destination_lists_name_hong_kong_wherever_they_name_china():
    for r in _rules():
        for key in ("destinations", "buyer_hq"):
            countries = set(r["params"].get(key, []))
            if "CN" in countries:
                assert {"HK", "MO"} <= countries, (r["rule_id"], key)
    for rule_id in ("US-3A090a-TPP", "US-3A090b-NAC", "US-H20-MI308-2025"):
        assert "HK" in _rule(rule_id)["params"]["destinations"]


def test_ascend_guidance_exempts_no_buyer_and_targets_cn_origin_chips():
    params = _rule("US-ASCEND-GUIDANCE-2025")["params"]
    assert "exempt_buyer_hq" not in params
    assert params["origins"] == ["CN"]
    assert set(params["products"]) == {"Ascend 910B", "Ascend 910C", "Ascend 910D"}


def test_tpp_is_dense_tops_times_bit_length_for_new_chips():
    chips = {r["chip_model"]: r for r in _csv("chips.csv")}
    # chip -> (dense TOPS quoted in its source, bit length of that figure)
    figures = {
        "H100": ("1,979", 8), "L40S": ("733", 8), "B300": ("13,500", 4), "GB200": ("5,000", 8),
        "GB300": ("15,000", 4), "MI325X": ("2,614.9", 8), "MI350X": ("9,227.5", 6),
        "MI355X": ("10,066.3", 6), "Gaudi 3": ("1,835", 16), "RTX Pro 6000": ("2,000", 4),
        "BR100": ("1,024", 16), "Ascend 950PR": ("1000", 8),
    }  # fmt: skip
    for chip, (tops, bits) in figures.items():
        assert tops in chips[chip]["source"], chip
        assert int(chips[chip]["tpp"]) == round(float(tops.replace(",", "")) * bits), chip
    for chip in ("Ascend 910D", "MLU690"):  # no public figure: the row must say so
        assert "approximate" in chips[chip]["source"] and "unconfirmed" in chips[chip]["source"]


def _flags(ledger, lines: list[str]) -> set[tuple[str, int, str]]:
    ledger.load_reference("entities", ENTITIES, "csv")
    ledger.ingest_bytes(("\n".join([HEADER, *lines]) + "\n").encode(), "csv")
    result = ledger.compliance(limit=1000)
    assert result["total"] == len(result["lines"])
    # export rules only: restricted-party flags (Huawei is listed) are tests/test_parties.py's
    return {
        (x["order_id"], x["line_no"], x["rule_id"])
        for x in result["lines"]
        if x["kind"] != "restricted_party"
    }


def _line(order: str, n: int, entity: str, date: str, supplier: str, chip: str, dest: str) -> str:
    return (
        f"{order},{n},0,open,{entity},{date},{supplier},{chip},1,100,USD,{dest},B-1,training,"
        "purchase,,,false,"
    )


def test_h20_and_h100_to_hong_kong_or_for_a_hong_kong_buyer_are_flagged(ledger):
    flags = _flags(ledger, [
        _line("HK-1", 1, "ACME-CN", "2025-06-02", "Nvidia", "H20", "HK"),
        _line("HK-1", 2, "ACME-CN", "2025-06-02", "Nvidia", "H100", "HK"),
        _line("HK-1", 3, "ACME-HK", "2025-06-02", "Nvidia", "H20", "SG"),  # HK-headquartered buyer
        _line("HK-1", 4, "ACME-HK", "2025-06-02", "Nvidia", "H100", "SG"),
        _line("HK-1", 5, "ACME-SG", "2025-06-02", "Nvidia", "H100", "SG"),  # out of scope
        _line("HK-1", 6, "ACME-CN", "2025-04-01", "Nvidia", "H20", "HK"),  # before 2025-04-15
    ])  # fmt: skip
    assert flags == {
        ("HK-1", 1, "US-H20-MI308-2025"),
        ("HK-1", 2, "US-3A090a-TPP"),
        ("HK-1", 3, "US-H20-MI308-2025"),
        ("HK-1", 4, "US-3A090a-TPP"),
    }


def test_ascend_is_a_caution_for_any_buyer_and_breaks_no_us_licence_rule(ledger):
    flags = _flags(ledger, [
        _line("AS-1", 1, "ACME-CN", "2025-06-02", "Huawei", "Ascend 910C", "CN"),
        _line("AS-1", 2, "ACME-SG", "2025-06-02", "Huawei", "Ascend 910B", "SG"),
        _line("AS-1", 3, "ACME-CN", "2025-05-12", "Huawei", "Ascend 910C", "CN"),  # before guidance
        _line("AS-1", 4, "ACME-CN", "2025-06-02", "Cambricon", "MLU370", "CN"),  # not named
    ])  # fmt: skip
    assert flags == {
        ("AS-1", 1, "US-ASCEND-GUIDANCE-2025"),
        ("AS-1", 2, "US-ASCEND-GUIDANCE-2025"),
    }


@pytest.mark.parametrize("chip, supplier", [("H200", "Nvidia"), ("MI325X", "AMD")])
def test_h200_class_to_china_is_flagged_by_the_2026_case_by_case_rule(ledger, chip, supplier):
    flags = _flags(ledger, [
        _line("CB-1", 1, "ACME-CN", "2026-01-20", supplier, chip, "CN"),
        _line("CB-1", 2, "ACME-CN", "2026-01-14", supplier, chip, "CN"),  # the day before
        _line("CB-1", 3, "ACME-CN", "2026-02-01", supplier, chip, "HK"),
        _line("CB-1", 4, "ACME-SG", "2026-02-01", supplier, chip, "SG"),
    ])  # fmt: skip
    assert {f for f in flags if f[2] == "US-AC-CASEBYCASE-2026"} == {
        ("CB-1", 1, "US-AC-CASEBYCASE-2026"),
        ("CB-1", 3, "US-AC-CASEBYCASE-2026"),
    }
    # the licence requirement itself (3A090.a) applies before and after the 2026 rule
    assert {(o, n) for o, n, r in flags if r == "US-3A090a-TPP"} == {
        ("CB-1", 1),
        ("CB-1", 2),
        ("CB-1", 3),
    }
    assert "case-by-case" in _rule("US-AC-CASEBYCASE-2026")["source"]


def test_rescinded_ai_diffusion_row_ends_and_guidance_row_takes_over():
    old, new = _rule("US-AIDIFF-LEASE-ID"), _rule("US-DIVERSION-LEASE-2025")
    assert old["effective_to"] == "2025-05-12" and "Rescinded" in old["source"]
    assert new["effective_from"] == "2025-05-13" and new["kind"] == "lease_identity"
