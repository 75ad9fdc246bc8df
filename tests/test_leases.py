"""Leases without owner or operator are accepted and flagged; every flag carries evidence."""

from __future__ import annotations

import pytest

from kernels import layout as L
from ledger.resident import columns as C
from tests.conftest import GOLDEN_CSV, HEADER


def _lease(line_no: int, owner: str, operator: str, reviewed: str, chip: str = "H100") -> str:
    return (
        f"PO-L,{line_no},0,open,ACME-SG,2025-06-02,Nvidia,{chip},2,25000,USD,MY,OVS-2025,"
        f"training,lease,{owner},{operator},{reviewed},"
    )


LEASES = [
    _lease(1, "YTL Data Centres", "", "false"),  # operator missing
    _lease(2, "", "Equinix", "true"),  # owner missing: reviewed says true, cannot be
    _lease(3, "", "", "false"),  # both missing
    _lease(4, "Equinix", "Equinix", "true"),  # complete and reviewed: not flagged
    _lease(5, "Equinix", "Equinix", "false"),  # named, not reviewed
    _lease(6, "", "", "false", chip="MLU370"),  # a Chinese chip: the US rule does not bind it
]
FEED = HEADER + "\n" + "\n".join(LEASES) + "\n"


def _lease_flags(ledger) -> dict[int, dict]:
    lines = ledger.compliance(limit=1000)["lines"]
    return {x["line_no"]: x for x in lines if x["order_id"] == "PO-L"}


def test_flag_bits_agree_between_the_columns_and_the_kernels():
    assert (C.LEASE, C.REVIEWED, C.LICENSED, C.ACTIVE) == (
        L.LEASE, L.REVIEWED, L.LICENSED, L.ACTIVE,
    )  # fmt: skip
    assert L.N_FLAG_VALUES > max(L.LEASE, L.REVIEWED, L.LICENSED, L.ACTIVE, L.NOTIFIED)


def test_a_lease_naming_no_operator_is_never_reviewed(ledger):
    """REVIEWED needs identity_reviewed and both parties named (a missing one cannot have
    been reviewed): the resident flags say so, whatever identity_reviewed says."""
    ledger.ingest_bytes(FEED.encode(), "csv")
    reviewed = (ledger.cols.view()["flags"] & C.REVIEWED) != 0
    # lines 1..6 are entries 0..5: only line 4 is named and reviewed; line 2 says
    # reviewed but names no owner
    assert reviewed.tolist() == [False, False, False, True, False, False]


def test_a_lease_without_owner_or_operator_is_accepted_and_counts(ledger):
    result = ledger.ingest_bytes(FEED.encode(), "csv")
    assert result.answer["lines_accepted"] == len(LEASES)
    totals = ledger.totals(["budget_code"], "USD")
    [row] = totals["rows"]
    assert row["budget_code"] == "OVS-2025" and row["lines"] == len(LEASES)


def test_each_missing_party_is_flagged_with_its_reason_and_evidence(ledger):
    ledger.ingest_bytes(FEED.encode(), "csv")
    flags = _lease_flags(ledger)
    assert set(flags) == {1, 2, 3, 5}
    assert {x["kind"] for x in flags.values()} == {"lease_identity"}
    assert flags[1]["reason"] == "leased H100: operator not named, so not reviewed"
    assert flags[2]["reason"] == "leased H100: owner not named, so not reviewed"
    assert flags[3]["reason"] == "leased H100: owner and operator not named, so not reviewed"
    assert flags[5]["reason"] == "leased H100: owner and operator identity not reviewed"
    assert flags[1]["evidence"]["missing"] == ["operator"]
    assert (flags[2]["evidence"]["missing"], flags[2]["evidence"]["identity_reviewed"]) == (
        ["owner"], True,
    )  # fmt: skip
    assert flags[5]["evidence"]["missing"] == [] and flags[5]["evidence"]["tpp"] == 15832


