"""The one place that chooses the kernel backend (CHIP_LEDGER_BACKEND=auto|cpu|cuda).

Only this module asks numba whether CUDA is available, once, and logs why it
chose what it chose. Every kernel call goes through here: `rollup`, `screen`,
`licences`, `read_floor`, `json_lines` (the JSON feed scan), `decimal_parts` and
`integer_parts` (feed prices and counts), `key_search` (the key index) and `warm_up`;
the CPU path never imports numba.cuda. The array contract (rows of codes, flag bits,
out columns, err slots) is kernels.layout.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from functools import cache

import numpy as np

from kernels import layout as L

log = logging.getLogger("chip_ledger.kernels")
BACKENDS = ("auto", "cpu", "cuda")


@cache
def backend(requested: str | None = None) -> str:
    requested = (requested or os.environ.get("CHIP_LEDGER_BACKEND", "auto")).lower()
    if requested not in BACKENDS:
        raise ValueError(f"CHIP_LEDGER_BACKEND={requested!r}; use one of {', '.join(BACKENDS)}")
    if requested == "cpu":
        log.info("kernels: cpu (CHIP_LEDGER_BACKEND=cpu)")
        return "cpu"
    if requested == "auto" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        log.info("kernels: cpu (NUMBA_ENABLE_CUDASIM=1: the simulator serves tests only)")
        return "cpu"
    if not _nvidia_driver_present():
        available, why = False, "no NVIDIA driver on this machine"
    else:
        try:
            from numba import cuda

            available = cuda.is_available()
            why = "a CUDA device is available" if available else "numba found no CUDA device"
        except Exception as e:  # numba-cuda not installed, or no driver
            available, why = False, f"numba.cuda unusable ({type(e).__name__}: {e})"
    if requested == "cuda" and not available:
        raise RuntimeError(f"CHIP_LEDGER_BACKEND=cuda but {why}")
    chosen = "cuda" if available else "cpu"
    log.info("kernels: %s (%s; CHIP_LEDGER_BACKEND=%s)", chosen, why, requested)
    return chosen


def _nvidia_driver_present() -> bool:
    """A cheap look before asking numba: importing numba.cuda alone takes most of a second."""
    if os.environ.get("NUMBA_CUDA_DRIVER") or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return True  # a driver named by hand, or the simulator: ask numba
    if sys.platform != "linux":
        return True  # a platform we cannot tell cheaply: ask numba
    return any(
        os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg")
    )


def threads() -> int:
    import numba  # here, not at the top: the service imports this module before it needs numba

    return numba.get_num_threads()


def _impl(name: str, which: str | None):
    which = which or backend()
    if which == "cuda":
        from kernels import cuda as impl
    else:
        from kernels import cpu as impl
    return getattr(impl, name)


def rollup(*, out: np.ndarray, err: np.ndarray, which: str | None = None, **arrays) -> None:
    """Grouped sums with conversion; see kernels.cpu.rollup. Fills out and err."""
    if (which or backend()) == "cuda":
        from kernels import cuda as impl

        impl.rollup(out=out, err=err, **arrays)
        return
    from kernels import cpu

    cpu.rollup(**arrays, n_threads=threads(), out=out, err=err)


def screen(*, out: np.ndarray, which: str | None = None, **arrays) -> None:
    """Per-entry bit set of the export rules that flag it; see kernels.cpu.screen."""
    if (which or backend()) == "cuda":
        _impl("screen", which)(**arrays, out=out)
        return
    from kernels import cpu

    cpu.screen(**arrays, n_threads=threads(), out=out)


def flag_counts(bits, party, fy, fy_code: int, n_rules: int, out: np.ndarray) -> None:
    """Entries per rule (and party-flagged entries) of a screen's bit sets; kernels.flags.

    CPU only, whatever the backend: the screen hands its bit sets back to the host, and
    one pass over them costs less than sending them to a device again."""
    from kernels import flags

    flags.count(bits, party, fy, fy_code, n_rules, threads(), out)


def flag_page(bits, party, fy, fy_code: int, select: int, select_party: bool, n_rules: int,
              offset: int, seq_out: np.ndarray, rule_out: np.ndarray) -> int:  # fmt: skip
    """One page of (entry, rule) pairs of a screen, in that order; see kernels.flags.page."""
    from kernels import flags

    return int(flags.page(bits, party, fy, np.int64(fy_code), np.uint64(select),
                          bool(select_party), np.int64(n_rules), np.int64(offset),
                          seq_out, rule_out))  # fmt: skip


def licences(*, out: np.ndarray, which: str | None = None, **arrays) -> dict:
    """The licence check: fills out (the screen's flags, verdicts in the bits from
    layout.LIC_SHIFT) and returns the candidates' depletion; see kernels.licences."""
    if (which or backend()) == "cuda":
        from kernels import licences_cuda

        return licences_cuda.check(out=out, **arrays)
    from kernels import licences as impl

    return impl.check(out=out, n_threads=threads(), **arrays)


