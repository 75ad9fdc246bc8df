"""An HTTP crash loop: a live server SIGKILLed at random moments while a client sends feeds.

The client sends each feed with an `Idempotency-Key` and retries it until it is
acknowledged (2xx), across kills and restarts; the test kills the server at
seeded random moments (after a random number of acknowledgements, then a random
pause, so kills land before, in and after commits) at least MIN_KILLS times. At
the end every feed is in the ledger exactly once and whole, no acknowledged feed
is lost, and `entry_seq` is dense. Bounded by counts (feeds, kills).

Each server is forked from a process that has imported the service once
(tests/fault_support.py `ServerZygote`), so a restart costs the ledger's open and
the app's start, not the interpreter's.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from ledger.ledger import Ledger
from tests.conftest import RATES, load_reference
from tests.fault_support import READY_TIMEOUT_S, ServerZygote, order_feed
from tests.reference import total_in

pytestmark = pytest.mark.slow

SEED = 20261201
MIN_KILLS = 20
N_FEEDS = 120  # more than MIN_KILLS cycles use up (each waits for <= 3 acks, then a pause)
LINES_PER_FEED = 40
MAX_PAUSE_S = 0.08  # the random pause before a kill: about one ingest


@dataclass
class Target:
    """The server the client should talk to (None while it is down)."""

    url: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class ClientLog:
    acked: dict[str, int] = field(default_factory=dict)  # feed id -> status of its 2xx
    interrupted: int = 0  # attempts cut by a kill (no answer)
    server_errors: list[tuple[str, int, str]] = field(default_factory=list)  # 5xx, retried
    fatal: list[tuple[str, int, str]] = field(default_factory=list)  # a 4xx: a bug
    done: threading.Event = field(default_factory=threading.Event)


def feeds() -> list[tuple[str, bytes]]:
    return [(f"feed-{k}", order_feed(f"CL-{k}", LINES_PER_FEED)) for k in range(N_FEEDS)]


def client(target: Target, log: ClientLog, stop: threading.Event) -> None:
    """Send every feed until it is acknowledged; never skip one."""
    with httpx.Client(timeout=60.0) as http:
        for feed_id, body in feeds():
            while feed_id not in log.acked and not stop.is_set():
                url = target.url
                if url is None:
                    time.sleep(0.005)
                    continue
                try:
                    r = http.post(
                        url + "/v1/orders", content=body,
                        headers={"Content-Type": "text/csv", "Idempotency-Key": feed_id},
                    )  # fmt: skip
                except httpx.TransportError:
                    log.interrupted += 1
                    continue
                if r.status_code in (200, 201):
                    log.acked[feed_id] = r.status_code
                elif r.status_code >= 500:
                    log.server_errors.append((feed_id, r.status_code, r.text[:300]))
                else:
                    log.fatal.append((feed_id, r.status_code, r.text[:300]))
                    stop.set()
    log.done.set()


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S  # a hang guard, not a speed check
    while not condition():
        assert time.monotonic() < deadline, f"stuck waiting for {what}"
        time.sleep(0.002)


def test_sigkill_loop_keeps_every_feed_exactly_once(tmp_path):
    db = tmp_path / "ledger.duckdb"
    with Ledger.open(db) as ledger:
        load_reference(ledger)
    rng = random.Random(SEED)
    target, log, stop = Target(), ClientLog(), threading.Event()
    thread = threading.Thread(target=client, args=(target, log, stop), daemon=True)
    zygote = ServerZygote(db)
    kills, starts, server = 0, 0, None
    thread.start()
    try:
        while True:
            starts += 1
            server = zygote.start(tmp_path / f"server-{starts}.log").wait_ready()
            target.url = server.url
            if kills == MIN_KILLS:
                break
            wanted = len(log.acked) + rng.randint(0, 3)
            _wait_for(lambda w=wanted: len(log.acked) >= w or log.done.is_set(), "acks")
            assert not log.done.is_set(), f"all {N_FEEDS} feeds in before {MIN_KILLS} kills"
            time.sleep(rng.uniform(0.0, MAX_PAUSE_S))
            server.kill()
            target.url = None
            kills += 1
        _wait_for(log.done.is_set, "the client to finish")
        totals = httpx.get(server.url + "/v1/totals", timeout=60.0).json()["total"]
        server.stop()
    finally:
        stop.set()
        target.url = None
        if server is not None:
            server.kill()
        zygote.close()
        thread.join(timeout=60)

    assert not log.fatal, log.fatal
    assert not log.server_errors, log.server_errors  # a kill is a dropped connection, not a 5xx
    all_ids = [f for f, _ in feeds()]
    assert sorted(log.acked) == sorted(all_ids)
    with Ledger.open(db) as ledger:
        _check_ledger(ledger, all_ids)
        usd = sum(total_in(body.decode(), "USD", RATES) for _, body in feeds())
        assert ledger.totals()["total"]["amount_minor"] == usd
    assert totals["lines"] == N_FEEDS * LINES_PER_FEED and totals["amount_minor"] == usd
    replays = sum(1 for s in log.acked.values() if s == 200)
    print(
        f"\ncrash loop: kills={kills} feeds={N_FEEDS} acknowledged={len(log.acked)} "
        f"interrupted_requests={log.interrupted} replayed_acks={replays} duplicates=0 losses=0 "
        f"server_starts={starts}"
    )


def _check_ledger(ledger: Ledger, all_ids: list[str]) -> None:
    store = ledger.store
    rows = store.query("SELECT feed_id, count(*) AS n FROM feeds GROUP BY 1").to_pylist()
    duplicates = [r for r in rows if r["n"] != 1]
    assert not duplicates, duplicates
    assert sorted(r["feed_id"] for r in rows) == sorted(all_ids)  # none lost, none extra
    # each feed whole: its own lines, all of them, under its own feed_seq
    whole = store.query(
        "SELECT f.feed_id, f.entries, count(e.entry_seq) AS n, "
        "count(DISTINCT e.order_id) AS orders, min(e.order_id) AS order_id "
        "FROM feeds f LEFT JOIN line_entries e ON e.feed_seq = f.seq GROUP BY ALL"
    ).to_pylist()
    for r in whole:
        assert r["entries"] == r["n"] == LINES_PER_FEED, r
        assert r["orders"] == 1 and r["order_id"] == "CL-" + r["feed_id"].split("-")[1], r
    count, top, distinct = (
        store.query(
            "SELECT count(*) AS n, max(entry_seq) + 1 AS top, count(DISTINCT entry_seq) AS d "
            "FROM line_entries"
        )
        .to_pylist()[0]
        .values()
    )
    assert count == top == distinct == len(all_ids) * LINES_PER_FEED == store.counters()[0]