def test_the_flags_survive_a_restart_from_the_column_cache(db_path, ledger):
    from ledger.ledger import Ledger

    ledger.ingest_bytes(FEED.encode(), "csv")
    before = _lease_flags(ledger)
    ledger.close()
    with Ledger.open(db_path) as again:
        assert _lease_flags(again) == before
        assert again.cols.loaded_from.startswith("cache")


def test_a_cache_of_the_older_layout_is_rebuilt(db_path, ledger, monkeypatch):
    """A cache saved before IDENTITY_MISSING existed would hide the flag: never trusted."""
    import json
    from pathlib import Path

    from ledger.ledger import Ledger

    ledger.ingest_bytes(FEED.encode(), "csv")
    ledger.close()
    meta = Path(db_path + ".columns") / "meta.json"
    doc = json.loads(meta.read_text())
    doc["version"] = 1
    meta.write_text(json.dumps(doc))
    with Ledger.open(db_path) as again:
        assert set(_lease_flags(again)) == {1, 2, 3, 5}
        assert again.cols.loaded_from == "store"


@pytest.fixture
def golden(ledger):
    extra = (
        "PO-7,1,0,open,ACME-CN,2025-05-01,Nvidia,H20,1,100,USD,CN,DOM-2025,training,"
        "purchase,,,false,\n"
        "PO-7,4,0,open,ACME-SG,2025-06-01,Huawei,Ascend 910C,1,100,USD,SG,OVS-2025,"
        "inference,purchase,,,false,\n"
    )
    ledger.ingest_bytes((GOLDEN_CSV + extra).encode(), "csv")
    return {(x["order_id"], x["line_no"], x["kind"]): x for x in ledger.compliance()["lines"]}


def test_tpp_evidence_names_the_figures_and_the_criterion(golden):
    ev = golden[("PO-3", 2, "tpp_license")]["evidence"]  # H100 into CN, no licence
    assert ev["tpp"] == 15832 and ev["die_area_mm2"] == 814
    assert ev["performance_density"] == round(15832 / 814, 3)
    assert ev["band"] == "3A090.a" and ev["criterion"] == "TPP 15832 >= 4800"
    assert ev["destination_in_scope"] and ev["buyer_hq"] == "CN" and ev["buyer_in_scope"]
    assert ev["chip_origin"] == "US" and ev["license_ref"] is None


def test_product_evidence_names_the_list_entry(golden):
    ev = golden[("PO-7", 1, "product_license")]["evidence"]
    assert ev["product"] == "H20" and "H20" in ev["products"]
    assert ev["listed_from"] == "2025-04-15" and ev["destination_in_scope"]
    caution = golden[("PO-7", 4, "product_caution")]["evidence"]
    assert caution["product"] == "Ascend 910C" and caution["chip_origin"] == "CN"
    assert caution["buyer_hq"] == "SG"


def test_every_flag_has_evidence(golden):
    assert golden and all(isinstance(x["evidence"], dict) and x["evidence"] for x in
                          golden.values())  # fmt: skip


def test_notify_band_evidence():
    from ledger.read.evidence import chip_figures, evidence

    rule = {"kind": "tpp_notify", "effective_from": "2023-11-17", "params": {
        "tpp_min": 2400, "tpp_max": 4800, "pd_min": 1.6, "pd_max": 5.92, "tpp_min_dense": 1600,
        "pd_min_dense": 3.2, "destinations": ["CN"], "buyer_hq": ["CN"]}}  # fmt: skip
    line = {"destination": "CN", "chip_model": "X", "license_ref": None}
    dense = evidence(rule, line, {"chip": chip_figures(1700, 400)})  # PD 4.25: dense band
    assert dense["band"] == "3A090.b"
    assert dense["criterion"] == "TPP 1700 >= 1600 and 3.2 <= PD 4.25 < 5.92"
    plain = evidence(rule, line, {"chip": chip_figures(3000, 1000)})  # PD 3.0: the b band
    assert plain["criterion"] == "2400 <= TPP 3000 < 4800 and 1.6 <= PD 3.0 < 5.92"