def read_floor(columns: tuple[np.ndarray, ...], out: np.ndarray) -> None:
    """Sum the given columns' bytes as uint64 words: the time floor for reading them."""
    from kernels import cpu

    cpu.read_floor(columns, threads(), out)


def json_lines(data: bytes, array_form: bool) -> tuple[np.ndarray, int]:
    """(newline-delimited bytes, status) for a JSON array or NDJSON; see kernels.text."""
    from kernels import text

    return text.to_lines(data, array_form)


def decimal_parts(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray):
    """(units, frac, frac_len, shape) of decimal text cells, or None; see kernels.text."""
    from kernels import text

    return text.split_decimals(offsets, data, valid)


def integer_parts(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray):
    """(values, has the form) of integer text cells, or None; see kernels.text."""
    from kernels import text

    return text.split_integers(offsets, data, valid)


def key_search(keys: np.ndarray, probes: np.ndarray, found: np.ndarray) -> None:
    """found[j] |= probes[j] in keys, both sorted ascending; see kernels.search."""
    from kernels import search

    search.member_sorted(keys, probes, found)


# Every compiled kernel, by the name warm_up knows it: the roll-up is compiled once per
# number of grouping/filter terms (kernels.cpu `_term_tuples`), the usual 1 to 4.
KERNELS = (
    "decimal_parts", "integer_parts", "rollup:1", "key_search", "rollup:3", "rollup:2",
    "rollup:4", "screen", "licences", "flag_counts", "flag_page", "json_lines", "read_floor",
)  # fmt: skip
# What a fresh service needs before its first answers: GET /v1/totals (no `by`, or one
# dimension: one term), the demo build's budget guard (entity x budget code x fiscal year:
# three terms) and the key index of every ingest. The first roll-up compiled also compiles
# the helpers every roll-up shares (~14 of the ~30 s a cold cache takes on 2 cores), so it
# goes first; the rest can compile in the background once the service answers.
# The demo's text cells (prices, integers) go first: they are small, and the demo's first
# batch reads them before anything else.
FIRST_ANSWER = ("decimal_parts", "integer_parts", "rollup:1", "key_search", "rollup:3")


def warm_up(
    which: str | None = None,
    kernels: tuple[str, ...] = KERNELS,
    done: Callable[[str, float], None] | None = None,
) -> float:
    """Compile (or load from cache) the named kernels on tiny inputs; returns seconds taken.
    done(name, seconds) is told as each one is ready (progress for a cold cache)."""
    import time

    started = time.perf_counter()
    which = which or backend()
    for name in kernels:
        took = time.perf_counter()
        _warm_one(name, which)
        if done:
            done(name, time.perf_counter() - took)
    return time.perf_counter() - started


def _warm_one(name: str, which: str) -> None:
    if name not in KERNELS:
        raise ValueError(f"no kernel {name!r}; warm_up knows {', '.join(KERNELS)}")
    kind, _, terms = name.partition(":")
    if kind == "rollup":
        _warm_rollup(which, int(terms))
    elif kind == "screen":
        _warm_screen(which)
    elif kind == "licences":
        _warm_licences(which)
    elif kind == "read_floor":
        read_floor((np.zeros(8, np.uint64),), np.zeros(1, np.uint64))
    elif kind == "flag_counts":  # the dtypes ledger.read.compliance passes
        flag_counts(np.zeros(8, np.uint64), np.zeros(0, np.int64), np.zeros(8, np.uint16), -1, 2,
                    np.zeros(3, np.int64))  # fmt: skip
    elif kind == "flag_page":
        flag_page(np.zeros(8, np.uint64), np.zeros(0, np.int64), np.zeros(8, np.uint16), -1, 1,
                  False, 2, 0, np.zeros(1, np.int64), np.zeros(1, np.int64))  # fmt: skip
    elif kind == "json_lines":
        json_lines(b'[{"a": 1}]', True)
    elif kind == "decimal_parts":  # price cells of a text feed (ledger.domain.cells)
        decimal_parts(np.array([0, 3], np.int32), np.frombuffer(b"1.5", np.uint8), np.ones(1, bool))
    elif kind == "integer_parts":
        integer_parts(np.array([0, 2], np.int32), np.frombuffer(b"-1", np.uint8), np.ones(1, bool))
    else:  # key_search
        key_search(np.arange(4, dtype=np.uint64), np.arange(2, dtype=np.uint64), np.zeros(2, bool))


