"""CUDA twins of kernels.cpu: same inputs, same integers out.

Imported only when kernels.dispatch chose CUDA (or by tests under
NUMBA_ENABLE_CUDASIM=1). Grouped sums accumulate per block in shared memory
when the groups fit, then `cuda.atomic.add` the block's partials into `out`;
past that size each entry adds straight into `out` with global atomics.
Host arrays are copied in and out; device arrays are used in place, so a
caller that keeps its columns on the device pays no transfer per query.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from kernels.scalar import OVERFLOW, muldiv_half_even, screen_line

SHARED_GROUPS = 512  # groups x 4 int64 in shared memory: 16 KiB per block
THREADS_PER_BLOCK = 256
MAX_BLOCKS = 4096


@cuda.jit
def _rollup_kernel(
    codes, term_src, term_tab, weight_src, weight_tab, group_target, day, currency, amount,
    quantity, lines, num, den, ratio, fast_max, fixed_day, day0, out, err,
):  # fmt: skip
    n = amount.shape[0]
    n_groups = out.shape[0]
    n_terms = term_src.shape[0]
    n_days = num.shape[2]
    use_shared = n_groups <= SHARED_GROUPS
    shared = cuda.shared.array((SHARED_GROUPS, 4), dtype=np.int64)
    tid = cuda.threadIdx.x
    if use_shared:
        for g in range(tid, n_groups, cuda.blockDim.x):
            for k in range(4):
                shared[g, k] = 0
    cuda.syncthreads()
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, n, stride):
        g = 0
        keep = True
        for k in range(n_terms):
            v = term_tab[k, codes[term_src[k], i]]
            if v < 0:
                keep = False
                break
            g += v
        if not keep:
            continue
        target = group_target[g]
        if target < 0:
            continue
        d = (fixed_day if fixed_day >= 0 else np.int64(day[i])) - day0
        c = currency[i]
        converted = OVERFLOW
        if 0 <= d < n_days and den[target, c, d] > 0 and num[target, c, d] > 0:
            converted = muldiv_half_even(
                amount[i], num[target, c, d], den[target, c, d], ratio[target, c, d],
                fast_max[target, c, d],
            )  # fmt: skip
        if converted == OVERFLOW:
            cuda.atomic.add(err, 0, 1)
            cuda.atomic.min(err, 1, np.int64(day[i]))
            continue
        weighted = np.int64(0)
        if weight_src >= 0:
            weighted = np.int64(quantity[i]) * weight_tab[codes[weight_src, i]]
        if use_shared:
            cuda.atomic.add(shared, (g, 0), np.int64(lines[i]))
            cuda.atomic.add(shared, (g, 1), np.int64(quantity[i]))
            cuda.atomic.add(shared, (g, 2), converted)
            cuda.atomic.add(shared, (g, 3), weighted)
        else:
            cuda.atomic.add(out, (g, 0), np.int64(lines[i]))
            cuda.atomic.add(out, (g, 1), np.int64(quantity[i]))
            cuda.atomic.add(out, (g, 2), converted)
            cuda.atomic.add(out, (g, 3), weighted)
    cuda.syncthreads()
    if use_shared:
        for g in range(tid, n_groups, cuda.blockDim.x):
            for k in range(4):
                if shared[g, k] != 0:
                    cuda.atomic.add(out, (g, k), shared[g, k])


def _blocks(n: int, threads: int) -> int:
    return max(1, min(MAX_BLOCKS, (n + threads - 1) // threads))


def _to_device(a):
    # host arrays travel; device arrays (anything else) are used in place
    return cuda.to_device(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a


def rollup(*, out, err, threads_per_block: int = THREADS_PER_BLOCK, **arrays) -> None:
    """Same contract as kernels.cpu.rollup (adds into out; err = bad lines, min bad day)."""
    args = {k: (_to_device(v) if isinstance(v, np.ndarray) else v) for k, v in arrays.items()}
    d_out = cuda.to_device(out)
    d_err = cuda.to_device(np.array([0, 2**62], dtype=np.int64))
    n = arrays["amount"].shape[0]
    _rollup_kernel[_blocks(n, threads_per_block), threads_per_block](
        args["codes"], args["term_src"], args["term_tab"], args["weight_src"],
        args["weight_tab"], args["group_target"], args["day"], args["currency"], args["amount"],
        args["quantity"], args["lines"], args["num"], args["den"], args["ratio"],
        args["fast_max"], args["fixed_day"], args["day0"], d_out, d_err,
    )  # fmt: skip
    d_out.copy_to_host(out)
    err[:] = d_err.copy_to_host()


@cuda.jit
def _screen_kernel(
    chip, destination, entity, day, flags, chip_tpp, chip_area, chip_origin, entity_hq,
    entity_parent_hq, rule_kind, rule_from, rule_to, rule_num, rule_dest, rule_buyer,
    rule_origin, rule_product, rule_exempt, out,
):  # fmt: skip
    n = chip.shape[0]
    n_rules = rule_kind.shape[0]
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        f = flags[i]
        bits = np.uint64(0)
        if f & 8:
            c = chip[i]
            tpp = chip_tpp[c]
            density = tpp / chip_area[c] if chip_area[c] > 0 else 0.0
            d = np.int64(day[i])
            hq = entity_hq[entity[i]]
            parent = entity_parent_hq[entity[i]]
            origin = chip_origin[c]
            for r in range(n_rules):
                if d < rule_from[r] or (rule_to[r] >= 0 and d > rule_to[r]):
                    continue
                buyer = rule_buyer[r, hq] or (parent >= 0 and rule_buyer[r, parent])
                if screen_line(
                    rule_kind[r], tpp, density, rule_product[r, c], rule_origin[r, origin],
                    rule_dest[r, destination[i]], buyer, rule_exempt[r, hq], (f & 1) != 0,
                    (f & 2) != 0, (f & 4) != 0, rule_num[r, 0], rule_num[r, 1], rule_num[r, 2],
                    rule_num[r, 3], rule_num[r, 4], rule_num[r, 5],
                ):  # fmt: skip
                    bits |= np.uint64(1) << np.uint64(r)
        out[i] = bits


def screen(*, out, threads_per_block: int = THREADS_PER_BLOCK, **arrays) -> None:
    names = [
        "chip", "destination", "entity", "day", "flags", "chip_tpp", "chip_area", "chip_origin",
        "entity_hq", "entity_parent_hq", "rule_kind", "rule_from", "rule_to", "rule_num",
        "rule_dest", "rule_buyer", "rule_origin", "rule_product", "rule_exempt",
    ]  # fmt: skip
    args = [_to_device(arrays[k]) for k in names]
    d_out = cuda.device_array(out.shape[0], dtype=np.uint64)
    n = out.shape[0]
    _screen_kernel[_blocks(n, threads_per_block), threads_per_block](*args, d_out)
    d_out.copy_to_host(out)
