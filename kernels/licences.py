"""The licence check over the resident columns: which lines a licence on file covers, and how
far each licence is depleted. The CPU twin; kernels.licences_cuda is the CUDA one.

A licence is a depleting budget (DESIGN section 1). An active line that names a licence
(its `licence` code, 0 for none) is first classified on its own (pass 1, parallel over
entries): not on file, not valid on its order day, out of scope (chip, destination,
holder), or a candidate. The candidates of each licence then consume its quantity and
value in order of order day, then feed order (entry index), and a candidate is covered
while the running totals through it stay within the caps plus overrun (pass 2, one
sequential pass per licence, licences in parallel). Every candidate consumes, covered or
not, as a commitment counts against a budget whether or not it fits: the licence's
remaining goes negative by what is committed beyond it. Only active entries take part,
so a cancelled or revised line gives its share back by construction.

Inputs (named in kernels.layout; ledger.read.licences builds them):
  licence[i]            uint16 code of entry i's licence reference (0: none)
  flags[i]              the resident flags (LEASE, REVIEWED, ACTIVE)
  day, chip, destination, entity, currency [i]: uint16 codes; amount[i] int64 minor units,
  quantity[i] int32
  lic_slot[code]        the licence on file with that reference (-1: none)
  per slot s: lic_kind, lic_from, lic_to (-1 open), lic_holder (entity code, -1 unknown),
  lic_chip_lo/hi and lic_dest_lo/hi (a range of lic_chip_items / lic_dest_items, or
  SCOPE_ALL), qty_limit / val_limit (the caps plus overrun, floored; NO_CAP), lic_target
  (the conversion table of its currency)
  num, den, ratio, fast_max: the conversion cells, flat (cell_of: target, currency, day)
Outputs: out[i] = the screen's flags (resident bits, LICENSED / NOTIFIED when covered)
with the verdict (layout.LIC_*) in the bits from LIC_SHIFT; per candidate, in depletion
order: its entry index (and each licence's range of them, `seg`), converted value
(scalar.OVERFLOW when not convertible) and the licence's running quantity and value
through it.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from kernels import layout as L
from kernels.scalar import OVERFLOW, cell_of, muldiv_half_even

RESIDENT_BITS = L.LEASE | L.REVIEWED | L.ACTIVE
VALUE_SATURATED = np.int64(2**63 - 1)  # a running value past int64 reads this (beyond any cap)


@register_jitable
def classify(
    i, licence, flags, day, chip, destination, entity, lic_slot, lic_kind, lic_from, lic_to,
    lic_holder, lic_chip_lo, lic_chip_hi, lic_chip_items, lic_dest_lo, lic_dest_hi,
    lic_dest_items,
):  # fmt: skip
    """Entry i's screen flags with its pass-1 verdict (a candidate reads as covered).

    The CUDA twin calls it per entry; the CPU twin (`_classify_chunk`) writes the same
    body out in its loop: called per entry on the CPU, even inlined, the references of
    its 17 array arguments were counted each time (20x slower, measured). The kernel
    tests hold both twins to one plain-Python reference.
    """
    f = np.uint8(flags[i] & RESIDENT_BITS)
    code = licence[i]
    verdict = L.LIC_NONE
    bits = np.uint8(0)
    if (f & L.ACTIVE) != 0 and code != 0:
        s = lic_slot[code]
        d = np.int64(day[i])
        if s < 0:
            verdict = L.LIC_NOT_ON_FILE
        elif d < lic_from[s] or (lic_to[s] >= 0 and d > lic_to[s]):
            verdict = L.LIC_EXPIRED
        elif lic_holder[s] != np.int64(entity[i]):
            verdict = L.LIC_OUT_OF_SCOPE
        else:
            chip_ok = lic_chip_lo[s] == L.SCOPE_ALL
            for k in range(max(lic_chip_lo[s], 0), lic_chip_hi[s]):
                chip_ok = chip_ok or lic_chip_items[k] == np.int32(chip[i])
            dest_ok = lic_dest_lo[s] == L.SCOPE_ALL
            for k in range(max(lic_dest_lo[s], 0), lic_dest_hi[s]):
                dest_ok = dest_ok or lic_dest_items[k] == np.int32(destination[i])
            if chip_ok and dest_ok:
                verdict = L.LIC_COVERED
                # a notification (layout.LIC_KINDS) satisfies notification rules only
                bits = np.uint8(L.NOTIFIED if lic_kind[s] == 1 else L.NOTIFIED | L.LICENSED)
            else:
                verdict = L.LIC_OUT_OF_SCOPE
    return f | bits | np.uint8(verdict << L.LIC_SHIFT)


@register_jitable
def deplete_slot(
    s, order, seg, quantity, amount, currency, day, lic_kind, lic_target, qty_limit, val_limit,
    num, den, ratio, fast_max, n_cur, n_days, day0, out, value, cum_q, cum_v,
):  # fmt: skip
    """Licence s's candidates order[seg[s]:seg[s+1]], in depletion order: running totals,
    and the verdict of each (covered while within both caps and its value is known).
    quantity, amount, currency and day are the candidates' own, gathered in that order
    (`sort_candidates`): read at j, not at the entry index, so the walk reads memory in
    sequence instead of a cache miss per column per candidate (10x, measured)."""
    run_q = np.int64(0)
    run_v = np.int64(0)
    for j in range(seg[s], seg[s + 1]):
        i = order[j]
        run_q += np.int64(quantity[j])
        cell = cell_of(lic_target[s], currency[j], day[j], np.int64(-1), day0, n_cur, n_days)
        v = OVERFLOW
        if cell >= 0 and num[cell] > 0:
            v = muldiv_half_even(amount[j], num[cell], den[cell], ratio[cell], fast_max[cell])
        if v != OVERFLOW:
            if run_v > VALUE_SATURATED - v:
                run_v = VALUE_SATURATED  # beyond int64: beyond every cap, never wrapped
            else:
                run_v += v
        value[j] = v
        cum_q[j] = run_q
        cum_v[j] = run_v
        verdict = L.LIC_COVERED
        if v == OVERFLOW:
            verdict = L.LIC_NO_RATE
        elif (qty_limit[s] != L.NO_CAP and run_q > qty_limit[s]) or (
            val_limit[s] != L.NO_CAP and run_v > val_limit[s]
        ):
            verdict = L.LIC_EXHAUSTED
        if verdict != L.LIC_COVERED:
            keep = np.uint8(out[i] & RESIDENT_BITS)
            out[i] = keep | np.uint8(verdict << L.LIC_SHIFT)


@njit(nogil=True, cache=True)
def _classify_chunk(
    licence, flags, day, chip, destination, entity, lic_slot, lic_kind, lic_from, lic_to,
    lic_holder, lic_chip_lo, lic_chip_hi, lic_chip_items, lic_dest_lo, lic_dest_hi,
    lic_dest_items, lo, hi, out,
):  # fmt: skip
    """`classify` for entries lo..hi-1, its body written out (see classify)."""
    for i in range(lo, hi):
        f = np.uint8(flags[i] & RESIDENT_BITS)
        code = licence[i]
        verdict = L.LIC_NONE
        bits = np.uint8(0)
        if (f & L.ACTIVE) != 0 and code != 0:
            s = lic_slot[code]
            d = np.int64(day[i])
            if s < 0:
                verdict = L.LIC_NOT_ON_FILE
            elif d < lic_from[s] or (lic_to[s] >= 0 and d > lic_to[s]):
                verdict = L.LIC_EXPIRED
            elif lic_holder[s] != np.int64(entity[i]):
                verdict = L.LIC_OUT_OF_SCOPE
            else:
                chip_ok = lic_chip_lo[s] == L.SCOPE_ALL
                for k in range(max(lic_chip_lo[s], 0), lic_chip_hi[s]):
                    chip_ok = chip_ok or lic_chip_items[k] == np.int32(chip[i])
                dest_ok = lic_dest_lo[s] == L.SCOPE_ALL
                for k in range(max(lic_dest_lo[s], 0), lic_dest_hi[s]):
                    dest_ok = dest_ok or lic_dest_items[k] == np.int32(destination[i])
                if chip_ok and dest_ok:
                    verdict = L.LIC_COVERED
                    bits = np.uint8(L.NOTIFIED if lic_kind[s] == 1 else L.NOTIFIED | L.LICENSED)
                else:
                    verdict = L.LIC_OUT_OF_SCOPE
        out[i] = f | bits | np.uint8(verdict << L.LIC_SHIFT)


@njit(nogil=True, cache=True)
def _deplete_chunk(
    order, seg, quantity, amount, currency, day, lic_kind, lic_target, qty_limit, val_limit, num,
    den, ratio, fast_max, n_cur, n_days, day0, lo, hi, out, value, cum_q, cum_v,
):  # fmt: skip
    for s in range(lo, hi):
        deplete_slot(
            s, order, seg, quantity, amount, currency, day, lic_kind, lic_target, qty_limit,
            val_limit, num, den, ratio, fast_max, n_cur, n_days, day0, out, value, cum_q, cum_v,
        )  # fmt: skip


CLASSIFY_ARGS = (
    "licence", "flags", "day", "chip", "destination", "entity", "lic_slot", "lic_kind",
    "lic_from", "lic_to", "lic_holder", "lic_chip_lo", "lic_chip_hi", "lic_chip_items",
    "lic_dest_lo", "lic_dest_hi", "lic_dest_items",
)  # fmt: skip
DEPLETE_ARGS = (
    "lic_kind", "lic_target", "qty_limit", "val_limit", "num", "den", "ratio", "fast_max",
)  # fmt: skip


GATHERED = ("quantity", "amount", "currency", "day")  # the candidates' columns pass 2 reads
N_DAY_KEYS = 2**16  # order days are uint16 codes: one counting-sort bucket per value


@njit(nogil=True, cache=True)
def sort_candidates(out, licence, lic_slot, day, quantity, amount, currency, n_slots):
    """(order, seg, quantity, amount, currency, day of the candidates in that order): the
    pass-1 candidates sorted by licence, order day, entry index, and each licence's range
    of them (`seg`). Two stable counting sorts (by day, then by licence), each reading
    its input in sequence: no comparison sort, no random reads of the entry columns. The
    by-day pass scatters one 24-byte record per candidate (entry, amount, and quantity,
    currency and day packed in one word) rather than five arrays: one cache line written
    per candidate, not five (the scatter is most of the time at 10M lines)."""
    n = out.shape[0]
    start = np.zeros(N_DAY_KEYS + 1, np.int64)
    for i in range(n):
        if (out[i] >> L.LIC_SHIFT) == L.LIC_COVERED:
            start[np.int64(day[i]) + 1] += 1
    for d in range(N_DAY_KEYS):
        start[d + 1] += start[d]
    m = start[N_DAY_KEYS]
    rec = np.empty((m, 3), np.int64)
    for i in range(n):  # entries in index order: the sort is stable
        if (out[i] >> L.LIC_SHIFT) == L.LIC_COVERED:
            d = np.int64(day[i])
            p = start[d]
            start[d] += 1
            rec[p, 0], rec[p, 1] = i, amount[i]
            # quantity (signed, int32) in the high half; currency and day codes below
            rec[p, 2] = (np.int64(quantity[i]) << 32) | (np.int64(currency[i]) << 16) | d
    seg = np.zeros(n_slots + 1, np.int64)
    for j in range(m):
        seg[lic_slot[licence[rec[j, 0]]] + 1] += 1
    for s in range(n_slots):
        seg[s + 1] += seg[s]
    fill = seg[:-1].copy()
    order, g_q, g_a = np.empty(m, np.int64), np.empty(m, np.int32), np.empty(m, np.int64)
    g_c, g_d = np.empty(m, np.uint16), np.empty(m, np.uint16)
    for j in range(m):
        s = lic_slot[licence[rec[j, 0]]]
        p = fill[s]
        fill[s] += 1
        packed = rec[j, 2]
        order[p], g_a[p], g_q[p] = rec[j, 0], rec[j, 1], np.int32(packed >> 32)
        g_c[p], g_d[p] = np.uint16((packed >> 16) & 0xFFFF), np.uint16(packed & 0xFFFF)
    return order, seg, g_q, g_a, g_c, g_d


def candidates(out: np.ndarray, arrays: dict) -> tuple[np.ndarray, np.ndarray, list]:
    """(order, seg, the GATHERED columns in that order) for out after pass 1."""
    n_slots = arrays["lic_kind"].shape[0]
    order, seg, *gathered = sort_candidates(
        out, arrays["licence"], arrays["lic_slot"], arrays["day"], arrays["quantity"],
        arrays["amount"], arrays["currency"], np.int64(n_slots),
    )  # fmt: skip
    return order, seg, gathered


def check(out: np.ndarray, n_threads: int, **arrays) -> dict[str, np.ndarray]:
    """Fill out (the screen's flags with verdicts); returns the candidates' depletion."""
    from kernels.cpu import _in_chunks, _n_chunks

    n = out.shape[0]
    a = [arrays[k] for k in CLASSIFY_ARGS]
    _in_chunks(n, _n_chunks(n, n_threads), lambda _t, lo, hi: _classify_chunk(*a, lo, hi, out))
    n_slots = arrays["lic_kind"].shape[0]
    order, seg, gathered = candidates(out, arrays)
    m = order.shape[0]
    result = {
        "order": order, "seg": seg, "value": np.zeros(m, np.int64), "cum_q": np.zeros(m, np.int64),
        "cum_v": np.zeros(m, np.int64),
    }  # fmt: skip
    num = arrays["num"]
    n_cur, n_days = np.int64(num.shape[1]), np.int64(num.shape[2])
    flat = [np.ascontiguousarray(arrays[k]).reshape(-1) if k in ("num", "den", "ratio",
            "fast_max") else arrays[k] for k in DEPLETE_ARGS]  # fmt: skip
    chunks = max(1, min(n_threads, n_slots))

    def run(_t: int, lo: int, hi: int) -> None:
        _deplete_chunk(
            order, seg, *gathered, *flat, n_cur, n_days, np.int64(arrays["day0"]), lo, hi, out,
            result["value"], result["cum_q"], result["cum_v"],
        )  # fmt: skip

    if n_slots:
        _in_chunks(n_slots, chunks, run)
    return result