def _warm_rollup(which: str, n_terms: int, n: int = 8) -> None:
    codes = np.zeros((L.N_SOURCES, n), np.uint16)
    one = np.ones((1, 1, 1), np.int64)
    rollup(
        codes=codes, term_src=np.arange(n_terms, dtype=np.int64),
        term_tab=np.zeros((n_terms, 1), np.int32), weight_src=np.int64(L.CHIP),
        weight_tab=np.zeros(1, np.int64), group_target=np.zeros(1, np.int64),
        day=codes[L.DAY], currency=codes[L.CURRENCY], amount=np.ones(n, np.int64),
        quantity=np.ones(n, np.int32), lines=np.ones(n, np.int8), num=one, den=one,
        ratio=np.ones((1, 1, 1)), fast_max=one, fixed_day=np.int64(-1), day0=np.int64(0),
        out=np.zeros((1, L.N_OUT), np.int64), err=np.zeros(L.ERR_SLOTS, np.int64),
        which=which,
    )  # fmt: skip


def _warm_screen(which: str, n: int = 8) -> None:
    codes = np.zeros((L.N_SOURCES, n), np.uint16)
    per_country = np.zeros((1, L.N_COUNTRIES), np.bool_)
    screen(
        chip=codes[L.CHIP], destination=codes[L.DESTINATION], entity=codes[L.ENTITY],
        day=codes[L.DAY], flags=np.zeros(n, np.uint8), chip_tpp=np.zeros(1),
        chip_area=np.ones(1), chip_origin=np.zeros(1, np.int32),
        entity_hq=np.zeros(1, np.int32), entity_parent_hq=np.full(1, -1, np.int32),
        rule_kind=np.zeros(1, np.int64), rule_from=np.zeros(1, np.int64),
        rule_to=np.full(1, -1, np.int64), rule_num=np.zeros((1, len(L.RULE_NUM))),
        rule_dest=per_country, rule_buyer=per_country, rule_origin=per_country,
        rule_product=np.zeros((1, 1), np.bool_), rule_exempt=per_country,
        out=np.zeros(n, np.uint64), which=which,
    )  # fmt: skip


def _warm_licences(which: str, n: int = 8) -> None:
    codes = np.zeros((L.N_SOURCES, n), np.uint16)
    one_i64 = np.zeros(1, np.int64)
    cells = np.ones((1, 1, 1), np.int64)
    licences(
        licence=np.ones(n, np.uint16), flags=np.full(n, L.ACTIVE, np.uint8), day=codes[L.DAY],
        chip=codes[L.CHIP], destination=codes[L.DESTINATION], entity=codes[L.ENTITY],
        currency=codes[L.CURRENCY], amount=np.ones(n, np.int64), quantity=np.ones(n, np.int32),
        lic_slot=np.array([-1, 0], np.int32), lic_kind=one_i64, lic_from=one_i64 * 0,
        lic_to=one_i64 - 1, lic_holder=one_i64, lic_chip_lo=one_i64 - 1, lic_chip_hi=one_i64,
        lic_chip_items=np.zeros(1, np.int32), lic_dest_lo=one_i64 - 1, lic_dest_hi=one_i64,
        lic_dest_items=np.zeros(1, np.int32), lic_target=one_i64, qty_limit=one_i64 - 1,
        val_limit=one_i64 - 1, num=cells, den=cells, ratio=np.ones((1, 1, 1)), fast_max=cells,
        day0=np.int64(0), out=np.zeros(n, np.uint8), which=which,
    )  # fmt: skip
