"""CUDA twin of kernels.licences: the same two passes, the same integers out.

Pass 1 runs one thread per entry (grid-stride); the candidates are sorted on the host
(kernels.licences.sort_candidates, which also gathers their columns); pass 2 runs one
thread per licence, each walking its own candidates in depletion order. Imported only
when kernels.dispatch chose CUDA (or by tests under NUMBA_ENABLE_CUDASIM=1).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from kernels.cuda import THREADS_PER_BLOCK, _blocks, _to_device
from kernels.licences import CLASSIFY_ARGS, DEPLETE_ARGS, candidates, classify, deplete_slot


@cuda.jit
def _classify_kernel(
    licence, flags, day, chip, destination, entity, lic_slot, lic_kind, lic_from, lic_to,
    lic_holder, lic_chip_lo, lic_chip_hi, lic_chip_items, lic_dest_lo, lic_dest_hi,
    lic_dest_items, out,
):  # fmt: skip
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = classify(
            i, licence, flags, day, chip, destination, entity, lic_slot, lic_kind, lic_from,
            lic_to, lic_holder, lic_chip_lo, lic_chip_hi, lic_chip_items, lic_dest_lo,
            lic_dest_hi, lic_dest_items,
        )  # fmt: skip


@cuda.jit
def _deplete_kernel(
    order, seg, quantity, amount, currency, day, lic_kind, lic_target, qty_limit, val_limit, num,
    den, ratio, fast_max, n_cur, n_days, day0, out, value, cum_q, cum_v,
):  # fmt: skip
    for s in range(cuda.grid(1), seg.shape[0] - 1, cuda.gridsize(1)):
        deplete_slot(
            s, order, seg, quantity, amount, currency, day, lic_kind, lic_target, qty_limit,
            val_limit, num, den, ratio, fast_max, n_cur, n_days, day0, out, value, cum_q, cum_v,
        )  # fmt: skip


def check(out: np.ndarray, threads_per_block: int = THREADS_PER_BLOCK, **arrays) -> dict:
    """Same contract as kernels.licences.check."""
    n = out.shape[0]
    d_out = cuda.device_array(n, dtype=np.uint8)
    args = [_to_device(np.ascontiguousarray(arrays[k])) for k in CLASSIFY_ARGS]
    _classify_kernel[_blocks(n, threads_per_block), threads_per_block](*args, d_out)
    d_out.copy_to_host(out)
    n_slots = arrays["lic_kind"].shape[0]
    order, seg, gathered = candidates(out, arrays)
    m = order.shape[0]
    num = arrays["num"]
    n_cur, n_days = np.int64(num.shape[1]), np.int64(num.shape[2])
    flat = [_to_device(g if m else np.zeros(1, g.dtype)) for g in gathered]
    flat += [_to_device(np.ascontiguousarray(arrays[k]).reshape(-1)) for k in DEPLETE_ARGS]
    results = [cuda.to_device(np.zeros(max(m, 1), np.int64)) for _ in range(3)]
    if n_slots:
        _deplete_kernel[_blocks(n_slots, threads_per_block), threads_per_block](
            _to_device(order if m else np.zeros(1, np.int64)), _to_device(seg), *flat, n_cur,
            n_days, np.int64(arrays["day0"]), d_out, *results,
        )  # fmt: skip
        d_out.copy_to_host(out)
    value, cum_q, cum_v = (r.copy_to_host()[:m] for r in results)
    return {"order": order, "seg": seg, "value": value, "cum_q": cum_q, "cum_v": cum_v}
