"""`chip-ledger bench`: every benchmark, in one process, on one demo ledger.

    chip-ledger bench                 # 10M lines (built once, then reused), 5 runs
    chip-ledger bench --quick         # 1M lines, 3 runs
    chip-ledger bench --db FILE       # an existing ledger (never written: the run uses copies)

Phases, each method's answer checked equal to the kernel's before its time counts,
methods interleaved, median and min/max of the runs after a warm-up:
  1. reads in this process: roll-up with conversion (kernel, DuckDB SQL, polars, read floor),
     budget status, sourcing ratios, export screening (kernel use case vs DuckDB SQL);
  2. the real service in its own process (start-up with warm caches), the query path
     (use case in process vs /v1/totals over HTTP, 1 and 8 clients);
  3. ingest: in process and over HTTP, beside a raw DuckDB append of the same batches;
  4. kernel compile from an empty cache (fresh processes); memory.
Writes bench/results/<machine>-<date>.json and .md and redraws the plots there, nothing
else; `chip-ledger bench --update-readme` (or `python -m bench.report --readme`) then
regenerates the README's performance section from them (bench/report.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

SCALES = {"1M": 1_000_000, "10M": 10_000_000, "30M": 30_000_000}
SCHEMA_VERSION = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The bench options (shared by `chip-ledger bench` and `python -m bench.suite`)."""
    p.add_argument("--db", dest="bench_db", help="benchmark this ledger (copied, never written)")
    p.add_argument("--lines", type=int, help="demo ledger lines (default 10,000,000)")
    p.add_argument("--scale", choices=sorted(SCALES), help="demo ledger lines: 1M, 10M or 30M")
    p.add_argument("--quick", action="store_true", help="1M lines, 3 runs: a fast look")
    p.add_argument("--runs", type=int, help="timed runs per method (default 5; --quick 3)")
    p.add_argument("--data-dir", help="where built demo ledgers are kept for reuse "
                   "(default ~/.cache/chip-ledger)")  # fmt: skip
    p.add_argument("--work-dir", help="scratch folder for the copies (default: a temp folder)")
    p.add_argument("--out", default="bench/results", help="results folder")
    p.add_argument("--update-readme", action="store_true",
                   help="only regenerate the README's bench section from the results in --out "
                   "(a run writes under --out alone)")  # fmt: skip
    p.add_argument("--readme", default="README.md", help="the README --update-readme rewrites")
    p.add_argument("--ingest-batch-lines", type=int, default=100_000)
    p.add_argument(
        "--ingest-large-lines", type=int, default=1_000_000,
        help="then one feed this large per ingest method, timed once (0: skip)",
    )  # fmt: skip
    p.add_argument(
        "--http-requests", type=int, default=40, help="1-client requests (8 clients: twice as many)"
    )
    p.add_argument("--no-compile", action="store_true", help="skip the cold kernel compile")
    p.add_argument("--no-http", action="store_true", help="skip the service (HTTP) phases")
    p.add_argument("--no-polars", action="store_true", help="leave polars out")
    p.add_argument("--no-exact-sql", action="store_true",
                   help="leave out the all-128-bit SQL variant (slow)")  # fmt: skip
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-gpu", action="store_true", help="skip the GPU roll-up (run when CUDA is)")
    p.add_argument(
        "--gpu-lines", default="10000000,100000000", help="GPU roll-up sizes, comma-separated"
    )


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _copy_ledger(src: Path, dst: Path) -> None:
    """The ledger file, its WAL and its resident-column cache, when present."""
    shutil.copyfile(src, dst)
    for suffix in (".wal",):
        if Path(str(src) + suffix).exists():
            shutil.copyfile(str(src) + suffix, str(dst) + suffix)
    cache = Path(str(src) + ".columns")
    if cache.is_dir():
        shutil.copytree(cache, str(dst) + ".columns")


