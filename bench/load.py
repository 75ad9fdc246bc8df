"""Load: ingest clients and readers together against the real service, for a fixed time.

`python -m bench.load --db LEDGER [--writers 8 --readers 32 --seconds 60]` copies
the ledger, serves the copy on loopback, and runs `writers` threads that each send
feeds (with Idempotency-Key, retrying nothing: every feed must be accepted) and
`readers` threads that cycle through totals, budgets, sourcing and compliance.
Every feed carries its own budget code and a known number of lines, so a reader
asking for totals by budget code can tell whether it ever saw part of a feed:
each feed's code must show 0 lines (not yet committed) or all of them.
Writes a JSON result under bench/results/ (or --out) and prints p50/p99 per route.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.service import Service
from bench.timing import percentile

HEADER = (
    "order_id,line_no,revision,status,entity,order_date,supplier,chip_model,quantity,"
    "unit_price,currency,destination,budget_code,workload,acquisition,owner,operator,"
    "identity_reviewed,license_ref"
)
READ_PATHS = {
    "totals": "/v1/totals?by=entity,vendor&currency=USD",
    "budgets": "/v1/budgets",
    "sourcing": "/v1/sourcing",
    "compliance": "/v1/compliance?limit=50",
    "feed_visibility": "/v1/totals?by=budget_code&currency=USD",
}


def feed_csv(writer: int, k: int, lines: int) -> bytes:
    """A feed of `lines` new lines, tagged with its own budget code LOAD-w-k."""
    code = f"LOAD-{writer}-{k}"
    rows = [
        f"LOAD-{writer}-{k},{n},0,open,Group-SG,2026-06-01,Nvidia,H100,1,10,USD,SG,{code},"
        "training,purchase,,,false,"
        for n in range(1, lines + 1)
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


class Load:
    def __init__(self, url: str, lines_per_feed: int, deadline: float):
        self.url = url
        self.lines_per_feed = lines_per_feed
        self.deadline = deadline
        self.times: dict[str, list[float]] = {name: [] for name in [*READ_PATHS, "ingest"]}
        self.errors: list[str] = []
        self.partial: list[str] = []
        self.feeds = 0
        self.lock = threading.Lock()

    def _timed(self, route: str, call) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = call()
        except httpx.HTTPError as e:
            with self.lock:
                self.errors.append(f"{route}: {type(e).__name__}: {e}")
            return None
        ms = (time.perf_counter() - started) * 1000
        with self.lock:
            self.times[route].append(ms)
            if response.status_code >= 400:
                self.errors.append(f"{route}: {response.status_code} {response.text[:200]}")
        return response

    def writer(self, w: int) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as http:
            k = 0
            while time.monotonic() < self.deadline:
                body = feed_csv(w, k, self.lines_per_feed)
                headers = {"Content-Type": "text/csv", "Idempotency-Key": f"load-{w}-{k}"}
                response = self._timed(
                    "ingest",
                    lambda b=body, h=headers: http.post("/v1/orders", content=b, headers=h),
                )
                if response is not None and response.status_code == 201:
                    with self.lock:
                        self.feeds += 1
                k += 1

    def reader(self, r: int) -> None:
        names = list(READ_PATHS)
        with httpx.Client(base_url=self.url, timeout=120) as http:
            k = r
            while time.monotonic() < self.deadline:
                route = names[k % len(names)]
                response = self._timed(route, lambda p=READ_PATHS[route]: http.get(p))
                if route == "feed_visibility" and response is not None and response.is_success:
                    self._check_whole_feeds(response.json())
                k += 1

    def _check_whole_feeds(self, answer: dict) -> None:
        for row in answer["rows"]:
            code = row.get("budget_code", "")
            if code.startswith("LOAD-") and row["lines"] not in (0, self.lines_per_feed):
                with self.lock:
                    self.partial.append(f"{code}: {row['lines']} of {self.lines_per_feed}")


def run(db: Path, writers: int, readers: int, seconds: float, lines_per_feed: int,
        work: Path) -> dict:  # fmt: skip
    serve_db = work / "load.duckdb"
    shutil.copyfile(db, serve_db)
    if Path(str(db) + ".columns").exists():
        shutil.copytree(str(db) + ".columns", str(serve_db) + ".columns")
    with Service(serve_db, work / "service.log") as service:
        start_s = service.start()
        load = Load(service.url, lines_per_feed, time.monotonic() + seconds)
        threads = [threading.Thread(target=load.writer, args=(w,)) for w in range(writers)]
        threads += [threading.Thread(target=load.reader, args=(r,)) for r in range(readers)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        service.stop()
        peak = service.peak_rss
    routes = {
        name: {"requests": len(ts), "p50_ms": percentile(ts, 50), "p99_ms": percentile(ts, 99)}
        for name, ts in load.times.items()
        if ts
    }
    return {
        "machine": platform.node(), "date": dt.date.today().isoformat(),
        "cores": os.cpu_count(), "writers": writers, "readers": readers, "seconds": wall,
        "lines_per_feed": lines_per_feed, "feeds_accepted": load.feeds,
        "lines_per_s": load.feeds * lines_per_feed / wall, "errors": load.errors[:50],
        "error_count": len(load.errors), "partial_feeds_seen": load.partial[:50],
        "service_start_s": start_s, "service_peak_rss_bytes": peak, "routes": routes,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", required=True, help="a demo ledger (copied, never written)")
    p.add_argument("--writers", type=int, default=8)
    p.add_argument("--readers", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--lines-per-feed", type=int, default=1000)
    p.add_argument("--out", default="bench/results")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chip-ledger-load-") as work:
        result = run(Path(args.db), args.writers, args.readers, args.seconds,
                     args.lines_per_feed, Path(work))  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"load-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2))
    for name, r in result["routes"].items():
        print(f"{name:16} {r['requests']:6} requests  p50 {r['p50_ms']:8.1f} ms  "
              f"p99 {r['p99_ms']:8.1f} ms")  # fmt: skip
    print(f"{result['feeds_accepted']} feeds ({result['lines_per_s']:,.0f} lines/s), "
          f"{result['error_count']} errors, {len(result['partial_feeds_seen'])} partial views; "
          f"written {path}")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
