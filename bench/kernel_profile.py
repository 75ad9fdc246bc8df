"""The CPU roll-up kernel alone on synthetic lines: this tree's kernels beside older commits'.

    python -m bench.kernel_profile --lines 10000000 [--runs 9] [--refs b4ca3a2,874a166]

Each ref's kernels/ is copied out of git into a temporary package (its `kernels`
imports renamed), so the kernels of several commits run side by side in one
process on the very same arrays. Every (kernel, variant) pair and the read floor
(`dispatch.read_floor` over the bytes the roll-up reads) run back to back in each
round, their order rotating from round to round (bench.timing.interleave); the
medians are printed. Every kernel's totals are checked equal to this tree's first.
Nothing is written into the repository; the temporary packages live under
$TMPDIR (numba caches their compiled code beside them, so later runs start faster).

Variants: 3 dims (entity x chip x month, 3 term sources, 1 target currency), the
same with the tpp-weighted sum, and no dims (conversion and sums only).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from bench.timing import interleave
from kernels import cpu, dispatch
from kernels import layout as L

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFS = "b4ca3a2,874a166"  # before the exact totals; the checked-add kernel
N_ENTITIES, N_CHIPS, N_DAYS, N_CUR = 24, 12, 3 * 365, 4
EXPONENTS = np.array([2, 2, 0, 2], np.int64)  # USD, EUR, JPY, GBP (ISO 4217 minor units)


def ref_kernels(ref: str) -> object:
    """The `cpu` module of commit `ref`'s kernels/ (or of a folder holding a copy of
    kernels/, to try an idea without a commit), imported as its own package."""
    folder = Path(ref) if "/" in ref else None
    sha = folder.name if folder else _git("rev-parse", "--short", ref).strip()
    base = Path(tempfile.gettempdir()) / "chip-ledger-kernel-profile" / sha
    pkg = f"kernels_{re.sub(r'[^A-Za-z0-9_]', '_', sha)}"
    if folder or not (base / pkg / "cpu.py").exists():
        (base / pkg).mkdir(parents=True, exist_ok=True)
        files = (
            {f.name: f.read_text() for f in folder.glob("*.py")}
            if folder
            else {
                name: _git("show", f"{sha}:kernels/{name}")
                for name in _git("ls-tree", "--name-only", f"{sha}:kernels/").split()
                if name.endswith(".py")
            }
        )
        for name, text in files.items():
            text = re.sub(r"^(\s*)(from|import) kernels\b", rf"\1\2 {pkg}", text, flags=re.M)
            (base / pkg / name).write_text(text)
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    return importlib.import_module(f"{pkg}.cpu")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def synthetic(n: int, seed: int = 7) -> dict:
    """n lines as the ledger's resident columns hold them, and USD conversion cells."""
    rng = np.random.default_rng(seed)
    codes = np.zeros((L.N_SOURCES, n), np.uint16)
    codes[L.ENTITY] = rng.integers(0, N_ENTITIES, n)
    codes[L.CHIP] = rng.integers(0, N_CHIPS, n)
    codes[L.DAY] = rng.integers(0, N_DAYS, n)
    codes[L.CURRENCY] = rng.choice(N_CUR, n, p=[0.6, 0.2, 0.1, 0.1])
    # order lines of 10^2 .. 10^10 minor units, log-uniform; 2% reversals
    amount = (10.0 ** rng.uniform(2, 10, n)).astype(np.int64)
    amount[rng.random(n) < 0.02] *= -1
    quantity = rng.integers(1, 65, n).astype(np.int32)
    lines = np.where(amount < 0, -1, 1).astype(np.int8)
    rates = rng.integers(5 * 10**9, 2 * 10**12, size=(N_CUR, N_DAYS))  # 10^-12 USD per unit
    rates[0] = 10**12
    num = rates * (10 ** np.maximum(0, EXPONENTS[0] - EXPONENTS))[:, None]
    den = np.broadcast_to(rates[0] * (10 ** np.maximum(0, EXPONENTS - EXPONENTS[0]))[:, None],
                          num.shape)  # fmt: skip
    ratio = num / den
    x_limit = np.minimum(2.0**61, (2.0**61 / den - 2.0) * 2.0**52)  # as ledger.read.queries
    fast_max = np.floor(np.clip(np.minimum(x_limit / ratio, 2.0**53) * 0.5, 0, 2.0**53))
    return {
        "codes": codes, "day": codes[L.DAY], "currency": codes[L.CURRENCY], "amount": amount,
        "quantity": quantity, "lines": lines, "num": num[None].astype(np.int64),
        "den": np.ascontiguousarray(den[None], np.int64), "ratio": ratio[None],
        "fast_max": fast_max[None].astype(np.int64), "fixed_day": np.int64(-1),
        "day0": np.int64(0), "group_target": np.zeros(1, np.int64),
    }  # fmt: skip


