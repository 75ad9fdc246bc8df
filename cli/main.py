"""The `chip-ledger` command line: the same use cases as the API, through the same `Ledger`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cli import reports
from cli.common import DEFAULT_DB, db_path, open_ledger
from cli.output import err, out, print_problem, print_warnings, show_arrow
from ledger.domain.errors import LedgerError


def cmd_init(args) -> int:
    """A new ledger gets the shipped pack as it is created; an existing one is left as it is
    unless --upgrade, which brings its shipped rows up to date and lists what changed."""
    with open_ledger(args) as ledger:
        if ledger.store.created:
            err.print(f"[green]ledger ready[/] at {db_path(args)} with the shipped reference pack")
            err.print("next: load entities, fx-rates and budgets with `chip-ledger reference load`")
            return 0
        if not args.upgrade:
            err.print(
                f"{db_path(args)} is a ledger already; nothing changed. `chip-ledger init "
                "--upgrade` brings its shipped reference rows up to date (--dry-run to list only)"
            )
            return 0
        listing = ledger.upgrade_pack(dry_run=args.dry_run)
    out.print_json(json.dumps(listing))
    for table, change in listing.items():
        err.print(
            f"{table}: {len(change['added'])} added, {len(change['changed'])} changed, "
            f"{change['unchanged']} unchanged, {change['kept']} of your own kept"
            + (" (dry run: nothing written)" if args.dry_run else "")
        )
    return 0


def cmd_demo(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ledger import demo

    path = db_path(args)
    with open_ledger(args) as ledger:
        if ledger.entry_count():
            err.print(f"[yellow]{path} already holds entries[/]; the demo needs an empty ledger")
            return 1
        started = time.perf_counter()
        with Progress(
            TextColumn("demo ledger"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err.console(),
        ) as progress:  # fmt: skip
            task = progress.add_task("lines", total=args.lines)
            result = demo.build(
                ledger, args.lines, batch_lines=args.batch_lines, feeds_dir=args.feeds_dir,
                progress=lambda k: progress.advance(task, k),
            )  # fmt: skip
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

    status = 0
    with open_ledger(args) as ledger:
        for name in args.files:
            fmt = args.format or format_of_path(name)
            data = Path(name).read_bytes()
            try:
                result = ledger.ingest_bytes(data, fmt, feed_id=args.feed_id, mapping=args.mapping)
            except LedgerError as e:
                print_problem(e, name)
                status = 1
                continue
            word = "already in the ledger" if result.replay else "accepted"
            print_warnings(result.answer)
            out.print_json(json.dumps({"file": name, "result": word, **result.answer}))
    return status


def cmd_reference_load(args) -> int:
    fmt = args.format or ("csv" if args.file.lower().endswith(".csv") else "json")
    data = Path(args.file).read_bytes()
    with open_ledger(args) as ledger:
        n = ledger.load_reference(args.table, data, fmt)
    err.print(f"[green]{n}[/] {args.table} rows loaded")
    return 0


def cmd_reference_import(args) -> int:
    if args.table == "restricted-parties":
        return _import_parties(args)
    data = Path(args.file).read_bytes()
    with open_ledger(args) as ledger:
        summary = ledger.import_fx_rates(data, args.format or "ecb", args.base, args.source)
    err.print(
        f"[green]{summary['rows']}[/] fx-rates rows loaded ({summary['days']} days, "
        f"{len(summary['currencies'])} currencies against {summary['format_base']})"
    )
    if summary["skipped_columns"]:
        err.print(f"not loaded (not active ISO 4217): {', '.join(summary['skipped_columns'])}")
    if summary["skipped_day_count"]:
        err.print(f"not loaded (outside 2000-2099): {summary['skipped_day_count']} days")
    return 0


def _import_parties(args) -> int:
    fmt = args.format or ("csv" if args.file.lower().endswith(".csv") else "json")
    data = Path(args.file).read_bytes()
    with open_ledger(args) as ledger:
        n = ledger.import_restricted_parties(data, fmt, args.severity)
    err.print(f"[green]{n}[/] {args.table} listings imported")
    return 0


def cmd_parties(args) -> int:
    with open_ledger(args) as ledger:
        answer = ledger.parties()
    if not args.all:
        answer["parties"] = [p for p in answer["parties"] if p["matched"]]
    out.print_json(json.dumps(answer, default=str))
    return 0


def cmd_reference_show(args) -> int:
    with open_ledger(args) as ledger:
        out.print_json(json.dumps(ledger.reference_rows(args.table), default=str))
    return 0


def cmd_sql(args) -> int:
    import pyarrow as pa

    answer = reports.through_service(args, "sql")
    if answer is not None:
        table = pa.Table.from_pylist([dict(zip(answer["columns"], r, strict=True)) for r in
                                      answer["rows"]])  # fmt: skip
        truncated = answer.get("truncated", False)
    else:
        with open_ledger(args) as ledger:
            table, truncated = ledger.sql(args.query, max_rows=args.max_rows)
    show_arrow(table, args.format)
    if truncated:
        err.print(f"[yellow]truncated at {args.max_rows} rows[/]")
    return 0


def cmd_snapshot(args) -> int:
    from ledger import service

    target = Path(args.dir).resolve()
    record = service.read_record(db_path(args))
    if record is not None:  # the service holds the file: it writes the snapshot while serving
        from cli import remote

        written = remote.post_json(record, "/v1/snapshots", {"dir": str(target)})["files"]
    else:
        with open_ledger(args, snapshot_dir=str(target)) as ledger:
            written = ledger.snapshot(target)
    out.print_json(json.dumps(written))
    return 0


def cmd_serve(args) -> int:
    from api.main import serve

    return serve(
        db=db_path(args), host=args.host, port=args.port, demo=args.demo, demo_lines=args.lines
    )


def cmd_bench(args) -> int:
    from bench import suite

    # --db names a ledger to benchmark (copied, never written); else a demo one
    suite.run(args, fallback_db=getattr(args, "db", None))
    return 0


def cmd_docs(args) -> int:
    from cli import docs

    for path in docs.write(args.dir):
        err.print(f"written {path}")
    return 0


def _db_option(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """--db before or after the subcommand (SUPPRESS: a subcommand's absent --db keeps the
    top-level value)."""
    parser.add_argument(
        "--db", default=None if top else argparse.SUPPRESS,
        help=f"ledger file (default $CHIP_LEDGER_DB or ./{DEFAULT_DB})",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chip-ledger", description=__doc__)
    _db_option(p, top=True)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, func, help_text: str, db: bool = True, **kw) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_text, **kw)
        if db:  # bench has a --db of its own: the ledger to benchmark
            _db_option(c)
        c.set_defaults(func=func)
        return c

    ini = command("init", cmd_init, "an empty ledger with the shipped reference pack")
    ini.add_argument(
        "--upgrade", action="store_true",
        help="bring an existing ledger's shipped rows (chips, suppliers, export rules) up to "
        "date; rows of your own keys are never touched",
    )  # fmt: skip
    ini.add_argument("--dry-run", action="store_true", help="with --upgrade: list, write nothing")
    d = command("demo", cmd_demo, "build the seeded demo ledger")
    d.add_argument("--lines", type=int, default=1_000_000)
    d.add_argument("--batch-lines", type=int, default=1_000_000)
    d.add_argument("--feeds-dir", default="demo-feeds", help="where sample feeds are written")
    i = command("ingest", cmd_ingest, "ingest feed files (all or nothing, each)")
    i.add_argument("files", nargs="+")
    i.add_argument("--format", choices=["json", "ndjson", "csv", "arrow", "parquet"])
    i.add_argument("--feed-id", help="idempotency key (default: content hash)")
    i.add_argument("--mapping", help="a stored mapping profile that reads the file's columns")
    _reference_commands(sub)
    s = command("sql", cmd_sql, "one read-only SQL statement")
    s.add_argument("query")
    s.add_argument("--format", choices=["table", "csv", "json"], default="table")
    s.add_argument("--max-rows", type=int, default=1000)
    sn = command(
        "snapshot", cmd_snapshot,
        "Parquet files + a DuckDB copy in DIR (through a running service that holds the file: "
        "DIR must be inside its CHIP_LEDGER_SNAPSHOT_DIR; CHIP_LEDGER_TOKEN an admin token)",
    )  # fmt: skip
    sn.add_argument("dir")
    sv = command("serve", cmd_serve, "run the HTTP service")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--demo", action="store_true", help="build the demo ledger if it is empty")
    sv.add_argument("--lines", type=int, default=1_000_000, help="demo lines")
    from bench import suite

    bn = command(
        "bench", cmd_bench, "throughput benchmarks against DuckDB SQL, polars and the read floor",
        db=False, description=suite.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    suite.add_arguments(bn)
    reports.add_commands(command)
    dc = command(
        "docs", cmd_docs, "write the contract pages (line fields, tables, routes)", db=False
    )
    dc.add_argument("--dir", default="docs")
    return p


def _reference_commands(sub) -> None:
    r = sub.add_parser("reference", help="reference tables")
    rsub = r.add_subparsers(dest="action", required=True)
    rl = rsub.add_parser("load", help="load rows; same key replaces")
    _db_option(rl)
    rl.add_argument("table")
    rl.add_argument("file")
    rl.add_argument("--format", choices=["json", "csv"])
    rl.set_defaults(func=cmd_reference_load)
    ri = rsub.add_parser(
        "import", help="load a table as published: fx-rates (ECB or wide CSV), "
        "restricted-parties (US Consolidated Screening List JSON or CSV)",
    )  # fmt: skip
    _db_option(ri)
    ri.add_argument("table", choices=["fx-rates", "restricted-parties"])
    ri.add_argument("file")
    ri.add_argument(
        "--format",
        choices=["ecb", "wide", "json", "csv"],
        help="fx-rates: ecb (default) or wide; restricted-parties: json or csv",
    )
    ri.add_argument("--base", help="fx-rates: base currency of a wide file (the ECB's is EUR)")
    ri.add_argument("--source", help="fx-rates: where the rates come from (stored per row)")
    ri.add_argument(
        "--severity", choices=["violation", "warning"], help="restricted-parties: default per list"
    )
    ri.set_defaults(func=cmd_reference_import)
    rp = sub.add_parser("parties", help="restricted-party screening of every party (JSON)")
    _db_option(rp)
    rp.add_argument("--all", action="store_true", help="also the parties with no match")
    rp.set_defaults(func=cmd_parties)
    rs = rsub.add_parser("show", help="print a reference table as JSON")
    _db_option(rs)
    rs.add_argument("table")
    rs.set_defaults(func=cmd_reference_show)


def main(argv: list[str] | None = None) -> int:
    from ledger.store.store import LedgerLocked

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LedgerError as e:
        print_problem(e)
        return 2
    except LedgerLocked as e:
        err.print(reports.locked_message(db_path(args), str(e)), highlight=False, soft_wrap=True)
        return 3
    except FileNotFoundError as e:
        err.print(f"[red]no such file[/]: {e.filename}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
