"""The roll-up on the GPU, when CUDA is present: device-resident columns at 10M and 100M lines.

The ledger's resident columns are tiled to each size (a sum over r copies is r times the
sum, which checks the answer against the CPU kernel exactly), copied to the device once
(timed apart), then the same roll-up runs through `kernels.dispatch` on the device arrays;
its time includes the small per-query tables and the answer's copy back. The rate is
also given as a fraction of the device's memory bandwidth.
"""

from __future__ import annotations

import time

import numpy as np

from bench.rollup import BY
from bench.timing import interleave

SIZES = (10_000_000, 100_000_000)
BYTES_PER_LINE = 4 * 2 + 8 + 4 + 1  # entity, chip, day, currency codes; amount, quantity, lines


def _peak_bandwidth(device) -> float | None:
    """Bytes/s from the memory clock and bus width (double data rate); None if unknown."""
    try:
        clock_hz = device.MEMORY_CLOCK_RATE * 1000
        bus_bytes = device.GLOBAL_MEMORY_BUS_WIDTH / 8
    except Exception:  # attribute missing in this numba-cuda or driver
        return None
    return 2 * clock_hz * bus_bytes if clock_hz and bus_bytes else None


def _query(q) -> dict:
    """The roll-up's per-query inputs, as the totals use case builds them."""
    terms, _labels, _strides, n_groups = q._terms(BY, {})
    conv = q._conversion(["USD"])
    term_src, term_tab = q._term_arrays(terms)
    return {
        "term_src": term_src, "term_tab": term_tab, "weight_src": np.int64(-1),
        "weight_tab": np.zeros(max(len(q.cols.lookups.chip_tpp), 1), np.int64),
        "group_target": np.zeros(n_groups, np.int64), "num": conv.num, "den": conv.den,
        "ratio": conv.ratio, "fast_max": conv.fast_max, "fixed_day": np.int64(conv.fixed_day),
        "day0": np.int64(conv.day0),
    }  # fmt: skip


def measure(q, runs: int, sizes: tuple[int, ...] = SIZES) -> dict:
    from numba import cuda

    from kernels import dispatch, layout
    from ledger.resident import columns as C

    n = q.cols.n
    view = q.cols.view()
    base = {
        "codes": np.ascontiguousarray(view["codes"][:, :n]),
        "amount": view["amount"], "quantity": view["quantity"], "lines": view["lines"],
    }  # fmt: skip
    query = _query(q)
    n_groups = query["group_target"].shape[0]

    def run(columns: dict, which: str) -> np.ndarray:
        out = np.zeros((n_groups, 4), np.int64)
        err = np.zeros(layout.ERR_SLOTS, np.int64)
        dispatch.rollup(
            codes=columns["codes"], day=columns["codes"][C.DAY],
            currency=columns["codes"][C.CURRENCY], amount=columns["amount"],
            quantity=columns["quantity"], lines=columns["lines"], out=out, err=err,
            which=which, **{k: (v.copy() if isinstance(v, np.ndarray) else v)
                            for k, v in query.items()},
        )  # fmt: skip
        if err[0]:
            raise AssertionError(f"GPU roll-up: {err[0]} lines could not be converted")
        return out

    want_one = run(base, "cpu")
    device = cuda.get_current_device()
    peak = _peak_bandwidth(device)
    name = getattr(device, "name", "CUDA simulator")
    name = name.decode() if isinstance(name, bytes) else str(name)
    out: dict = {"device": name, "peak_bandwidth_gb_s": peak / 1e9 if peak else None, "by": BY}
    for size in sizes:
        reps = max(1, round(size / max(n, 1)))
        host = {
            "codes": np.tile(base["codes"], (1, reps)),
            **{k: np.tile(base[k], reps) for k in ("amount", "quantity", "lines")},
        }
        started = time.perf_counter()
        dev = {k: cuda.to_device(v) for k, v in host.items()}
        cuda.synchronize()
        transfer_ms = (time.perf_counter() - started) * 1000
        del host
        want = want_one * reps

        def check(_name: str, got: np.ndarray, want=want) -> None:
            if not np.array_equal(got, want):
                raise AssertionError("GPU roll-up differs from the CPU kernel's")

        timed = interleave({"kernel_ms": lambda r, dev=dev: run(dev, "cuda")}, runs, check)
        lines = reps * n
        median_s = timed["kernel_ms"]["median"] / 1000
        bandwidth = lines * BYTES_PER_LINE / median_s if median_s else None
        out[str(lines)] = {
            "lines": lines,
            "transfer_ms": transfer_ms,
            "kernel_ms": timed["kernel_ms"],
            "lines_per_s": lines / median_s if median_s else None,
            "bandwidth_gb_s": bandwidth / 1e9 if bandwidth else None,
            "fraction_of_peak": bandwidth / peak if bandwidth and peak else None,
        }
        del dev
    return out
