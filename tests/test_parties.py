"""Restricted-party screening: normalisation, fuzzy matching against a table of cases,
listing dates, the Consolidated Screening List importer (JSON and CSV), the compliance
flag with its evidence, matching once per change, and GET /v1/parties through the API."""

from __future__ import annotations

import json

import pytest

from ledger.domain import parties as P
from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from ledger.reference import csl
from tests.conftest import HEADER, load_reference

# -- normalisation and matching (pure) --------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Huawei Technologies Co., Ltd.", "huawei technologies"),
        ("HUAWEI TECHNOLOGIES CO LTD", "huawei technologies"),
        ("Huawei-Technologies, Co. Ltd", "huawei technologies"),
        ("Société Générale S.A.", "societe generale"),
        ("The Boeing Company", "boeing"),
        ("Acme Holdings GmbH", "acme holdings"),
        ("Acme Widgets, L.L.C.", "acme widgets"),
        ("Moore Threads Intelligent Technology (Beijing) Co., Ltd.",
         "moore threads intelligent technology beijing"),
        ("华为技术有限公司", "华为技术"),
        ("Ｈｕａｗｅｉ", "huawei"),  # full-width letters (NFKC)
        ("Limited", "limited"),  # a name that is only a suffix keeps it
    ],
)  # fmt: skip
def test_normalise(raw, normal):
    assert P.normalise(raw) == normal


LISTING = {
    "name": "Huawei Technologies Co., Ltd.", "alt_names": ["华为技术有限公司"],
    "countries": ["CN"],
}  # fmt: skip
CAMBRICON = {
    "name": "Cambricon Technologies Corporation Limited", "alt_names": ["Zhongke Cambricon"],
    "countries": ["CN"],
}  # fmt: skip
ACME = {"name": "Acme Technology Trading Co., Ltd.", "alt_names": [], "countries": []}
AMD_LIKE = {"name": "AMD Trading Co.", "alt_names": [], "countries": ["AE"]}

# (party name, party country, listing, matches at 90?)
CASES = [
    ("Huawei Technologies Co., Ltd.", "CN", LISTING, True),  # exact
    ("huawei technologies", None, LISTING, True),  # case, no suffix
    ("HUAWEI TECHNOLOGIES LIMITED", "CN", LISTING, True),  # another legal suffix
    ("Huawei-Technologies, Co.", "CN", LISTING, True),  # punctuation
    ("Technologies Huawei", "CN", LISTING, True),  # word order
    ("Huawie Technologies", "CN", LISTING, True),  # one transposition: ~95
    ("Huawei", "CN", LISTING, True),  # the short name: every word in the listed name
    ("华为技术有限公司", None, LISTING, True),  # the listed Chinese alias
    ("Huawei Technologies", "HK", LISTING, True),  # HK counts as CN (85 FR 83765)
    ("Huawei Technologies", "US", LISTING, False),  # both countries known and different
    ("Zhongke Cambricon Co.", "CN", CAMBRICON, True),  # only through the alias
    ("Acme Trading", None, ACME, True),  # subset of the listed words
    ("Acme Trade Partners", None, ACME, False),  # below the threshold
    ("Huawai Tech", "CN", LISTING, False),  # below the threshold
    ("AMD", "US", AMD_LIKE, False),  # too short to match as a subset (and US vs AE)
    ("AMD", None, AMD_LIKE, False),  # too short to match as a subset
]


@pytest.mark.parametrize(("name", "country", "listing", "expected"), CASES)
def test_matching_cases(name, country, listing, expected):
    (found,) = P.match_all([P.Party("supplier", name, country)], [listing], 90)
    assert any(P.is_match(m, 90) for m in found) == expected, found


def test_alias_is_what_matches_the_alias_case():
    bare = {**CAMBRICON, "alt_names": []}
    (found,) = P.match_all([P.Party("supplier", "Zhongke Cambricon", "CN")], [bare], 90)
    assert not any(P.is_match(m, 90) for m in found)
    (found,) = P.match_all([P.Party("supplier", "Zhongke Cambricon", "CN")], [CAMBRICON], 90)
    assert found[0].matched_name == "Zhongke Cambricon" and found[0].score == 100


def test_threshold_is_a_setting():
    (found,) = P.match_all([P.Party("supplier", "Huawie Technologies", None)], [LISTING], 90)
    score = found[0].score
    assert 90 <= score < 100
    assert P.is_match(found[0], 90) and not P.is_match(found[0], 99)


# -- the ledger: flags, dates, evidence ---------------------------------------

