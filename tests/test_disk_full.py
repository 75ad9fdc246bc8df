"""Disk full: a write the disk cannot take is a clear 507, leaves nothing, and ingest resumes.

The disk "fills" through RLIMIT_FSIZE in a child process (no root, no special
filesystem): files may not grow past a cap set just above their current size,
and SIGXFSZ is ignored, so DuckDB's write fails with EFBIG as on a full disk.
The cap is then lifted (space returns) in the same process, or the process dies
while the disk is still full and the ledger is reopened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from ledger.ledger import Ledger
from tests.conftest import RATES, load_reference
from tests.fault_support import ServerProcess, file_size_cap, order_feed
from tests.reference import total_in
from tests.test_api_support import DIGEST_SQL, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="RLIMIT_FSIZE is POSIX"),
]

SMALL, BIG = 20, 3000  # lines; a BIG feed needs far more WAL than the headroom below
HEADROOM_BYTES = 64 * 1024

CHILD = r"""
import json, os, resource, signal, sys
from pathlib import Path

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails (EFBIG), no kill
from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from tests.conftest import load_reference
from tests.fault_support import file_size_cap, order_feed

db = Path(sys.argv[1])
small, big, headroom = (int(a) for a in sys.argv[2:5])
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
out = {}


def full(name, data, feed_id):
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_cap(db, headroom), hard))
    before = ledger.store.content_hash()
    tries = []
    for _ in range(2):  # and again: still refused, still nothing written
        try:
            ledger.ingest_bytes(data, "csv", feed_id)
            tries.append(None)
        except LedgerError as e:
            tries.append(e.as_problem())
    out[name] = {"tries": tries, "unchanged": ledger.store.content_hash() == before,
                 "lines": ledger.totals()["total"]["lines"]}


ledger = Ledger.open(db)
load_reference(ledger)
ledger.ingest_bytes(order_feed("DF-0", small), "csv", "feed-0")
full("first", order_feed("DF-1", big), "feed-1")
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space returns
out["after_lift"] = ledger.ingest_bytes(order_feed("DF-1", big), "csv", "feed-1").answer
full("second", order_feed("DF-2", big), "feed-2")
print(json.dumps(out), flush=True)
os._exit(0)  # the process dies while the disk is still full: no close, no cache saved
"""


def _check_refusals(result: dict, lines_before: int) -> None:
    for problem in result["tries"]:
        assert problem is not None, "accepted past the file-size cap"
        assert problem["status"] == 507
        assert problem["type"].endswith("/insufficient-storage")
        assert "nothing was written" in problem["detail"]
    assert result["unchanged"]
    assert result["lines"] == lines_before  # the resident state did not move either


def test_a_full_disk_is_a_507_leaves_nothing_and_ingest_resumes(tmp_path):
    db = tmp_path / "ledger.duckdb"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), str(SMALL), str(BIG), str(HEADROOM_BYTES)],
        cwd=ROOT, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr.decode()[-3000:]
    out = json.loads(child.stdout.decode().splitlines()[-1])
    _check_refusals(out["first"], SMALL)
    assert out["after_lift"]["lines_accepted"] == BIG  # the same feed, once space returned
    _check_refusals(out["second"], SMALL + BIG)

    # reopened after dying while full: exactly the feeds acknowledged, each whole
    with Ledger.open(db) as ledger:
        store = ledger.store
        feeds = store.query("SELECT feed_id, entries FROM feeds ORDER BY seq").to_pylist()
        assert feeds == [
            {"feed_id": "feed-0", "entries": SMALL},
            {"feed_id": "feed-1", "entries": BIG},
        ]
        assert store.count("line_entries") == store.counters()[0] == SMALL + BIG
        usd = total_in(order_feed("DF-0", SMALL).decode(), "USD", RATES) + total_in(
            order_feed("DF-1", BIG).decode(), "USD", RATES
        )
        assert ledger.totals()["total"]["amount_minor"] == usd
        # and the refused feed goes in now
        assert (
            ledger.ingest_bytes(order_feed("DF-2", BIG), "csv", "feed-2").answer["entries_appended"]
            == BIG
        )
        assert store.count("line_entries") == SMALL + 2 * BIG


def test_the_api_answers_507_problem_and_resumes_when_space_returns(tmp_path):
    db = tmp_path / "ledger.duckdb"
    with Ledger.open(db) as ledger:
        load_reference(ledger)
    server = ServerProcess(db, tmp_path / "server.log").wait_ready()
    client = httpx.Client(base_url=server.url, timeout=120.0)
    headers = {"Content-Type": "text/csv"}
    try:

        def post(tag: str, n: int):
            return client.post(
                "/v1/orders", content=order_feed(tag, n),
                headers={**headers, "Idempotency-Key": f"feed-{tag}"},
            )  # fmt: skip

        assert post("0", SMALL).status_code == 201
        digest = client.post("/v1/sql", json={"sql": DIGEST_SQL}).json()["rows"]
        server.cap_file_size(file_size_cap(db, HEADROOM_BYTES))
        for _ in range(2):
            r = post("1", BIG)
            assert r.status_code == 507, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            body = r.json()
            assert body["type"].endswith("/insufficient-storage") and body["status"] == 507
        assert client.post("/v1/sql", json={"sql": DIGEST_SQL}).json()["rows"] == digest
        assert client.get("/v1/totals").json()["total"]["lines"] == SMALL

        server.lift_file_size()
        r = post("1", BIG)
        assert r.status_code == 201, r.text
        assert client.get("/v1/totals").json()["total"]["lines"] == SMALL + BIG

        server.cap_file_size(file_size_cap(db, HEADROOM_BYTES))
        assert post("2", BIG).status_code == 507
    finally:
        client.close()
        server.kill()  # dies while the disk is full
    with Ledger.open(db) as ledger:
        assert ledger.store.query("SELECT feed_id FROM feeds ORDER BY seq")[
            "feed_id"
        ].to_pylist() == ["feed-0", "feed-1"]
        assert ledger.store.count("line_entries") == SMALL + BIG
