"""kill -9 at random moments: every acknowledged feed is there whole, none in part."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ledger.store.store import Store

CHILD = r"""
import sys, json
from ledger.ledger import Ledger
from ledger import demo

db, start, ack_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ledger = Ledger.open(db)
if ledger.store.count("entities") == 0:
    demo.load_reference(ledger)
    # feeds keep coming until the kill: the demo's stop budget would refuse them
    budgets = [dict(b, action="warn") for b in ledger.reference_rows("budgets")]
    ledger.load_reference("budgets", json.dumps(budgets).encode(), "json")
k = start
with open(ack_path, "a") as ack:
    while True:
        table = next(demo.generate(2000, 2000, start_line=k * 2000))
        result = ledger.ingest_table(table, feed_id=f"feed-{k}")
        # acknowledged only after the commit returned
        ack.write(json.dumps({"feed_id": f"feed-{k}", "entries": result.answer["entries_appended"]}) + "\n")
        ack.flush()
        k += 1
"""


def test_kill9_loses_no_acknowledged_feed_and_leaves_no_partial_feed(tmp_path):
    db = str(tmp_path / "ledger.duckdb")
    ack_path = tmp_path / "acks.ndjson"
    script = tmp_path / "child.py"
    script.write_text("import os\n" + CHILD)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    rng = random.Random(9)
    next_feed = 0
    for _ in range(4):
        log = tmp_path / "child.log"
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, str(script), db, str(next_feed), str(ack_path)],
                env=env, stdout=subprocess.DEVNULL, stderr=log_file,
            )  # fmt: skip
        # let it reach the ingest loop (reference load, imports), then kill at a random moment
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            acks = ack_path.read_text().splitlines() if ack_path.exists() else []
            if len(acks) > next_feed:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        assert proc.poll() is None, log.read_text()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

        acked = [json.loads(line) for line in ack_path.read_text().splitlines()]
        store = Store(db)  # the file opens after every kill
        feeds = dict(
            [
                (r["feed_id"], r["entries"])
                for r in store.query("SELECT feed_id, entries FROM feeds").to_pylist()
            ]
        )
        for a in acked:
            assert a["feed_id"] in feeds, f"acknowledged {a['feed_id']} lost"
        # no feed in part: each feed's entries are all there, and no entry lacks its feed
        per_feed = {
            r["feed_seq"]: r["n"]
            for r in store.query(
                "SELECT feed_seq, count(*) AS n FROM line_entries GROUP BY 1"
            ).to_pylist()
        }
        logged = {
            r["seq"]: r["entries"]
            for r in store.query("SELECT seq, entries FROM feeds").to_pylist()
        }
        assert per_feed == {s: n for s, n in logged.items() if n}
        assert store.count("line_entries") == sum(logged.values())
        # entry_seq stays dense after recovery
        assert store.counters()[0] == store.count("line_entries")
        next_feed = len(feeds)
        store.close()
    assert next_feed >= 4
