"""The `chip-ledger` command line: the same use cases as the API."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ledger.domain.errors import LedgerError

DEFAULT_DB = "chip-ledger.duckdb"
err = Console(stderr=True)
out = Console()


def db_path(args) -> str:
    return args.db or os.environ.get("CHIP_LEDGER_DB") or DEFAULT_DB


def open_ledger(path: str, snapshot_dir: str | None = None):
    from ledger.ledger import Ledger
    from ledger.store.store import Store

    return Ledger(Store(path, snapshot_dir=snapshot_dir))


def cmd_init(args) -> int:
    from ledger import reference

    ledger = open_ledger(db_path(args))
    loaded = reference.load_pack(ledger.store)
    err.print(f"[green]ledger ready[/] at {db_path(args)}; reference pack loaded: {loaded}")
    err.print("next: load entities, fx-rates and budgets with `chip-ledger reference load`")
    return 0


def cmd_demo(args) -> int:
    from ledger import demo

    path = db_path(args)
    ledger = open_ledger(path)
    if ledger.store.count("line_entries"):
        err.print(f"[yellow]{path} already holds entries[/]; the demo needs an empty ledger")
        return 1
    started = time.perf_counter()
    with Progress(
        TextColumn("demo ledger"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err,
    ) as progress:  # fmt: skip
        task = progress.add_task("lines", total=args.lines)
        result = demo.build(
            ledger, args.lines, batch_lines=args.batch_lines, feeds_dir=args.feeds_dir,
            progress=lambda k: progress.advance(task, k),
        )  # fmt: skip
    ledger.store.close()
    took = time.perf_counter() - started
    size_mb = Path(path).stat().st_size / 1e6
    err.print(
        f"[green]demo ledger[/] {path}: {result.lines:,} lines, {result.entries:,} entries, "
        f"{result.feeds} feeds in {took:.1f} s; {size_mb:.1f} MB on disk"
    )
    if result.files:
        err.print(f"sample feeds to try ingest by hand: {args.feeds_dir}/")
    return 0


def cmd_ingest(args) -> int:
    from ledger.domain.feeds import format_of_path

    ledger = open_ledger(db_path(args))
    status = 0
    for name in args.files:
        fmt = args.format or format_of_path(name)
        data = Path(name).read_bytes()
        try:
            result = ledger.ingest_bytes(data, fmt, feed_id=args.feed_id)
        except LedgerError as e:
            _print_error(e, name)
            status = 1
            continue
        word = "already in the ledger" if result.replay else "accepted"
        out.print_json(json.dumps({"file": name, "result": word, **result.answer}))
    return status


def cmd_reference_load(args) -> int:
    from ledger import reference

    ledger = open_ledger(db_path(args))
    fmt = args.format or ("csv" if args.file.lower().endswith(".csv") else "json")
    n = reference.load(ledger.store, args.table, Path(args.file).read_bytes(), fmt)
    err.print(f"[green]{n}[/] {args.table} rows loaded")
    return 0


def cmd_reference_show(args) -> int:
    from ledger import reference

    ledger = open_ledger(db_path(args))
    out.print_json(json.dumps(reference.as_rows(ledger.store, args.table), default=str))
    return 0


def cmd_sql(args) -> int:
    ledger = open_ledger(db_path(args))
    table, truncated = ledger.store.read_only_sql(args.query, max_rows=args.max_rows)
    _print_table(table, args.format)
    if truncated:
        err.print(f"[yellow]truncated at {args.max_rows} rows[/]")
    return 0


def cmd_snapshot(args) -> int:
    target = Path(args.dir).resolve()
    ledger = open_ledger(db_path(args), snapshot_dir=str(target))
    written = ledger.store.snapshot(target)
    out.print_json(json.dumps(written))
    return 0


def cmd_serve(args) -> int:
    from api.main import serve

    return serve(
        db=db_path(args), host=args.host, port=args.port, demo=args.demo, demo_lines=args.lines
    )


def cmd_bench(args) -> int:
    from bench import suite

    # the global --db names a ledger to benchmark (copied, never written); else a demo one
    suite.run(args, fallback_db=args.db)
    return 0


def _print_table(table, fmt: str) -> None:
    if fmt == "csv":
        import pyarrow.csv as pacsv

        sink = sys.stdout.buffer
        pacsv.write_csv(table, sink)
        return
    if fmt == "json":
        out.print_json(json.dumps(table.to_pylist(), default=str))
        return
    t = Table(*table.column_names)
    for row in table.to_pylist():
        t.add_row(*["" if v is None else str(v) for v in row.values()])
    out.print(t)


def _print_error(e: LedgerError, where: str = "") -> None:
    err.print(f"[red]{e.title}[/]{' in ' + where if where else ''}: {e.detail}")
    for fault in e.errors:
        where_row = "header" if fault.row is None else f"row {fault.row}"
        err.print(f"  {where_row}, field {fault.field}: {fault.message}")
    if e.error_count > len(e.errors):
        err.print(f"  ... and {e.error_count - len(e.errors)} more")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chip-ledger", description=__doc__)
    p.add_argument("--db", help=f"ledger file (default $CHIP_LEDGER_DB or ./{DEFAULT_DB})")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="an empty ledger with the shipped reference pack").set_defaults(
        func=cmd_init
    )
    d = sub.add_parser("demo", help="build the seeded demo ledger")
    d.add_argument("--lines", type=int, default=1_000_000)
    d.add_argument("--batch-lines", type=int, default=1_000_000)
    d.add_argument("--feeds-dir", default="demo-feeds", help="where sample feeds are written")
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("ingest", help="ingest feed files (all or nothing, each)")
    i.add_argument("files", nargs="+")
    i.add_argument("--format", choices=["json", "ndjson", "csv", "arrow", "parquet"])
    i.add_argument("--feed-id", help="idempotency key (default: content hash)")
    i.set_defaults(func=cmd_ingest)

    r = sub.add_parser("reference", help="reference tables")
    rsub = r.add_subparsers(dest="action", required=True)
    rl = rsub.add_parser("load", help="load rows; same key replaces")
    rl.add_argument("table")
    rl.add_argument("file")
    rl.add_argument("--format", choices=["json", "csv"])
    rl.set_defaults(func=cmd_reference_load)
    rs = rsub.add_parser("show", help="print a reference table as JSON")
    rs.add_argument("table")
    rs.set_defaults(func=cmd_reference_show)

    s = sub.add_parser("sql", help="one read-only SQL statement")
    s.add_argument("query")
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.add_argument("--max-rows", type=int, default=1000)
    s.set_defaults(func=cmd_sql)

    sn = sub.add_parser("snapshot", help="Parquet files + a DuckDB copy in DIR")
    sn.add_argument("dir")
    sn.set_defaults(func=cmd_snapshot)

    sv = sub.add_parser("serve", help="run the HTTP service")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--demo", action="store_true", help="build the demo ledger if it is empty")
    sv.add_argument("--lines", type=int, default=1_000_000, help="demo lines")
    sv.set_defaults(func=cmd_serve)

    from bench import suite

    bn = sub.add_parser(
        "bench", help="throughput benchmarks against DuckDB SQL, polars and the read floor",
        description=suite.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    suite.add_arguments(bn)
    bn.set_defaults(func=cmd_bench)

    from cli import reports as report_cli

    report_cli.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LedgerError as e:
        _print_error(e)
        return 2
    except FileNotFoundError as e:
        err.print(f"[red]no such file[/]: {e.filename}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
