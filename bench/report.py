"""Results -> the Markdown table, the PNG plots and the README's performance section.

    python -m bench.report [--out bench/results] [--readme [README.md]]
    chip-ledger bench --update-readme      # the README section alone, from the results

Everything here is generated from the JSON results (never typed by hand): the README
section between the markers below shows the latest result of the largest ledger.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
READS = ("rollup", "budgets", "sourcing", "screening")
READ_TITLES = {
    "rollup": "roll-up, 3 dims, USD at order-date rates",
    "budgets": "budget status",
    "sourcing": "sourcing ratios (3 policies)",
    "screening": "export screening (5 rules)",
}
ROLLUP_METHODS = [
    ("kernel_ms", "kernel (use case)"),
    ("kernel_only_ms", "kernel call alone"),
    ("duckdb_ms", "DuckDB SQL, equi-join on per-day rates"),
    ("duckdb_asof_ms", "DuckDB SQL, ASOF JOIN"),
    ("duckdb_exact_ms", "DuckDB SQL, every line in 128-bit"),
    ("polars_ms", "polars, dense rate gather"),
    ("floor_ms", "read floor (parallel sum of the bytes read)"),
    ("numpy_read_ms", "numpy sum of the same bytes"),
]
PROFILE_TITLES = {
    "no_dims": "no dims (conversion and sums only)",
    "entity": "1 dim (entity)",
    "three_dims": "3 dims (entity, chip, month)",
    "three_dims_one_rate_date": "3 dims, one rate date (fx=2025-06-30)",
}
INGEST_METHODS = [
    ("duckdb_raw_append", "raw DuckDB append, Arrow (no ledger)"),
    ("store_arrow", "ledger in process, Arrow IPC"),
    ("store_csv", "ledger in process, CSV"),
    ("http_arrow", "HTTP POST /v1/orders, Arrow IPC"),
    ("http_csv", "HTTP POST /v1/orders, CSV"),
    ("http_json", "HTTP POST /v1/orders, JSON"),
]


# -- targets (issue 5) ---------------------------------------------------------


def _get(d: dict | None, *keys):
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


HTTP_TITLES = (
    ("totals_1_client", "1 client"),
    ("totals_8_clients", "8 clients, the same request"),
    ("totals_8_clients_distinct", "8 clients, 8 different requests"),
)


def _target(what: str, value, limit: str, met) -> dict:
    return {"what": what, "value": value, "target": limit, "met": met}


def targets(r: dict) -> dict:
    """Each target of issue 5, with its measured value; met is None when not measured."""
    kernel = _get(r, "rollup", "kernel_ms", "median")  # the use case: rows out, as SQL gives
    # the kernel call alone: what reads the bytes the floor reads; and what the HTTP path adds to
    kernel_call = _get(r, "rollup", "kernel_only_ms", "median") or kernel
    duck = _get(r, "rollup", "duckdb_ms", "median")
    polars = _get(r, "rollup", "polars_ms", "median")
    floor = _get(r, "rollup", "floor_ms", "median")
    p50 = _get(r, "http", "totals_1_client", "p50_ms")
    raw = _get(r, "ingest", "duckdb_raw_append", "lines_per_s")
    arrow = _get(r, "ingest", "http_arrow", "lines_per_s")
    # the JSON and CSV targets are of 1M-line feeds (issue 14) when the run has them
    large = "ingest_large" if _get(r, "ingest_large", "http_json", "lines_per_s") else "ingest"
    json_rate = _get(r, large, "http_json", "lines_per_s")
    csv_rate = _get(r, large, "http_csv", "lines_per_s")
    start = _get(r, "startup", "service_start_s", "median")
    per_line = _get(r, "memory", "resident_bytes_per_line")

    def ratio(a, b):
        return a / b if a is not None and b else None

    def check(value, ok):
        return None if value is None else bool(ok(value))

    out = {}
    v = ratio(duck, kernel)
    out["rollup_vs_duckdb"] = _target(
        "roll-up: best DuckDB SQL / kernel", v, ">= 5x", check(v, lambda x: x >= 5)
    )
    v = ratio(polars, kernel)
    out["rollup_vs_polars"] = _target(
        "roll-up: best polars / kernel", v, ">= 3x", check(v, lambda x: x >= 3)
    )
    v = ratio(kernel_call, floor)
    out["rollup_vs_floor"] = _target(
        "roll-up: kernel call / read floor", v, "<= 4x", check(v, lambda x: x <= 4)
    )
    v = None if p50 is None or kernel_call is None else p50 - kernel_call
    out["http_totals_p50"] = _target(
        "/v1/totals p50 (1 client) minus kernel call time, ms", v, "<= 10 ms",
        check(v, lambda x: x <= 10),
    )  # fmt: skip
    v = ratio(arrow, raw)
    out["http_arrow_ingest"] = _target(
        "Arrow IPC over HTTP / raw DuckDB append, lines/s", v, ">= 0.5",
        check(v, lambda x: x >= 0.5),
    )  # fmt: skip
    out["http_json_ingest"] = _target(
        "JSON over HTTP, lines/s", json_rate, ">= 200,000", check(json_rate, lambda x: x >= 2e5)
    )
    out["http_csv_ingest"] = _target(
        "CSV over HTTP, lines/s", csv_rate, ">= 200,000", check(csv_rate, lambda x: x >= 2e5)
    )
    out["service_start"] = _target(
        "service start with a warm cache, s", start, "< 3 s", check(start, lambda x: x < 3)
    )
    out["memory_per_line"] = _target(
        "resident bytes per line (growth when a process loads the columns)", per_line, "<= 48",
        check(per_line, lambda x: x <= 48),
    )  # fmt: skip
    return out


# -- Markdown -------------------------------------------------------------------


def _ms(s: dict | None) -> tuple[str, str, str]:
    if not s:
        return ("-", "-", "-")
    return (f"{s['median']:,.1f}", f"{s['min']:,.1f}", f"{s['max']:,.1f}")


def _rate(x) -> str:
    if x is None:
        return "-"
    if x >= 1e9:
        return f"{x / 1e9:,.2f} G"
    if x >= 1e6:
        return f"{x / 1e6:,.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:,.0f} k"
    return f"{x:,.0f}"


def _pct(x) -> str | None:
    return None if x is None else f"{100 * x:.0f}%"


def size_label(n: int | None) -> str:
    if not n:
        return "?"
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div:
            value = n / div
            return f"{value:g}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return str(n)


def _value(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.2f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def markdown(r: dict, heading: str = "##") -> str:
    """One result as Markdown tables: reads, profile, GPU, query path, ingest, start-up,
    targets."""
    out = _md_header(r, heading)
    for section in (_md_reads, _md_profile, _md_gpu, _md_query, _md_ingest, _md_startup,
                    _md_targets):  # fmt: skip
        out += section(r)
    return "\n".join(out) + "\n"


def _md_header(r: dict, heading: str) -> list[str]:
    n = r.get("lines") or 0
    return [
        f"{heading} {size_label(r.get('demo_lines') or n)}-line ledger, {r.get('date')}",
        "",
        f"{n:,} entries; {r.get('cpu')}, {r.get('cores')} cores "
        f"(numba {r.get('numba_threads')} threads, {r.get('numba_threading_layer')}; "
        f"DuckDB {r.get('duckdb_threads')} threads); {r.get('runs')} runs after a warm-up, "
        f"methods interleaved; load average before/after "
        f"{_value((r.get('load_average_before') or [None])[0])} / "
        f"{_value((r.get('load_average_after') or [None])[0])}; other processes took "
        f"{_value(_pct(r.get('other_processes_cpu_share')))} of the CPU time during the run.",
    ]


def _md_reads(r: dict) -> list[str]:
    n = r.get("lines") or 0
    out = [
        "",
        "| work | method | median ms | min | max | lines/s | vs kernel |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for work in READS:
        block = r.get(work) or {}
        kernel = _get(block, "kernel_ms", "median")
        methods = (
            ROLLUP_METHODS
            if work == "rollup"
            else [
                ("kernel_ms", "kernel (use case)"),
                ("kernel_only_ms", "kernel calls alone"),
                ("duckdb_ms", "DuckDB SQL"),
            ]
        )
        for key, title in methods:
            s = block.get(key)
            if not s:
                continue
            rel = f"{s['median'] / kernel:.2f}x" if kernel and key != "kernel_ms" else ""
            rate = n / (s["median"] / 1000) if s["median"] else None
            out.append(
                f"| {READ_TITLES[work]} | {title} | {' | '.join(_ms(s))} | {_rate(rate)} | {rel} |"
            )
    return out


def _md_profile(r: dict) -> list[str]:
    n = r.get("lines") or 0
    out: list[str] = []
    prof = _get(r, "rollup", "profile") or {}
    if prof:
        out += [
            "",
            "| roll-up kernel alone, by variant | median ms | lines/s |",
            "|---|---:|---:|",
        ]
        for name, s in prof.items():
            rate = n / (s["median"] / 1000) if s["median"] else None
            out.append(f"| {PROFILE_TITLES.get(name, name)} | {s['median']:,.1f} | {_rate(rate)} |")
    return out


def _md_gpu(r: dict) -> list[str]:
    out: list[str] = []
    g = r.get("gpu") or {}
    if g.get("available"):
        out += [
            "",
            f"| GPU roll-up ({g.get('device')}, device-resident columns) | lines | transfer ms | "
            "median ms | lines/s | GB/s | of peak |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for s in g.values():
            if isinstance(s, dict) and "kernel_ms" in s:
                share = s.get("fraction_of_peak")
                out.append(
                    f"| {size_label(s['lines'])} lines | {s['lines']:,} | "
                    f"{s['transfer_ms']:,.1f} | "
                    f"{s['kernel_ms']['median']:,.2f} | {_rate(s['lines_per_s'])} | "
                    f"{_value(s.get('bandwidth_gb_s'))} | {_value(_pct(share))} |"
                )
    return out


def _md_query(r: dict) -> list[str]:
    q, http = r.get("query") or {}, r.get("http") or {}
    out = [
        "",
        "| query path (totals, 3 dims, USD) | p50 ms | p99 ms | requests |",
        "|---|---:|---:|---:|",
        f"| use case in process, JSON out | {_value(q.get('totals_e2e_p50_ms'))} | "
        f"{_value(q.get('totals_e2e_p99_ms'))} | {_value(q.get('totals_e2e_requests'))} |",
    ]
    for key, title in HTTP_TITLES:
        s = http.get(key)
        if s:
            out.append(
                f"| GET /v1/totals over HTTP, {title} | {s['p50_ms']:,.1f} | {s['p99_ms']:,.1f} | "
                f"{s['requests']} |"
            )
    return out


def _md_ingest(r: dict) -> list[str]:
    out = []
    # the regular batches (median of the rounds), then one large feed per method (one round)
    for section, what in (("ingest", "batches"), ("ingest_large", "feed, one round")):
        ing = r.get(section) or {}
        if section != "ingest" and not ing:
            continue
        out += [
            "",
            f"| ingest ({ing.get('batch_lines', 0):,}-line {what}) | lines/s (median) | "
            "lines/s (best) | median ms |",
            "|---|---:|---:|---:|",
        ]
        for key, title in INGEST_METHODS:
            s = ing.get(key)
            if s:
                out.append(
                    f"| {title} | {_rate(s['lines_per_s'])} | {_rate(s['lines_per_s_best'])} | "
                    f"{s['ms']['median']:,.1f} |"
                )
    return out


def _md_startup(r: dict) -> list[str]:
    st, mem = r.get("startup") or {}, r.get("memory") or {}
    start = st.get("service_start_s") or {}
    peak = mem.get("service_peak_rss_bytes")
    return [
        "",
        "| start-up and memory | value |",
        "|---|---:|",
        f"| kernel compile, empty cache | {_value(st.get('kernel_compile_cold_s'))} s |",
        f"| kernel load, warm cache | {_value(st.get('kernel_load_cached_s'))} s |",
        f"| service start, warm caches (median) | {_value(start.get('median'))} s |",
        *[
            f"| - of which {k.removesuffix('_s').replace('_', ' ')} (start {i + 1}) | "
            f"{_value(v)} s |"
            for i, ph in enumerate(st.get("service_start_phases") or [])
            for k, v in ph.items()
        ],
        f"| importing the service, fresh interpreter | {_value(st.get('service_imports_s'))} s |",
        f"| resident column bytes per line | {_value(mem.get('column_bytes_per_line'))} |",
        f"| resident growth per line, columns loaded by a fresh process | "
        f"{_value(mem.get('resident_bytes_per_line'))} |",
        f"| service RSS per line after start | {_value(mem.get('service_rss_bytes_per_line'))} |",
        f"| service peak RSS | {_value(peak / 2**20 if peak else None)} MiB |",
    ]


def _md_targets(r: dict) -> list[str]:
    t = r.get("targets") or targets(r)
    out = ["", "| target (issue 5) | measured | target | met |", "|---|---:|---:|:---:|"]
    for item in t.values():
        met = {True: "yes", False: "**no**", None: "-"}[item["met"]]
        out.append(f"| {item['what']} | {_value(item['value'])} | {item['target']} | {met} |")
    return out


def write_markdown(r: dict, path: Path) -> Path:
    path.write_text(markdown(r, heading="#"))
    return path


# -- results on disk ------------------------------------------------------------


def result_name(r: dict, default_lines: int = 10_000_000) -> str:
    """<machine>-<date>.json for a full default run; a size (and -quick) suffix otherwise."""
    base = f"{r['machine']}-{r['date']}"
    size = r.get("demo_lines") or r.get("lines")
    if r.get("quick") or size != default_lines:
        base += f"-{size_label(size)}" + ("-quick" if r.get("quick") else "")
    return base + ".json"


def load_results(out: Path, machine: str | None = None) -> list[dict]:
    """Every suite result in `out` (newest last), optionally of one machine."""
    found = []
    for path in sorted(out.glob("*.json")):
        try:
            r = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(r, dict) or "schema" not in r:
            continue  # e.g. the older roll-up-only files
        if machine and r.get("machine") != machine:
            continue
        r["_path"] = str(path)
        r["_mtime"] = path.stat().st_mtime
        found.append(r)
    return sorted(found, key=lambda r: (r.get("date", ""), r["_mtime"]))


def latest_by_size(results: list[dict]) -> dict[int, dict]:
    """The newest result for each ledger size."""
    latest: dict[int, dict] = {}
    for r in results:
        latest[r.get("lines") or 0] = r
    return dict(sorted(latest.items()))


# -- plots ----------------------------------------------------------------------


def plots_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(out: Path, machine: str) -> list[Path]:
    """<machine>-throughput.png (lines/s by method against N) and <machine>-ingest.png."""
    if not plots_available():
        return []
    import matplotlib

    matplotlib.use("Agg")
    latest = latest_by_size(load_results(out, machine))
    if not latest:
        return []
    return [_plot_reads(out, machine, latest), _plot_ingest(out, machine, latest)]


def _plot_reads(out: Path, machine: str, latest: dict[int, dict]) -> Path:
    import matplotlib.pyplot as plt

    sizes = list(latest)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    for ax, work in zip(axes.flat, READS, strict=True):
        methods = ROLLUP_METHODS if work == "rollup" else [
            ("kernel_ms", "kernel (use case)"), ("duckdb_ms", "DuckDB SQL"),
        ]  # fmt: skip
        top = 0.0
        for key, title in methods:
            if key in ("kernel_only_ms", "numpy_read_ms"):
                continue
            xs, ys = [], []
            for n in sizes:
                s = _get(latest[n], work, key)
                if s and s["median"]:
                    xs.append(n)
                    ys.append(n / (s["median"] / 1000))
            if xs:
                ax.plot(xs, ys, marker="o", label=title)
                top = max(top, *ys)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if top:
            ax.set_ylim(top=top * 60)  # headroom: the legend sits above the lines
        ax.set_title(READ_TITLES[work])
        ax.set_xlabel("ledger entries")
        ax.set_ylabel("lines/s (median)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.suptitle(f"chip-ledger reads on {machine}: lines/s by method")
    path = out / f"{machine}-throughput.png"
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return path


def _plot_ingest(out: Path, machine: str, latest: dict[int, dict]) -> Path:
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    sizes = list(latest)
    fig, ax = plt.subplots(figsize=(9, 4.5), constrained_layout=True)
    labels = [title for key, title in INGEST_METHODS]
    width = 0.8 / max(len(sizes), 1)
    for k, n in enumerate(sizes):
        ing = latest[n].get("ingest") or {}
        rates = [(_get(ing, key, "lines_per_s") or 0) for key, _ in INGEST_METHODS]
        ys = [i + k * width for i in range(len(labels))]
        ax.barh(ys, rates, height=width, label=f"{size_label(n)}-entry ledger")
    ax.set_yticks([i + width * (len(sizes) - 1) / 2 for i in range(len(labels))], labels)
    ax.invert_yaxis()
    ax.set_xlabel("lines/s (median)")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: _rate(x)))
    batch = _get(latest[sizes[-1]], "ingest", "batch_lines")
    ax.set_title(f"ingest rates on {machine} ({batch:,}-line batches)" if batch else "ingest")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8)
    path = out / f"{machine}-ingest.png"
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return path


# -- README ---------------------------------------------------------------------


def summary_markdown(r: dict) -> str:
    """The headline figures of one result, for the README (the full tables are in its .md)."""
    n = r.get("lines") or 0

    def ms(*keys) -> str:
        v = _get(r, *keys, "median")
        return "-" if v is None else f"{v:,.1f}"

    def times(a, b) -> str:
        x, y = _get(r, *a, "median"), _get(r, *b, "median")
        return "-" if x is None or not y else f"{x / y:.1f}x"

    out = [
        f"{size_label(r.get('demo_lines') or n)}-line ledger ({n:,} entries), {r.get('date')}: "
        f"{r.get('cpu')}, {r.get('cores')} cores; median of {r.get('runs')} runs, ms"
        + (
            f" (other processes took {_pct(r['other_processes_cpu_share'])} of the CPU)."
            if r.get("other_processes_cpu_share") is not None
            else "."
        ),
        "",
        "| work | kernel | best DuckDB SQL | SQL / kernel | polars | read floor |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for work in READS:
        if not r.get(work):
            continue
        polars = ms(work, "polars_ms") if work == "rollup" else "-"
        floor = ms(work, "floor_ms") if work == "rollup" else "-"
        out.append(
            f"| {READ_TITLES[work]} | {ms(work, 'kernel_ms')} | {ms(work, 'duckdb_ms')} | "
            f"{times((work, 'duckdb_ms'), (work, 'kernel_ms'))} | {polars} | {floor} |"
        )
    http, ing = r.get("http") or {}, r.get("ingest") or {}
    rows = []
    for key, title in HTTP_TITLES:
        s = http.get(key)
        if s:
            rows.append(
                f"| GET /v1/totals, {title}: p50 / p99 | "
                f"{s['p50_ms']:,.1f} / {s['p99_ms']:,.1f} ms |"
            )
    for key, title in INGEST_METHODS:
        s = ing.get(key)
        if s:
            rows.append(f"| ingest, {title} | {_rate(s['lines_per_s'])} lines/s |")
    start = _get(r, "startup", "service_start_s", "median")
    rows.append(f"| service start, warm caches | {_value(start)} s |")
    rows.append(
        f"| kernel compile, empty cache | {_value(_get(r, 'startup', 'kernel_compile_cold_s'))} s |"
    )
    per_line = _get(r, "memory", "resident_bytes_per_line")
    rows.append(f"| resident bytes per line | {_value(per_line)} |")
    batch = f" (ingest in {ing['batch_lines']:,}-line batches)" if ing.get("batch_lines") else ""
    out += ["", f"| query path, ingest, start-up, memory{batch} | |", "|---|---:|", *rows]
    t = r.get("targets") or targets(r)
    out += ["", "| target (issue 5) | measured | target | met |", "|---|---:|---:|:---:|"]
    for item in t.values():
        met = {True: "yes", False: "**no**", None: "-"}[item["met"]]
        out.append(f"| {item['what']} | {_value(item['value'])} | {item['target']} | {met} |")
    return "\n".join(out) + "\n"


def readme_section(out: Path, readme: Path) -> str | None:
    """The generated performance section: the newest result of the largest ledger."""
    latest = latest_by_size(load_results(out))
    if not latest:
        return None
    r = latest[max(latest)]
    rel = Path(os.path.relpath(out, readme.parent))
    md = (rel / Path(r["_path"]).with_suffix(".md").name).as_posix()
    lines = [
        START,
        f"<!-- generated by `python -m bench.report` from {Path(r['_path']).name}; do not edit -->",
        "",
        summary_markdown(r).rstrip(),
        "",
        f"All methods, the kernel profile and memory: [{Path(md).name}]({md})",
    ]
    others = [x for n, x in latest.items() if n != max(latest)]
    if others:
        lines[-1] += "; other sizes: " + ", ".join(
            f"[{size_label(x.get('demo_lines') or x.get('lines'))}]"
            f"({(rel / Path(x['_path']).with_suffix('.md').name).as_posix()})"
            for x in others
        )
    lines[-1] += "."
    lines.append("")
    for png in (f"{r['machine']}-throughput.png", f"{r['machine']}-ingest.png"):
        if (out / png).exists():
            lines.append(f"![{png}]({(rel / png).as_posix()})")
    lines.append(END)
    return "\n".join(lines)


def update_readme(readme: Path, out: Path) -> bool:
    """Rewrite the README between the markers; False when it has none or nothing changed."""
    text = readme.read_text()
    if START not in text or END not in text:
        return False
    section = readme_section(out, readme)
    if section is None:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + section + tail
    if new == text:
        return False
    readme.write_text(new)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="bench/results")
    # the README is rewritten only when asked: a bench run writes under --out alone
    p.add_argument(
        "--readme",
        nargs="?",
        const="README.md",
        default=None,
        help="also regenerate this README's bench section (default README.md)",
    )
    p.add_argument("--no-plots", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    results = load_results(out)
    for r in results:
        path = Path(r["_path"])
        write_markdown(r, path.with_suffix(".md"))
    if not args.no_plots:
        for machine in sorted({r["machine"] for r in results}):
            write_plots(out, machine)
    if args.readme and Path(args.readme).exists():
        update_readme(Path(args.readme), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