def terms(dims: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(term_src, term_tab, groups): entity x chip x month, or a single group."""
    if not dims:
        return np.zeros(0, np.int64), np.zeros((0, 1), np.int64), 1
    n_months = N_DAYS // 31 + 1
    tab = np.full((3, max(N_ENTITIES, N_CHIPS, N_DAYS)), -1, np.int64)
    tab[0, :N_ENTITIES] = np.arange(N_ENTITIES) * N_CHIPS * n_months
    tab[1, :N_CHIPS] = np.arange(N_CHIPS) * n_months
    tab[2, :N_DAYS] = np.arange(N_DAYS) // 31
    return np.array([L.ENTITY, L.CHIP, L.DAY], np.int64), tab, N_ENTITIES * N_CHIPS * n_months


VARIANTS = {"3 dims": (True, False), "3 dims weighted": (True, True), "no dims": (False, False)}


def call(module, data: dict, variant: str, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """One roll-up with module's kernel: (out, err). Kernels before kernels.layout took err[2]."""
    dims, weighted = VARIANTS[variant]
    term_src, term_tab, groups = terms(dims)
    tpp = np.arange(1, N_CHIPS + 1, dtype=np.int64) * 4_000  # tpp-like weights per chip
    group_target = np.zeros(groups, np.int64)
    out = np.zeros((groups, L.N_OUT), np.int64)
    err = np.zeros(L.ERR_SLOTS if hasattr(module, "check_err") else 2, np.int64)
    arrays = {**data, "group_target": group_target}
    module.rollup(
        term_src=term_src, term_tab=term_tab, weight_src=np.int64(L.CHIP if weighted else -1),
        weight_tab=tpp, **arrays, n_threads=threads, out=out, err=err,
    )  # fmt: skip
    return out, err


def floor_words(data: dict) -> tuple[tuple, int]:
    """The bytes the roll-up reads (as bench.rollup.floor_words), as uint64 views."""
    read = [data["codes"][r] for r in (L.ENTITY, L.CHIP, L.DAY, L.CURRENCY)]
    read += [data["amount"], data["quantity"], data["lines"]]

    def words(a):
        raw = np.ascontiguousarray(a).view(np.uint8)
        return raw[: raw.size - raw.size % 8].view(np.uint64)

    return tuple(words(a) for a in read), sum(a.nbytes for a in read)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--lines", type=int, default=10_000_000)
    p.add_argument("--runs", type=int, default=9)
    p.add_argument(
        "--refs", default=DEFAULT_REFS, help="commits whose kernels run beside this tree's"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=numba.get_num_threads(),
        help="kernel threads (the read floor uses numba's count)",
    )
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    args = p.parse_args(argv)
    started = time.perf_counter()
    kernels = {"tree": cpu}
    for ref in filter(None, args.refs.split(",")):
        kernels[ref] = ref_kernels(ref)
    data = synthetic(args.lines)
    words, nbytes = floor_words(data)
    floor_out = np.zeros(1, np.uint64)
    cpu_ms: dict[str, list[float]] = {}
    methods = {"read floor": _cpu_timed(lambda: dispatch.read_floor(words, floor_out),
                                        cpu_ms.setdefault("read floor", []))}  # fmt: skip
    for variant in args.variants.split(","):
        want = call(cpu, data, variant, args.threads)
        for name, module in kernels.items():
            out, err = call(module, data, variant, args.threads)
            if not (np.array_equal(out, want[0]) and (err[:2] == want[1][:2]).all()):
                raise SystemExit(f"{name} disagrees with this tree's kernel on {variant!r}")
            key = f"{variant} | {name}"
            methods[key] = _cpu_timed(lambda m=module, v=variant: call(m, data, v, args.threads),
                                      cpu_ms.setdefault(key, []))  # fmt: skip
    load = os.getloadavg()[0]
    print(f"{args.lines:,} lines, {nbytes / args.lines:.0f} bytes read per line, "
          f"{args.threads} kernel threads; set-up {time.perf_counter() - started:.1f} s; "
          f"{args.runs} interleaved runs; load average {load:.2f}")  # fmt: skip
    times = interleave(methods, args.runs, raw=True)
    floor = statistics.median(times["read floor"])
    print(f"{'variant | kernel':34s} {'median ms':>10s} {'min':>8s} {'max':>8s} {'x floor':>8s} "
          f"{'CPU ms':>8s}")  # fmt: skip
    for name, t in times.items():
        m = statistics.median(t)
        cpu_median = statistics.median(cpu_ms[name][1:])  # [0]: the warm-up round
        print(f"{name:34s} {m:10.1f} {min(t):8.1f} {max(t):8.1f} {m / floor:8.2f} "
              f"{cpu_median:8.1f}")  # fmt: skip
    print(
        f"load average after: {os.getloadavg()[0]:.2f}; CPU ms: all threads' CPU time, "
        "less sensitive than wall time to other processes on a busy machine"
    )
    return {name: statistics.median(t) for name, t in times.items()}


def _cpu_timed(fn, cpu_ms: list[float]):
    """fn as an interleave method that also records this process's CPU milliseconds."""

    def run(_round: int) -> None:
        started = time.process_time()
        fn()
        cpu_ms.append((time.process_time() - started) * 1000)

    return run


if __name__ == "__main__":
    main()
