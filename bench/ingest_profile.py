"""Where an ingest's time goes: each stage of the write path, timed in process.

    python -m bench.ingest_profile --lines 100000,1000000 --formats json,csv,arrow

A fresh ledger on a tmp file (the demo's reference data and, with `--base-lines`, that
many demo lines first, so the key index and budgets are not empty), then per format one
feed of each size made of the bench's own generated lines (`bench.ingest.batches`). Each
stage of `ledger.write.ingest` is wrapped with a perf_counter split; `--cprofile` also
prints the top functions by cumulative time. Splits are of one feed each, after one
untimed warm-up feed per format (imports, kernel compiles): run it twice on a noisy box.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench import ingest as bench_ingest
from ledger import demo, write
from ledger import ledger as ledger_module
from ledger.domain import feeds
from ledger.ledger import Ledger
from ledger.resident.columns import ResidentColumns
from ledger.resident.keys import KeyIndex
from ledger.store.store import Store

SPLITS: dict[str, float] = defaultdict(float)

# (module or class, attribute, stage name): the write path's stages, in order
STAGES = [
    (ledger_module, "read_feed", "read (bytes -> raw table)"),
    (write.hashlib, "sha256", "sha256 of the content"),
    (write.cancellations, "key_only_rows", "cancellations scan"),
    (write, "validate", "validate"),
    (Store, "feed_by_id", "feed_by_id (replay check)"),
    (Store, "counters", "counters"),
    (Store, "key_hashes", "key hashes (DuckDB)"),
    (KeyIndex, "contains", "key index lookup"),
    (Store, "current_entries", "current entries (DuckDB)"),
    (write, "plan_revisions", "plan revisions"),
    (write, "build_entries", "build entries"),
    (write.guard, "check", "budget guard"),
    (write, "feed_answer", "feed answer"),
    (Store, "append", "store.append (DuckDB insert + commit)"),
    (ResidentColumns, "extend", "resident extend"),
    (KeyIndex, "add", "key index add"),
]


def _timed(fn, name: str):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPLITS[name] += time.perf_counter() - started

    return wrapper


def instrument() -> None:
    for owner, attr, name in STAGES:
        setattr(owner, attr, _timed(getattr(owner, attr), name))


def feed_bytes(fmt: str, table) -> bytes:
    if fmt == "arrow":
        return write.table_bytes(table)
    if fmt == "csv":
        return bench_ingest.csv_bytes(table)
    return bench_ingest.json_bytes(table)


def profile_one(ledger: Ledger, data: bytes, fmt: str, feed_id: str, use_cprofile: bool) -> dict:
    SPLITS.clear()
    prof = cProfile.Profile() if use_cprofile else None
    started = time.perf_counter()
    if prof is not None:
        prof.enable()
    result = ledger.ingest_bytes(data, fmt, feed_id=feed_id)
    if prof is not None:
        prof.disable()
    total_s = time.perf_counter() - started
    assert not result.replay and result.answer["lines_accepted"] > 0, result.answer
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    return {"total_s": total_s, "splits": dict(SPLITS), "lines": result.answer["lines_accepted"]}


def report(fmt: str, n: int, nbytes: int, out: dict) -> None:
    total = out["total_s"]
    print(f"\n== {fmt}, {n:,} lines, {nbytes / 1e6:.1f} MB: {total * 1000:,.0f} ms "
          f"({n / total / 1000:,.0f} k lines/s)")  # fmt: skip
    # read_feed includes nothing else; store.append etc. are disjoint: the rest is glue
    accounted = sum(out["splits"].values())
    for name, s in sorted(out["splits"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<40} {s * 1000:9.1f} ms  {100 * s / total:5.1f}%")
    print(f"  {'(not in a stage)':<40} {(total - accounted) * 1000:9.1f} ms")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", default="100000,1000000")
    p.add_argument("--formats", default="json,csv,arrow")
    p.add_argument("--base-lines", type=int, default=0, help="demo lines ingested first")
    p.add_argument("--cprofile", action="store_true")
    p.add_argument("--http", action="store_true",
                   help="also POST the same sizes to the service (its own process)")  # fmt: skip
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.lines.split(",")]
    formats = args.formats.split(",")
    instrument()
    from kernels import dispatch

    dispatch.warm_up()  # compiled (or loaded from the cache) before any split counts
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger.open(Path(tmp) / "profile.duckdb")
        demo.load_reference(ledger)
        if args.base_lines:
            for i, t in enumerate(demo.generate(args.base_lines, 1_000_000)):
                ledger.ingest_table(t, feed_id=f"base-{i}")
        price_lines = 1000 * max(args.base_lines, 1_000_000)
        for fmt in formats:
            warm = bench_ingest.one_batch(10**6 + formats.index(fmt), 1000, price_lines)
            ledger.ingest_bytes(feed_bytes(fmt, warm), fmt, feed_id=f"warm-{fmt}")
        for k, n in enumerate(sizes):
            for fmt in formats:
                # lines far from the bench's own batches and from each other
                index = (10**7 + 10 * k + formats.index(fmt)) * 10**6 // n
                table = bench_ingest.one_batch(index, n, price_lines)
                data = feed_bytes(fmt, table)
                out = profile_one(ledger, data, fmt, f"profile-{fmt}-{n}-{k}", args.cprofile)
                report(fmt, n, len(data), out)
        ledger.close()
        if args.http:
            http_rounds(Path(tmp) / "profile.duckdb", sizes, formats, price_lines)


def http_rounds(db: Path, sizes: list[int], formats: list[str], price_lines: int) -> None:
    """POST /v1/orders of each size and format to `chip-ledger serve` on this ledger file."""
    import httpx

    from bench.service import Service
    from ledger.domain.feeds import FORMATS

    service = Service(db, db.with_suffix(".log"))
    service.start()
    try:
        with httpx.Client(timeout=600) as client:
            # a fresh process builds its key index and committed totals on its first feed
            warm = write.table_bytes(bench_ingest.one_batch(3 * 10**6, 1000, price_lines))
            answer = client.post(service.url + "/v1/orders", content=warm, headers={
                "Content-Type": FORMATS["arrow"], "Idempotency-Key": "http-warm"})  # fmt: skip
            assert answer.status_code == 201, answer.text[:300]
            for k, n in enumerate(sizes):
                for fmt in formats:
                    index = (2 * 10**7 + 10 * k + formats.index(fmt)) * 10**6 // n
                    data = feed_bytes(fmt, bench_ingest.one_batch(index, n, price_lines))
                    started = time.perf_counter()
                    answer = client.post(
                        service.url + "/v1/orders",
                        content=data,
                        headers={
                            "Content-Type": FORMATS[fmt],
                            "Idempotency-Key": f"http-{fmt}-{n}-{k}",
                        },
                    )
                    took = time.perf_counter() - started
                    assert answer.status_code == 201, answer.text[:300]
                    print(f"HTTP {fmt:6s} {n:>9,} lines {len(data) / 1e6:7.1f} MB: "
                          f"{took * 1000:8.0f} ms ({n / took / 1000:,.0f} k lines/s)")  # fmt: skip
    finally:
        service.stop()


if __name__ == "__main__":
    assert feeds.read_feed is ledger_module.read_feed
    main()