LISTINGS = [
    {
        "party_id": "T-1", "list": "Entity List (EL) - Bureau of Industry and Security",
        "name": "Shenzhen Example Compute Co., Ltd.", "alt_names": ["Example Compute"],
        "countries": ["CN"], "listed_from": "2025-03-01", "listed_to": "2025-05-31",
        "severity": "violation", "source": "test listing, 99 FR 12345",
    },
    {
        "party_id": "T-2", "list": "Specially Designated Nationals (SDN) - Treasury Department",
        "name": "Blocked Leasing Limited", "alt_names": [], "countries": [],
        "listed_from": None, "listed_to": None, "severity": "violation",
        "source": "test listing, SDN",
    },
]  # fmt: skip
SUPPLIERS = (
    b"supplier,hq_country,source\nShenzhen Example Compute,CN,test\n"
    b"Example Compute US,US,a namesake in another country\n"
)


def _line(order: str, date: str, supplier: str = "Nvidia", lease: tuple = ()) -> str:
    acquisition, owner, operator = ("lease", *lease) if lease else ("purchase", "", "")
    return (
        f"{order},1,0,open,ACME-SG,{date},{supplier},H200,1,100,USD,SG,OVS-2025,training,"
        f"{acquisition},{owner},{operator},true,"
    )


def _ledger(tmp_path, threshold: float = 90) -> Ledger:
    ledger = Ledger.open(tmp_path / "p.duckdb", party_match_threshold=threshold)
    load_reference(ledger)
    ledger.load_reference("suppliers", SUPPLIERS, "csv")
    ledger.load_reference("restricted-parties", json.dumps(LISTINGS).encode(), "json")
    return ledger


def _ingest(ledger: Ledger, *lines: str) -> None:
    ledger.ingest_bytes("\n".join([HEADER, *lines]).encode(), "csv")


def _party_lines(ledger: Ledger, **kw) -> dict[str, dict]:
    answer = ledger.compliance(limit=1000, **kw)
    return {x["order_id"]: x for x in answer["lines"] if x["kind"] == "restricted_party"}


@pytest.mark.parametrize("scalar_passes", [12, 0])  # both ways of finding the lines
def test_a_listing_flags_lines_only_while_in_force(tmp_path, monkeypatch, scalar_passes):
    import ledger.read.parties as reads

    monkeypatch.setattr(reads, "_SCALAR_PASSES", scalar_passes)
    with _ledger(tmp_path) as ledger:
        _ingest(
            ledger,
            _line("BEFORE", "2025-02-28", "Shenzhen Example Compute"),
            _line("FIRST-DAY", "2025-03-01", "Shenzhen Example Compute"),
            _line("LAST-DAY", "2025-05-31", "Shenzhen Example Compute"),
            _line("AFTER", "2025-06-01", "Shenzhen Example Compute"),
            _line("NAMESAKE", "2025-04-01", "Example Compute US"),  # US vs CN: no match
            _line("CLEAN", "2025-04-01", "Nvidia"),
        )
        assert set(_party_lines(ledger)) == {"FIRST-DAY", "LAST-DAY"}


def test_the_flag_carries_the_evidence(tmp_path):
    with _ledger(tmp_path) as ledger:
        _ingest(ledger, _line("PO-9", "2025-04-01", "Shenzhen Example Compute"))
        answer = ledger.compliance(limit=1000)
        (count,) = [c for c in answer["counts"] if c["rule_id"] == "restricted_party"]
        assert count == {"rule_id": "restricted_party", "kind": "restricted_party",
                         "severity": "violation", "lines": 1}  # fmt: skip
        line = _party_lines(ledger)["PO-9"]
        assert line["rule_id"] == "restricted_party" and line["severity"] == "violation"
        for part in ("Shenzhen Example Compute", "Entity List (EL)", "score 100", "99 FR 12345"):
            assert part in line["reason"], (part, line["reason"])
        (evidence,) = line["evidence"]["matches"]
        assert evidence["role"] == "supplier" and evidence["party_id"] == "T-1"
        assert evidence["listed_from"] == "2025-03-01" and evidence["score"] == 100


