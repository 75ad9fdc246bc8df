"""`init --upgrade`, POST /v1/reference/upgrade, Ledger.upgrade_pack: shipped rows follow the
pack, rows of the user's own keys are never touched, and the listing says what changed."""

from __future__ import annotations

import json

import pytest

from ledger.ledger import Ledger

USER_CHIP = [{"chip_model": "X1 (ours)", "vendor": "In-house", "origin_country": "SG",
              "tpp": "100", "die_area_mm2": "50", "source": "our own test board"}]  # fmt: skip
USER_RULE = [{"rule_id": "OURS-1", "kind": "product_caution", "effective_from": "2025-01-01",
              "params": {"origins": ["SG"], "products": ["X1 (ours)"]},
              "source": "our own policy"}]  # fmt: skip


def _age(ledger: Ledger) -> None:
    """Make the ledger look seeded by an older pack: a changed figure, missing rows, and a
    rule text since amended; plus rows of the user's own keys."""
    con = ledger.store._con
    con.execute("UPDATE chips SET tpp = 1, source = 'old' WHERE chip_model = 'H20'")
    con.execute("DELETE FROM chips WHERE chip_model = 'B200'")
    con.execute("DELETE FROM export_rules WHERE rule_id = 'US-AC-CASEBYCASE-2026'")
    con.execute("UPDATE suppliers SET hq_country = 'MY' WHERE supplier = 'Equinix'")
    ledger.load_reference("chips", json.dumps(USER_CHIP).encode(), "json")
    ledger.load_reference("export-rules", json.dumps(USER_RULE).encode(), "json")


def _row(ledger: Ledger, table: str, column: str, key: str) -> dict:
    return next(r for r in ledger.reference_rows(table) if r[column] == key)


@pytest.fixture
def aged(ledger):
    _age(ledger)
    return ledger


def test_dry_run_lists_and_writes_nothing(aged):
    before = aged.store.content_hash(), aged.reference_rows("chips")
    listing = aged.upgrade_pack(dry_run=True)
    assert listing["chips"]["added"] == ["B200"]
    assert listing["chips"]["changed"] == [{"key": "H20", "fields": ["tpp", "source"]}]
    assert listing["chips"]["kept"] == 1
    assert listing["suppliers"]["changed"] == [{"key": "Equinix", "fields": ["hq_country"]}]
    assert listing["export-rules"]["added"] == ["US-AC-CASEBYCASE-2026"]
    assert listing["export-rules"]["kept"] == 1
    assert (aged.store.content_hash(), aged.reference_rows("chips")) == before


def test_upgrade_updates_shipped_rows_and_never_touches_user_rows(aged):
    user_chip, user_rule = (
        _row(aged, "chips", "chip_model", "X1 (ours)"),
        _row(aged, "export-rules", "rule_id", "OURS-1"),
    )
    listing = aged.upgrade_pack()
    n_chips = len(aged.reference_rows("chips"))
    assert listing["chips"]["unchanged"] == n_chips - 1 - 2  # less the user's, B200, H20
    assert _row(aged, "chips", "chip_model", "H20")["tpp"] == 2368
    assert _row(aged, "chips", "chip_model", "B200")["vendor"] == "Nvidia"
    assert _row(aged, "suppliers", "supplier", "Equinix")["hq_country"] == "US"
    assert _row(aged, "chips", "chip_model", "X1 (ours)") == user_chip
    assert _row(aged, "export-rules", "rule_id", "OURS-1") == user_rule
    # the resident lookups follow: the screen and sourcing read the new figure
    h20 = aged.cols.dicts["chip_model"].index["H20"]
    assert aged.cols.lookups.chip_tpp[h20] == 2368
    again = aged.upgrade_pack()
    assert all(not t["added"] and not t["changed"] for t in again.values())
    assert again["chips"]["unchanged"] == n_chips - 1


def test_a_fresh_ledger_is_current(ledger):
    listing = ledger.upgrade_pack(dry_run=True)
    assert all(not t["added"] and not t["changed"] and t["kept"] == 0 for t in listing.values())
    assert set(listing) == {"chips", "suppliers", "export-rules", "restricted-parties"}


def test_cli_init_upgrade(db_path, capsys):
    from cli.main import main

    assert main(["--db", db_path, "init"]) == 0
    assert "ledger ready" in capsys.readouterr().err
    with Ledger.open(db_path) as ledger:
        _age(ledger)
    assert main(["--db", db_path, "init"]) == 0  # an existing ledger: left as it is
    assert "nothing changed" in capsys.readouterr().err
    with Ledger.open(db_path) as ledger:
        assert _row(ledger, "chips", "chip_model", "H20")["tpp"] == 1
    assert main(["--db", db_path, "init", "--upgrade"]) == 0
    captured = capsys.readouterr()
    listing = json.loads(captured.out)
    assert listing["chips"]["added"] == ["B200"]
    assert "chips: 1 added, 1 changed" in captured.err
    with Ledger.open(db_path) as ledger:
        assert _row(ledger, "chips", "chip_model", "H20")["tpp"] == 2368
        assert _row(ledger, "chips", "chip_model", "X1 (ours)")["tpp"] == 100


def test_admin_route(tmp_path, monkeypatch):
    import asyncio

    import httpx

    from api.main import create_app, open_ledger
    from api.settings import Settings

    monkeypatch.delenv("CHIP_LEDGER_API_KEYS", raising=False)
    settings = Settings(db=str(tmp_path / "t.duckdb"))
    app = create_app(settings)
    app.state.ledger = open_ledger(settings)
    _age(app.state.ledger)

    async def post(params: dict) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            return await c.post("/v1/reference/upgrade", params=params)

    try:
        dry = asyncio.run(post({"dry_run": "true"}))
        assert dry.status_code == 200, dry.text
        assert dry.json()["dry_run"] and dry.json()["tables"]["chips"]["added"] == ["B200"]
        done = asyncio.run(post({})).json()
        assert done["tables"]["chips"]["changed"][0]["key"] == "H20"
        assert asyncio.run(post({})).json()["tables"]["chips"]["added"] == []
    finally:
        app.state.ledger.store.close()
