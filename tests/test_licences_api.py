"""The licence register through the CLI (local, and beside a running service) and the API:
the same answers as the library."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.ledger import Ledger
from tests.conftest import load_reference
from tests.test_licences import _feed, _licence, _line

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2025-06-30"
LICENCES = [
    _licence(max_quantity=5),
    _licence(licence_id="LIC-EUR", max_value="500", currency="EUR", warn_share="0.5"),
]
FEED = _feed(
    _line("PO-1", 1, "2025-05-01", 3, "10"),
    _line("PO-1", 2, "2025-05-02", 3, "10"),  # 6 > 5: exhausted
    _line("PO-1", 3, "2025-05-03", 1, "300", ref="LIC-EUR"),
    _line("PO-1", 4, "2025-05-03", 1, "1", ref="LIC-NONE"),
)


def cli(tmp_path: Path, db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIP_LEDGER_")}
    env.update(PYTHONPATH=str(ROOT), CHIP_LEDGER_DB=str(db), COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", *args], cwd=tmp_path, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prepared(tmp_path):
    """A ledger with licences (loaded through the CLI) and lines; the library's answers."""
    db = tmp_path / "ledger.duckdb"
    with Ledger.open(db) as ledger:
        load_reference(ledger)
    (tmp_path / "licences.json").write_text(json.dumps(LICENCES))
    cli(tmp_path, db, "reference", "load", "licences", str(tmp_path / "licences.json"))
    with Ledger.open(db) as ledger:
        ledger.ingest_bytes(FEED, "csv")
        import datetime as dt

        want = json.loads(json.dumps(ledger.licences(as_of=dt.date.fromisoformat(AS_OF))))
        compliance = json.loads(json.dumps(ledger.compliance(limit=100)))
    return db, want, compliance


def test_cli_answers_equal_the_library(prepared, tmp_path):
    db, want, _ = prepared
    states = {r["licence_id"]: r["state"] for r in want["rows"]}
    assert states == {"LIC-CN": "exhausted", "LIC-EUR": "warn"}
    got = json.loads(cli(tmp_path, db, "licences", "--as-of", AS_OF, "--format", "json").stdout)
    assert got == want
    csv_out = cli(tmp_path, db, "licences", "--as-of", AS_OF, "--format", "csv").stdout
    assert csv_out.splitlines()[0].startswith("licence_id,") and len(csv_out.splitlines()) == 3
    only = json.loads(
        cli(
            tmp_path, db, "licences", "--as-of", AS_OF, "--state", "warn", "--format", "json"
        ).stdout  # fmt: skip
    )
    assert [r["licence_id"] for r in only["rows"]] == ["LIC-EUR"]
    table = cli(tmp_path, db, "licences", "--as-of", AS_OF).stdout
    assert "LIC-CN" in table and "exhausted" in table


def test_api_and_cli_beside_the_service_equal_the_library(prepared, tmp_path):
    db, want, compliance = prepared
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIP_LEDGER_")}
    env["PYTHONPATH"] = str(ROOT)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--db", str(db), "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        record = Path(str(db) + ".serving.json")
        while not record.exists():
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        api = httpx.get(f"{base}/v1/licences", params={"as_of": AS_OF}, timeout=60).json()
        assert api == want
        assert httpx.get(f"{base}/v1/licences", params={"state": "bad"}).status_code == 422
        via_service = cli(tmp_path, db, "licences", "--as-of", AS_OF, "--format", "json")
        assert json.loads(via_service.stdout) == want
        lines = httpx.get(f"{base}/v1/compliance", params={"limit": 100}).json()["lines"]
        assert lines == compliance["lines"]
        evidence = {x["line_no"]: x["evidence"]["reason"] for x in lines
                    if x["order_id"] == "PO-1"}  # fmt: skip
        assert evidence == {2: "licence_exhausted", 4: "licence_not_on_file"}
        # a licence loaded through the API takes effect at once: LIC-NONE is now on file
        put = httpx.put(
            f"{base}/v1/reference/licences", content=json.dumps([_licence(licence_id="LIC-NONE")]),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert put.status_code == 200, put.text
        rows = httpx.get(f"{base}/v1/reference/licences").json()["rows"]
        assert {r["licence_id"] for r in rows} == {"LIC-CN", "LIC-EUR", "LIC-NONE"}
        lines = httpx.get(f"{base}/v1/compliance", params={"limit": 100}).json()["lines"]
        assert {x["line_no"] for x in lines if x["order_id"] == "PO-1"} == {2}
    finally:
        proc.terminate()
        proc.wait()
        log.close()