def test_lease_owners_and_operators_are_screened(tmp_path):
    with _ledger(tmp_path) as ledger:
        _ingest(
            ledger,
            _line("OWNER", "2025-04-01", lease=("Blocked Leasing Ltd.", "Equinix")),
            _line("OPERATOR", "2025-04-02", lease=("Equinix", "BLOCKED LEASING LIMITED")),
            _line("NEITHER", "2025-04-03", lease=("Equinix", "Equinix")),
        )
        flagged = _party_lines(ledger)
        assert set(flagged) == {"OWNER", "OPERATOR"}
        assert flagged["OWNER"]["evidence"]["matches"][0]["role"] == "owner"
        assert flagged["OPERATOR"]["evidence"]["matches"][0]["role"] == "operator"
        assert "SDN" in flagged["OPERATOR"]["reason"]
        # a cancelled line is no longer flagged
        cancel = _line("OWNER", "2025-04-01", lease=("Blocked Leasing Ltd.", "Equinix"))
        _ingest(ledger, cancel.replace(",1,0,open,", ",1,1,cancelled,"))
        assert set(_party_lines(ledger)) == {"OPERATOR"}


def test_rule_and_fiscal_year_filters(tmp_path):
    with _ledger(tmp_path) as ledger:
        _ingest(
            ledger,
            _line("FY25", "2025-04-01", "Shenzhen Example Compute"),
            _line("FY24", "2024-06-01", lease=("Blocked Leasing Limited", "Equinix")),
        )
        only = ledger.compliance(rule="restricted_party", limit=100)
        assert {x["order_id"] for x in only["lines"]} == {"FY25", "FY24"}
        assert {x["kind"] for x in only["lines"]} == {"restricted_party"}
        # ACME-SG's fiscal year starts in April: 2025-04-01 is in FY 2026
        fy = ledger.compliance(rule="restricted_party", fiscal_year=2026, limit=100)
        assert [x["order_id"] for x in fy["lines"]] == ["FY25"]


def test_matching_runs_once_per_change(tmp_path, monkeypatch):
    import ledger.read.parties as reads

    calls = []
    real = reads.match_all
    monkeypatch.setattr(reads, "match_all", lambda *a: calls.append(len(a[0])) or real(*a))
    with _ledger(tmp_path) as ledger:
        _ingest(ledger, _line("A", "2025-04-01", "Shenzhen Example Compute"))
        for _ in range(3):
            ledger.compliance()
            ledger.parties()
        assert len(calls) == 1
        _ingest(ledger, _line("B", "2025-04-01", "Nvidia"))  # no new party name
        ledger.compliance()
        assert len(calls) == 1
        _ingest(ledger, _line("C", "2025-04-01", lease=("New Lessor", "New Lessor")))
        ledger.compliance()
        assert len(calls) == 2 and calls[-1] == 2  # only the new owner and operator matched
        assert "New Lessor" in {p["name"] for p in ledger.parties()["parties"]}
        ledger.load_reference("restricted-parties", json.dumps(LISTINGS[:1]).encode(), "json")
        assert "C" not in _party_lines(ledger)
        assert len(calls) == 3  # the reference changed


def test_threshold_is_carried_into_the_ledger(tmp_path):
    typo = b"supplier,hq_country,source\nShenzhen Exampel Compute,CN,typo\n"
    for threshold, flagged in ((90, True), (99, False)):
        path = tmp_path / str(threshold)
        path.mkdir()
        with _ledger(path, threshold) as ledger:
            ledger.load_reference("suppliers", typo, "csv")
            _ingest(ledger, _line("T", "2025-04-01", "Shenzhen Exampel Compute"))
            assert ("T" in _party_lines(ledger)) == flagged
            assert ledger.parties()["threshold"] == threshold
    with pytest.raises(LedgerError):
        Ledger.open(tmp_path / "bad.duckdb", party_match_threshold=101)


def test_parties_lists_every_kind_with_its_best_matches(tmp_path):
    with _ledger(tmp_path) as ledger:
        _ingest(ledger, _line("L", "2025-04-01", lease=("Blocked Leasing Ltd", "Equinix")))
        answer = ledger.parties()
        by = {(p["kind"], p["name"]): p for p in answer["parties"]}
        assert {"supplier", "entity", "owner", "operator"} <= {k for k, _ in by}
        owner = by[("owner", "Blocked Leasing Ltd")]
        assert owner["matched"] and owner["matches"][0]["party_id"] == "T-2"
        namesake = by[("supplier", "Example Compute US")]
        assert not namesake["matched"] and namesake["matches"][0]["country_agrees"] is False
        assert by[("entity", "ACME-SG")]["country"] == "SG"
        assert not by[("operator", "Equinix")]["matched"]