def demo_ledger(lines: int, data_dir: Path) -> Path:
    """A demo ledger of `lines` lines, built once and reused while complete."""
    from ledger import demo
    from ledger.ledger import Ledger
    from ledger.store.store import Store

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"bench-{lines}.duckdb"
    if path.exists():
        store = Store(path)
        # the demo files its licences after its last feed: both mark a finished build
        done = (
            store.cursor()
            .execute(
                "SELECT (SELECT count(*) FROM feeds WHERE feed_id = ?) * "
                "(SELECT count(*) FROM licences)",
                [f"demo-{lines}-amendments"],
            )
            .fetchall()[0][0]
        )
        store.close()
        if done:
            return path
        _say(f"{path} is incomplete: rebuilding")
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(str(path) + ".columns", ignore_errors=True)
    _say(f"building a {lines:,}-line demo ledger in {path}")
    started = time.perf_counter()
    with Ledger.open(path) as ledger:
        demo.build(ledger, lines)
    _say(f"built in {time.perf_counter() - started:.0f} s")
    return path


def _demo_lines(store) -> int | None:
    rows = (
        store.cursor()
        .execute("SELECT feed_id FROM feeds WHERE feed_id LIKE 'demo-%-amendments'")
        .fetchall()
    )
    try:
        return int(rows[0][0].split("-")[1]) if rows else None
    except ValueError:
        return None


def _versions() -> dict:
    import duckdb
    import numba
    import numpy
    import pyarrow

    out = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
    }
    try:
        import polars

        out["polars"] = polars.__version__
    except ImportError:
        pass
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(args: argparse.Namespace, fallback_db: str | None = None) -> dict:
    """The whole suite; returns the results and writes them under --out (and nowhere else:
    `--update-readme` regenerates the README's section, as a separate command)."""
    if getattr(args, "update_readme", False):
        return _update_readme(args)
    lines, runs, source = _plan(args, fallback_db)
    scratch, work = _work_dir(args)
    bench_db, serve_db = work / "bench.duckdb", work / "serve.duckdb"
    for p in (bench_db, serve_db, work / "raw-append.duckdb"):
        for q in (p, Path(str(p) + ".wal")):
            q.unlink(missing_ok=True)
        shutil.rmtree(str(p) + ".columns", ignore_errors=True)
    _copy_ledger(source, bench_db)
    _copy_ledger(source, serve_db)
    results = _header(source, runs, args)
    from bench.memory import busy_cpu_seconds, own_cpu_seconds

    busy0, own0, wall0 = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    try:
        _phases(results, args, runs, work, bench_db, serve_db)
    finally:
        if scratch is not None:
            scratch.cleanup()
    _other_load(results, busy0, own0, wall0)
    from bench import report

    results["targets"] = report.targets(results)
    _write(results, args)
    return results


def _plan(args: argparse.Namespace, fallback_db: str | None) -> tuple[int, int, Path]:
    """(demo lines, timed runs, the ledger to copy)."""
    lines = args.lines or (SCALES[args.scale] if args.scale else None)
    if lines is None:
        lines = 1_000_000 if args.quick else 10_000_000
    runs = args.runs or (3 if args.quick else 5)
    source_db = args.bench_db or fallback_db
    if source_db:
        source = Path(source_db)
        if not source.exists():
            raise FileNotFoundError(source_db)
        return lines, runs, source
    data_dir = Path(args.data_dir or Path.home() / ".cache" / "chip-ledger")
    return lines, runs, demo_ledger(lines, data_dir)


