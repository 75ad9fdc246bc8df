"""CUDA twins of kernels.cpu: same inputs, same integers out.

Imported only when kernels.dispatch chose CUDA (or by tests under
NUMBA_ENABLE_CUDASIM=1). Grouped sums accumulate per block in shared memory
when the groups fit, then `cuda.atomic.add` the block's partials into `out`;
past that size each entry adds straight into `out` with global atomics.
Every add is checked like the CPU twin's: the old value an atomic returns shows
whether that add wrapped, and the carry goes to a global array of high words.
Host arrays are copied in and out; device arrays are used in place, so a
caller that keeps its columns on the device pays no transfer per query.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from kernels import layout as L
from kernels import rules
from kernels.cpu import check_err
from kernels.rules import line_bits
from kernels.scalar import (
    OVERFLOW,
    carry_of,
    cell_of,
    finish_totals,
    group_of,
    muldiv_half_even,
    wide_product,
    wrapping_add,
)

SHARED_GROUPS = 512  # groups x 4 int64 in shared memory: 16 KiB per block
THREADS_PER_BLOCK = 256
MAX_BLOCKS = 4096


@cuda.jit(device=True)
def _add_to(total, high, g, k, v):
    """total[g, k] += v atomically and exactly: the old value the atomic returns tells
    whether this add wrapped, and the carry goes to high[g, k] (global, rarely touched)."""
    if v == 0:
        return  # nothing to add: spares an atomic on the empty cells of a block flush
    old = cuda.atomic.add(total, (g, k), v)
    carry = carry_of(old, v, wrapping_add(old, v))
    if carry != 0:
        cuda.atomic.add(high, (g, k), carry)


@cuda.jit(device=True)
def _add(total, high, g, i, converted, lines, quantity, codes, weight_src, weight_tab):
    """One line into group g of total (a block's shared sums, or out itself)."""
    q = np.int64(quantity[i])
    _add_to(total, high, g, L.OUT_LINES, np.int64(lines[i]))
    _add_to(total, high, g, L.OUT_QUANTITY, q)
    _add_to(total, high, g, L.OUT_AMOUNT, converted)
    if weight_src >= 0:
        # exact for any weight: the CPU twin's narrow product when |w| < 2^32 is the same value
        ph, pl = wide_product(q, weight_tab[codes[weight_src, i]])
        if ph != 0:
            cuda.atomic.add(high, (g, L.OUT_WEIGHTED), ph)
        _add_to(total, high, g, L.OUT_WEIGHTED, pl)


@cuda.jit
def _rollup_kernel(
    codes, term_src, term_tab, weight_src, weight_tab, group_target, day, currency, amount,
    quantity, lines, num, den, ratio, fast_max, n_cur, n_days, fixed_day, day0, out, high, err,
):  # fmt: skip
    """num/den/ratio/fast_max arrive flat: offset = cell_of(...). high: out's high words."""
    n = amount.shape[0]
    n_groups = out.shape[0]
    use_shared = n_groups <= SHARED_GROUPS
    shared = cuda.shared.array((SHARED_GROUPS, L.N_OUT), dtype=np.int64)
    tid = cuda.threadIdx.x
    if use_shared:
        for g in range(tid, n_groups, cuda.blockDim.x):
            for k in range(L.N_OUT):
                shared[g, k] = 0
    cuda.syncthreads()
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        g = group_of(codes, term_src, term_tab, group_target, i)
        if g < 0:
            continue
        cell = cell_of(group_target[g], currency[i], day[i], fixed_day, day0, n_cur, n_days)
        converted = OVERFLOW
        if cell >= 0 and num[cell] > 0:
            converted = muldiv_half_even(
                amount[i], num[cell], den[cell], ratio[cell], fast_max[cell]
            )
        if converted == OVERFLOW:
            cuda.atomic.add(err, L.ERR_BAD_LINES, 1)
            cuda.atomic.min(err, L.ERR_FIRST_BAD_DAY, np.int64(day[i]))
            continue
        if use_shared:
            _add(shared, high, g, i, converted, lines, quantity, codes, weight_src, weight_tab)
        else:
            _add(out, high, g, i, converted, lines, quantity, codes, weight_src, weight_tab)
    cuda.syncthreads()
    if use_shared:  # the block's sums into out: its wraps were carried already
        for g in range(tid, n_groups, cuda.blockDim.x):
            for k in range(L.N_OUT):
                _add_to(out, high, g, k, shared[g, k])


def _blocks(n: int, threads: int) -> int:
    return max(1, min(MAX_BLOCKS, (n + threads - 1) // threads))


def _to_device(a):
    # host arrays travel; device arrays (anything else) are used in place
    return cuda.to_device(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a


def rollup(*, out, err, threads_per_block: int = THREADS_PER_BLOCK, **arrays) -> None:
    """Same contract as kernels.cpu.rollup: adds into out exactly; err as kernels.layout ERR_*."""
    n_cur, n_days = arrays["num"].shape[1], arrays["num"].shape[2]
    for name in ("num", "den", "ratio", "fast_max"):  # flat: one offset per line
        arrays[name] = np.ascontiguousarray(arrays[name]).reshape(-1)
    args = {k: (_to_device(v) if isinstance(v, np.ndarray) else v) for k, v in arrays.items()}
    check_err(err)
    d_out = cuda.to_device(out)
    d_high = cuda.to_device(np.zeros(out.shape, np.int64))
    start = np.zeros(L.ERR_SLOTS, np.int64)
    start[L.ERR_FIRST_BAD_DAY] = L.NO_BAD_DAY
    d_err = cuda.to_device(start)
    n = arrays["amount"].shape[0]
    _rollup_kernel[_blocks(n, threads_per_block), threads_per_block](
        args["codes"], args["term_src"], args["term_tab"], args["weight_src"],
        args["weight_tab"], args["group_target"], args["day"], args["currency"], args["amount"],
        args["quantity"], args["lines"], args["num"], args["den"], args["ratio"],
        args["fast_max"], np.int64(n_cur), np.int64(n_days), args["fixed_day"], args["day0"],
        d_out, d_high, d_err,
    )  # fmt: skip
    d_out.copy_to_host(out)
    err[:] = d_err.copy_to_host()
    finish_totals(out, d_high.copy_to_host(), err)


@cuda.jit
def _screen_kernel(
    chip, destination, entity, day, flags, day_bits, chip_bits, party_bits, flag_bits, n_dest,
    out,
):  # fmt: skip
    n = chip.shape[0]
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        out[i] = line_bits(
            i, chip, destination, entity, day, flags, day_bits, chip_bits, party_bits,
            flag_bits, n_dest,
        )  # fmt: skip


def screen(*, out, threads_per_block: int = THREADS_PER_BLOCK, **arrays) -> None:
    """Same contract as kernels.cpu.screen; the tables are built on the host."""
    t = rules.prepare(arrays)
    names = [
        "chip", "destination", "entity", "day", "flags", "day_bits", "chip_bits", "party_bits",
        "flag_bits",
    ]  # fmt: skip
    args = [_to_device(t[k]) for k in names]
    d_out = cuda.device_array(out.shape[0], dtype=np.uint64)
    n = out.shape[0]
    _screen_kernel[_blocks(n, threads_per_block), threads_per_block](*args, t["n_dest"], d_out)
    d_out.copy_to_host(out)