def test_a_new_ledger_screens_with_the_shipped_excerpt(tmp_path):
    with Ledger.open(tmp_path / "new.duckdb") as ledger:
        rows = ledger.reference_rows("restricted-parties")
        assert len(rows) >= 5
        for r in rows:  # every shipped listing names its source
            assert "BIS" in r["source"] and r["listed_from"], r
        matched = {p["name"] for p in ledger.parties()["parties"] if p["matched"]}
        assert {"Huawei", "Cambricon", "Biren"} <= matched  # shipped suppliers on the list
        assert not matched & {"Nvidia", "AMD", "Intel", "Equinix"}


# -- the Consolidated Screening List importer -----------------------------------

CSL_JSON = {
    "total": 3,
    "sources_used": [{"source": "Entity List (EL) - Bureau of Industry and Security"}],
    "results": [
        {
            "id": "abc123", "source": "Entity List (EL) - Bureau of Industry and Security",
            "entity_number": None, "type": None, "programs": [],
            "name": "Shenzhen Example Compute Co., Ltd.", "alt_names": ["Example Compute"],
            "addresses": [{"address": "1 Road", "city": "Shenzhen", "country": "CN"},
                          {"address": "2 Road", "city": "Hong Kong", "country": "HK"}],
            "federal_register_notice": "99 FR 12345", "start_date": "2025-03-01",
            "end_date": None, "source_list_url": "https://www.bis.gov/entity-list",
            "ids": [], "remarks": None,
        },
        {
            "id": "sdn-1", "source": "Specially Designated Nationals (SDN) - Treasury Department",
            "name": "Blocked Leasing Limited", "alt_names": None, "addresses": [],
            "start_date": None, "end_date": None, "source_information_url": "https://ofac",
        },
        {
            "source": "Unverified List (UVL) - Bureau of Industry and Security",
            "name": "No Id Trading", "addresses": [{"country": "Atlantis"}],
            "start_date": "2024-01-02T00:00:00", "end_date": "2024-12-31",
        },
    ],
}  # fmt: skip
CSL_CSV = (
    "_id,source,entity_number,type,programs,name,title,addresses,federal_register_notice,"
    "start_date,end_date,standard_order,license_requirement,license_policy,call_sign,"
    "vessel_type,gross_tonnage,gross_registered_tonnage,vessel_flag,vessel_owner,remarks,"
    "source_list_url,alt_names,citizenships,dates_of_birth,nationalities,places_of_birth,"
    "source_information_url,ids\n"
    "abc123,Entity List (EL) - Bureau of Industry and Security,,,,"
    'Shenzhen Example Compute Co. Ltd.,,"1 Road, Shenzhen, Guangdong, 518000, CN; '
    '2 Road, Hong Kong, , , HK",99 FR 12345,2025-03-01,,,,,,,,,,,,'
    "https://www.bis.gov/entity-list,Example Compute; ECC,,,,,,\n"
    "e5a9,Denied Persons List (DPL) - Bureau of Industry and Security,,,, MICKEY MOUSE,,"
    '"123 S. TEST DRIVE, SCOTTSDALE, AZ, 85251",82 F.R. 48792 10/01/2017,2017-10-18,'
    "2020-10-15,Y,,,,,,,,,FR NOTICE ADDED,http://bit.ly/1Qi5heF,,,,,,http://bit.ly/1iwxiF0,\n"
)


def test_csl_json_import(tmp_path):
    with _ledger(tmp_path) as ledger:
        n = ledger.import_restricted_parties(json.dumps(CSL_JSON).encode(), "json")
        assert n == 3
        rows = {r["party_id"]: r for r in ledger.reference_rows("restricted-parties")}
        el = rows["abc123"]
        assert el["countries"] == ["CN", "HK"] and el["alt_names"] == ["Example Compute"]
        assert el["listed_from"] == "2025-03-01" and el["listed_to"] is None
        assert el["severity"] == "warning"  # Entity List: a review item for a buyer
        assert "99 FR 12345" in el["source"] and "bis.gov" in el["source"]
        assert rows["sdn-1"]["severity"] == "violation" and rows["sdn-1"]["alt_names"] == []
        (no_id,) = [r for k, r in rows.items() if k.startswith("csl-")]
        assert no_id["countries"] == [] and no_id["listed_to"] == "2024-12-31"
        assert no_id["listed_from"] == "2024-01-02"
        # the import is the screening's reference: the supplier now matches the CSL row too
        _ingest(ledger, _line("PO-1", "2025-04-01", "Shenzhen Example Compute"))
        ids = {e["party_id"] for e in _party_lines(ledger)["PO-1"]["evidence"]["matches"]}
        assert ids == {"T-1", "abc123"}