def _work_dir(args: argparse.Namespace) -> tuple[tempfile.TemporaryDirectory | None, Path]:
    if args.work_dir:
        work = Path(args.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        return None, work
    scratch = tempfile.TemporaryDirectory(prefix="chip-ledger-bench-")
    return scratch, Path(scratch.name)


def _header(source: Path, runs: int, args: argparse.Namespace) -> dict:
    return {
        "schema": SCHEMA_VERSION,
        "machine": platform.node() or "machine",
        "date": dt.date.today().isoformat(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "source": str(source),
        "runs": runs,
        "quick": bool(args.quick),
        "versions": _versions(),
        "load_average_before": list(os.getloadavg()),
    }


def _phases(results: dict, args, runs: int, work: Path, bench_db: Path, serve_db: Path) -> None:
    """1. reads in this process; 2. the service; 3. ingest; 4. start-up and memory."""
    from bench.memory import rss_bytes
    from ledger.ledger import Ledger

    rss_before = rss_bytes()
    ledger = Ledger.open(bench_db)
    started = time.perf_counter()
    q = ledger.reads
    load_s = time.perf_counter() - started
    rss_loaded = rss_bytes()
    service = None
    try:
        _reads_phase(results, args, runs, ledger, load_s)
        if not Path(str(serve_db) + ".columns").exists() and ledger.cache_dir is not None:
            shutil.copytree(ledger.cache_dir, str(serve_db) + ".columns")  # its warm start
        service, starts, phases, footprint = _service_phase(results, args, runs, ledger,
                                                            work, serve_db)  # fmt: skip
        results["startup"] = {
            "service_start_s": _seconds(starts) if starts else None,
            # where the start goes (the service's own log), and the imports alone
            "service_start_phases": phases,
            "service_imports_s": import_seconds(),
        }
        if not args.no_compile:
            from bench import rollup

            _say("kernel compile from an empty cache (fresh processes)")
            cold, cached = rollup.cold_compile_seconds()
            results["startup"].update(kernel_compile_cold_s=cold, kernel_load_cached_s=cached)
        results["memory"] = _memory(q, footprint, service, rss_before, rss_loaded, load_s)
        ledger.close()
    finally:
        if service is not None:
            service.stop()


def _reads_phase(results: dict, args, runs: int, ledger, load_s: float) -> None:
    from bench import gpu, rollup, usecases
    from kernels import dispatch

    q = ledger.reads
    n = q.cols.n
    cur = ledger.store.cursor()
    results.update(
        lines=n,
        demo_lines=_demo_lines(ledger.store),
        backend=dispatch.backend(),
        numba_threads=dispatch.threads(),
        numba_threading_layer=_threading_layer(),
        duckdb_threads=cur.execute("SELECT current_setting('threads')").fetchall()[0][0],
    )
    _say(f"{n:,} entries resident in {load_s:.1f} s ({q.cols.loaded_from}); {runs} runs")
    _say("roll-up: kernel, DuckDB SQL (equi-join, ASOF, 128-bit), polars, read floor")
    results["rollup"] = rollup.measure(
        q, cur, runs, polars=not args.no_polars, exact=not args.no_exact_sql
    )
    _say("budget status, sourcing ratios, export screening: use case vs DuckDB SQL")
    results.update(usecases.measure(q, cur, runs))
    if args.no_gpu:
        results["gpu"] = {"available": False, "reason": "--no-gpu"}
    elif results["backend"] != "cuda":
        results["gpu"] = {"available": False, "reason": "no CUDA device (see the log)"}
    else:
        _say("GPU: the roll-up on device-resident columns")
        sizes = tuple(int(x) for x in args.gpu_lines.split(",") if x.strip())
        results["gpu"] = {"available": True, **gpu.measure(q, runs, sizes)}


def _service_phase(results: dict, args, runs: int, ledger, work: Path, serve_db: Path):
    """The service's start, the query path and ingest; (service, starts, phases, footprint)."""
    from bench import ingest, latency
    from bench.memory import columns_footprint
    from bench.service import Service

    q, n = ledger.reads, ledger.reads.cols.n
    _say("memory: resident growth when a fresh process loads the columns")
    footprint = columns_footprint(serve_db)
    starts, phases, service = [], [], None
    if not args.no_http:
        _say("service: start with warm caches")
        service = Service(serve_db, work / "service.log")
        starts.append(service.start())
        phases.append(service.phases)
    _say("query path: use case in process, /v1/totals over HTTP (1 and 8 clients)")
    reads = latency.measure(q, service.url if service else None, args.http_requests)
    results["query"] = reads["query"]
    results["http"] = reads.get("http", {})
    _say(f"ingest: {args.ingest_batch_lines:,}-line batches, in process, HTTP, raw DuckDB")
    results["ingest"] = ingest.measure(
        ledger, service.url if service else None, work / "raw-append.duckdb", runs,
        args.ingest_batch_lines, price_lines=1000 * max(n, 1_000_000),
        tag=dt.datetime.now().strftime("%Y%m%d%H%M%S%f"),
    )  # fmt: skip
    if service is not None:
        if runs >= 2:  # a second start-up sample (smoke runs keep to one)
            _say("service: restart with warm caches (after the ingest)")
            service.stop()
            starts.append(service.start())
            phases.append(service.phases)
        results["http"]["service_rss_after_start_bytes"] = service.rss_after_start
    if args.ingest_large_lines:  # after the restarts: their timing is of the ledger as built
        _say(f"ingest: one {args.ingest_large_lines:,}-line feed per method")
        results["ingest_large"] = ingest.measure_large(
            ledger, service.url if service else None, work / "raw-append-large.duckdb",
            args.ingest_large_lines, price_lines=1000 * max(n, 1_000_000),
            tag=dt.datetime.now().strftime("%Y%m%d%H%M%S%f"),
        )  # fmt: skip
    if service is not None:
        service.stop()
        results["http"]["start_s"] = _seconds(starts)
    return service, starts, phases, footprint


def _memory(q, footprint, service, rss_before, rss_loaded, load_s: float) -> dict:
    from bench.memory import peak_rss_bytes

    n = q.cols.n
    return {
        "column_bytes_per_line": q.cols.nbytes_per_entry(),
        "resident_bytes_per_line": (footprint or {}).get("resident_bytes_per_line"),
        "footprint": footprint,
        # this process: loaded from the store through DuckDB, so its buffers count too
        "bench_resident_bytes_per_line": (
            (rss_loaded - rss_before) / n if rss_loaded and rss_before and n else None
        ),
        "resident_load_s": load_s,
        "service_rss_bytes_per_line": (
            service.rss_after_start / n if service and service.rss_after_start and n else None
        ),
        "service_peak_rss_bytes": service.peak_rss if service else None,
        "bench_peak_rss_bytes": peak_rss_bytes(),
    }


def _other_load(results: dict, busy0, own0, wall0: float) -> None:
    """The CPU that other processes took while this ran: a noisy machine shows here."""
    from bench.memory import busy_cpu_seconds, own_cpu_seconds

    results["load_average_after"] = list(os.getloadavg())
    busy1, own1 = busy_cpu_seconds(), own_cpu_seconds()
    if busy0 is not None and busy1 is not None:
        other = max(0.0, (busy1 - busy0) - (own1 - own0))
        wall = time.perf_counter() - wall0
        results["other_processes_cpu_s"] = other
        results["other_processes_cpu_share"] = other / (wall * (os.cpu_count() or 1))
        results["wall_s"] = wall


def _write(results: dict, args: argparse.Namespace) -> None:
    """The results (.json, .md) and plots, under --out only."""
    from bench import report

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / report.result_name(results)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    written = [path, report.write_markdown(results, path.with_suffix(".md"))]
    if not args.no_plots:
        written += report.write_plots(out, results["machine"])
    print(report.markdown(results))
    _say("written: " + ", ".join(str(p) for p in written if p))
    _say("the README's section is regenerated by `chip-ledger bench --update-readme`")


def _update_readme(args: argparse.Namespace) -> dict:
    from bench import report

    readme = Path(args.readme)
    changed = readme.exists() and report.update_readme(readme, Path(args.out))
    _say(f"{readme}: {'regenerated' if changed else 'unchanged'} from {args.out}")
    return {"readme_changed": bool(changed)}


def _seconds(values: list[float]) -> dict:
    from bench.timing import summary

    s = summary([v * 1000 for v in values])
    return {k: (v / 1000 if k != "runs" else v) for k, v in s.items()}


def import_seconds() -> float:
    """What a fresh interpreter takes to import the service (best of two)."""
    import subprocess

    code = "import time; t = time.perf_counter(); import api.main, ledger.read.queries; "
    code += "print(time.perf_counter() - t)"
    took = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.split()[-1]
        )  # fmt: skip
        for _ in range(2)
    ]
    return min(took)


def _threading_layer() -> str:
    """What runs the CPU kernels' chunks: kernels.cpu's thread pool (no numba prange)."""
    return "one thread pool"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.suite", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    main()
