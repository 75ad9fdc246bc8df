"""Spreadsheet export: an XLSX (and CSV) of a page of compliance lines from a demo ledger,
its size and its time (wall and CPU), as `GET /v1/compliance` with an XLSX Accept writes it.

    python -m bench.export --lines 200000 --page 10000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from api.export import csv_bytes, sheets, xlsx_bytes
from ledger import demo
from ledger.ledger import Ledger


def measure(answer: dict, repeats: int = 3) -> dict:
    out: dict = {"lines": len(answer["lines"])}
    for form, encode in (("xlsx", lambda: xlsx_bytes(sheets("compliance", answer))),
                         ("csv", lambda: csv_bytes(sheets("compliance", answer)[0]))):  # fmt: skip
        walls, cpus = [], []
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            body = encode()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        out[form] = {"bytes": len(body), "wall_s_min": min(walls), "cpu_s_min": min(cpus)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lines", type=int, default=200_000, help="demo ledger lines")
    p.add_argument("--page", type=int, default=10_000, help="compliance lines exported")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, Ledger.open(Path(tmp) / "l.duckdb") as ledger:
        demo.build(ledger, args.lines)
        answer = ledger.compliance(limit=args.page)
        print(json.dumps({"flagged_total": answer["total"], **measure(answer)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