def test_csl_csv_import(tmp_path):
    with _ledger(tmp_path) as ledger:
        assert ledger.import_restricted_parties(CSL_CSV.encode(), "csv", "violation") == 2
        rows = {r["party_id"]: r for r in ledger.reference_rows("restricted-parties")}
        el = rows["abc123"]
        assert el["countries"] == ["CN", "HK"] and el["alt_names"] == ["Example Compute", "ECC"]
        assert el["severity"] == "violation"  # the override
        dpl = rows["e5a9"]
        assert dpl["name"] == "MICKEY MOUSE" and dpl["countries"] == []
        assert (dpl["listed_from"], dpl["listed_to"]) == ("2017-10-18", "2020-10-15")
        assert "82 F.R. 48792" in dpl["source"]


def test_csl_defaults_and_faults():
    dpl = "Denied Persons List (DPL) - Bureau of Industry and Security"
    assert csl.default_severity(dpl) == "violation"
    assert csl.default_severity("Military End User (MEU) List - BIS") == "warning"
    with pytest.raises(LedgerError) as e:
        csl.parse(b'{"results": 3}', "json")
    assert e.value.status == 400
    with pytest.raises(LedgerError) as e:
        csl.parse(b"a,b\n1,2\n", "csv")
    assert e.value.status == 400


def test_csl_rows_are_checked_by_the_registry(tmp_path):
    bad = {"results": [{"id": "x", "source": "EL", "name": "A", "start_date": "2025-13-01"},
                       {"id": "y", "source": "EL", "name": "", "end_date": "2020-01-01",
                        "start_date": "2021-01-01"}]}  # fmt: skip
    with _ledger(tmp_path) as ledger:
        before = ledger.reference_rows("restricted-parties")
        with pytest.raises(LedgerError) as e:
            ledger.import_restricted_parties(json.dumps(bad).encode(), "json")
        assert e.value.status == 422
        faults = {(x.row, x.field) for x in e.value.errors}
        assert {(0, "listed_from"), (1, "name"), (1, "listed_to")} <= faults
        assert ledger.reference_rows("restricted-parties") == before  # none loaded


# -- the API ------------------------------------------------------------------


@pytest.mark.slow  # a real service process
def test_parties_and_import_through_the_api(tmp_path):
    from tests.test_api_support import LiveServer

    env = {
        "CHIP_LEDGER_API_KEYS": "adm:admin,rd:read,in:ingest",
        "CHIP_LEDGER_PARTY_MATCH_THRESHOLD": "95",
    }
    server = LiveServer(tmp_path / "api", env).wait_ready()
    client = server.client
    admin, reader = {"Authorization": "Bearer adm"}, {"Authorization": "Bearer rd"}
    try:
        body = json.dumps(CSL_JSON).encode()
        url = "/v1/reference/restricted-parties/import"
        json_type = {"Content-Type": "application/json"}
        assert client.post(url, content=body, headers={**reader, **json_type}).status_code == 403
        r = client.post(url, content=body, headers={**admin, **json_type})
        assert r.status_code == 200 and r.json()["rows_loaded"] == 3, r.text
        r = client.post(url, content=CSL_CSV.encode(),
                        headers={**admin, "Content-Type": "text/csv"})  # fmt: skip
        assert r.status_code == 200 and r.json()["rows_loaded"] == 2, r.text
        r = client.post(url, content=b"name\n", headers={**admin, "Content-Type": "text/plain"})
        assert r.status_code == 415
        got = client.get("/v1/reference/restricted-parties", headers=reader).json()["rows"]
        assert {"abc123", "e5a9", "sdn-1"} <= {r["party_id"] for r in got}
        parties = client.get("/v1/parties", headers=reader)
        assert parties.status_code == 200, parties.text
        answer = parties.json()
        assert answer["threshold"] == 95 and answer["listings"] == len(got)
        huawei = [p for p in answer["parties"] if p["name"] == "Huawei"]
        assert huawei and huawei[0]["matched"] and huawei[0]["kind"] == "supplier"
        line = _line("PO-1", "2025-04-01", "Huawei").replace("H200", "Ascend 910B")
        feed = "\n".join([HEADER, line]).encode()
        r = client.post("/v1/orders", content=feed,
                        headers={"Authorization": "Bearer in", "Content-Type": "text/csv"})  # fmt: skip
        assert r.status_code in (200, 201), r.text
        flagged = client.get("/v1/compliance", params={"rule": "restricted_party"},
                             headers=reader).json()  # fmt: skip
        assert [x["order_id"] for x in flagged["lines"]] == ["PO-1"]
        assert "Huawei Technologies" in flagged["lines"][0]["reason"]
    finally:
        server.stop()
