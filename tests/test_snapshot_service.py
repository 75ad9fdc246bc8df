"""Snapshots beside a running service (issue 12, item 5): POST /v1/snapshots (admin) while
feeds arrive, `chip-ledger snapshot` through the service that holds the file, and the
snapshot's Parquet files opened by polars and pandas."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from cli.main import main as cli_main
from ledger import service
from tests.conftest import GOLDEN_CSV, HEADER
from tests.test_api_support import LiveServer

pl = pytest.importorskip("polars")
pd = pytest.importorskip("pandas")

KEYS = {"admin": "adm-token", "read": "read-token", "ingest": "ing-token"}


def auth(scope: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[scope]}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("snapsvc")
    env = {
        "CHIP_LEDGER_SNAPSHOT_DIR": str(base / "snapshots"),
        "CHIP_LEDGER_API_KEYS": ",".join(f"{t}:{s}" for s, t in KEYS.items()),
    }
    s = LiveServer(base / "svc", env).wait_ready()
    r = s.post_feed(GOLDEN_CSV.encode(), "csv", **auth("ingest"))
    assert r.status_code == 201, r.text
    s.snapshots = base / "snapshots"
    yield s
    s.stop()


def snapshot(server, body: dict | None = None, scope: str = "admin"):
    return server.client.post("/v1/snapshots", json=body, headers=auth(scope))


def test_only_admin_inside_the_snapshot_folder(server, tmp_path):
    assert snapshot(server, {}, scope="read").status_code == 403
    assert snapshot(server, {}, scope="ingest").status_code == 403
    r = snapshot(server, {"dir": str(tmp_path / "elsewhere")})
    assert r.status_code == 403 and "outside" in r.json()["detail"]
    r = snapshot(server, {"dir": "../escape"})
    assert r.status_code == 403
    r = snapshot(server)  # no body: a new timestamped folder under the snapshot folder
    assert r.status_code == 201, r.text
    assert Path(r.json()["dir"]).parent == server.snapshots.resolve()
    r2 = snapshot(server, {"dir": Path(r.json()["dir"]).name})
    assert r2.status_code == 409  # never over an earlier snapshot


def test_parquet_opens_in_polars_and_pandas(server):
    r = snapshot(server, {"dir": "readable"})
    assert r.status_code == 201, r.text
    files = r.json()["files"]
    assert "DuckDB" in r.json()["manifest"]["opens_with"]
    sums = server.client.post(
        "/v1/sql", json={"sql": "SELECT count(*), sum(amount_minor)::BIGINT FROM line_entries"},
        headers=auth("read"),
    ).json()["rows"][0]  # fmt: skip
    entries_pl = pl.read_parquet(files["line_entries"])
    entries_pd = pd.read_parquet(files["line_entries"])
    assert entries_pl.height == len(entries_pd) == sums[0]
    assert entries_pl["amount_minor"].sum() == int(entries_pd["amount_minor"].sum()) == sums[1]
    assert "attributes" in entries_pl.columns
    assert str(entries_pd["order_date"].dtype).startswith(("object", "date", "datetime"))
    feeds = pl.read_parquet(files["feeds"])
    assert feeds["entries"].sum() == entries_pl.height


def test_consistent_while_feeds_arrive(server):
    stop = threading.Event()

    def feed_forever():
        i = 0
        while not stop.is_set():
            line = (f"SNAP-{i},1,0,open,ACME-CN,2025-02-01,Huawei,Ascend 910B,1,10.00,CNY,CN,"
                    "DOM-2025,inference,purchase,,,false,")  # fmt: skip
            server.post_feed(f"{HEADER}\n{line}\n".encode(), "csv", **auth("ingest"))
            i += 1

    writer = threading.Thread(target=feed_forever)
    writer.start()
    try:
        answers = [snapshot(server, {"dir": f"busy-{k}"}) for k in range(3)]
    finally:
        stop.set()
        writer.join()
    for r in answers:
        assert r.status_code == 201, r.text
        files = r.json()["files"]
        entries = pl.read_parquet(files["line_entries"])
        feeds = pl.read_parquet(files["feeds"])
        # every feed in the snapshot is there whole, and no entry without its feed
        assert feeds["entries"].sum() == entries.height
        assert set(entries["feed_seq"].unique().to_list()) <= set(feeds["seq"].to_list())
        assert r.json()["manifest"]["tables"]["line_entries"] == entries.height


def test_cli_snapshot_goes_through_the_service(server, monkeypatch, capsys):
    service.write_record(server.db, server.url)  # as `chip-ledger serve` does
    try:
        monkeypatch.setenv("CHIP_LEDGER_TOKEN", KEYS["admin"])
        target = server.snapshots / "from-cli"
        assert cli_main(["--db", str(server.db), "snapshot", str(target)]) == 0
        written = json.loads(capsys.readouterr().out)
        assert Path(written["line_entries"]).exists() and (target / "ledger.duckdb").exists()
        monkeypatch.setenv("CHIP_LEDGER_TOKEN", KEYS["read"])
        assert cli_main(["--db", str(server.db), "snapshot", str(target) + "-2"]) == 2
        assert "admin token" in capsys.readouterr().err
    finally:
        service.record_path(server.db).unlink()
