"""CPU kernels: chunks run in parallel on one pool of threads, each with a private partial.

The compiled bodies release the GIL (`nogil=True`) and run on a small shared
thread pool (kernels.pool) rather than numba's `prange`: the roll-up is
compiled once per number of terms (see `_term_tuples`), and numba compiles a
parallel loop several times slower than a plain one; and with one pool,
no OpenMP workers are left spin-waiting after one kernel while the next runs.

Each kernel is a loop over typed arrays that fills `out`. Inputs (named in
kernels.layout; `ledger.resident.columns` builds them):
  codes[src, i]     uint16 dictionary code of source column `src` (layout.ENTITY ...) of entry i
  term_src[t]       the source column of term t; term_tab[t, code] its contribution
                    to the group index, or -1 when the entry is filtered out
  group_target[g]   which conversion table group g converts into (-1: skip the group)
  num/den/ratio/fast_max[target, currency, day - day0]: the conversion cells
The roll-up's sums are exact: each cell keeps a high word beside its int64 low
word (kernels.scalar "exact totals"), so a total beyond int64 is reported in
err[layout.ERR_OUT_OF_RANGE], never wrapped.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit

from kernels import layout as L
from kernels import rules
from kernels.pool import in_chunks as _in_chunks
from kernels.pool import n_chunks as _n_chunks
from kernels.rules import line_bits
from kernels.scalar import (
    OVERFLOW,
    carry_of,
    cell_of,
    finish_totals,
    group_of,
    muldiv_half_even,
    nearest_if_clear,
    wide_product,
    wrapped,
    wrapping_add,
)

# A chunk's err row has one slot more than err: how many adds carried into the
# high words, so that the combine reads a chunk's high words only when one did.
CARRIES = L.ERR_SLOTS
# |lines| <= 2^7 and |quantity| <= 2^31 per line: below 2^32 lines their sums fit in
# int64 by arithmetic, so the hot loop adds them unchecked (the combine checks all).
MAX_LINES = 2**32


@njit(cache=True, inline="always")
def _add(acc, high, bad, g, i, converted, lines, quantity, codes, weight_src, weight_tab,
         wide_weights):  # fmt: skip
    """One line into group g, never a silent wrap: the exact pass's add.

    Lines (int8) and quantity (int32) cannot leave int64 in fewer than 2^32 lines,
    which `rollup` checks once per call. Amount and weighted take checked adds:
    one test per line, and a wrap carries into `high` (bad[CARRIES] counts).
    Not for the hot loop: numba counts references to the arrays passed to an
    inlined helper on every call, which made that loop 3-4x slower (`_hot`).
    """
    q = np.int64(quantity[i])
    acc[g, L.OUT_LINES] += np.int64(lines[i])
    acc[g, L.OUT_QUANTITY] += q
    a2 = acc[g, L.OUT_AMOUNT]
    s2 = wrapping_add(a2, converted)
    acc[g, L.OUT_AMOUNT] = s2
    if wrapped(a2, converted, s2) < 0:
        high[g, L.OUT_AMOUNT] += carry_of(a2, converted, s2)
        bad[CARRIES] += 1
    if weight_src >= 0:
        w = weight_tab[codes[weight_src, i]]
        ph, pl = np.int64(0), q * w  # |q| <= 2^31 and |w| < 2^32: the product is exact
        if wide_weights:  # some |weight| >= 2^32: q x w may not fit in int64
            ph, pl = wide_product(q, w)
        a3 = acc[g, L.OUT_WEIGHTED]
        s3 = wrapping_add(a3, pl)
        acc[g, L.OUT_WEIGHTED] = s3
        if (wrapped(a3, pl, s3) < 0) | (ph != 0):
            high[g, L.OUT_WEIGHTED] += carry_of(a3, pl, s3) + ph
            bad[CARRIES] += 1


@njit(cache=True, inline="always")
def _locate(
    codes, term_src, term_tab, group_target, currency, day, fixed_day, day0, n_cur, n_days,
    num_flat, i,
):  # fmt: skip
    """(group, conversion cell) of entry i: group -1 when dropped, cell -1 when it has no rate."""
    g = group_of(codes, term_src, term_tab, group_target, i)
    if g < 0:
        return g, np.int64(-1)
    cell = cell_of(group_target[g], currency[i], day[i], fixed_day, day0, n_cur, n_days)
    # num is 0 in a cell where either currency has no rate yet
    if cell >= 0 and num_flat[cell] <= 0:
        cell = np.int64(-1)
    return g, cell


PENDING = 16384  # near-tie lines remembered per chunk for the exact pass
DROPPED = -(2**30)  # a term's value for a filtered-out code: any sum with it stays negative


def rollup(
    codes, term_src, term_tab, weight_src, weight_tab, group_target, day, currency, amount,
    quantity, lines, num, den, ratio, fast_max, fixed_day, day0, n_threads, out, err,
):  # fmt: skip
    """out[g] += (lines, quantity, converted amount, quantity x weight), exactly.

    err (kernels.layout ERR_*) = (count of lines that cannot be converted, the
    earliest such order day, a bit per out column whose total left int64). Each
    sum is kept exact past int64 (a high word per cell), so a total beyond range
    is reported, never wrapped; such a cell reads layout.OUT_OF_RANGE.
    Term tables arrive as one 2-D array (the CUDA twin's form); the compiled loop
    gets them as tuples of 1-D rows instead (`_term_tuples`).
    """
    check_err(err)
    term_codes, term_tabs = _term_tuples(codes, term_src, term_tab, currency)
    many_targets = bool((group_target > 0).any())  # groups convert into other currencies
    targets_vary = bool((group_target != 0).any())  # ... or some groups are skipped
    weighted = weight_src >= 0 and weight_tab.size > 0
    max_weight = float(np.abs(weight_tab.astype(np.float64)).max()) if weighted else 0.0
    wide_weights = max_weight >= 2**32
    n = amount.shape[0]
    if n >= MAX_LINES:
        raise ValueError(f"at most {MAX_LINES - 1} lines per roll-up call (int64 counts)")
    n_chunks = _n_chunks(n, n_threads)
    parts = np.zeros((n_chunks, out.shape[0], L.N_OUT), dtype=np.int64)
    # high words: numpy's zeros are lazily mapped pages, touched only where an add carries
    highs = np.zeros((n_chunks, out.shape[0], L.N_OUT), dtype=np.int64)
    bad = np.zeros((n_chunks, L.ERR_SLOTS + 1), dtype=np.int64)
    bad[:, L.ERR_FIRST_BAD_DAY] = L.NO_BAD_DAY

    def run(t: int, lo: int, hi: int) -> None:
        _chunk(
            term_codes, term_tabs, codes, term_src, term_tab, weight_src, weight_tab,
            wide_weights, max_weight, group_target, day, currency, amount, quantity, lines, num,
            den, ratio, fast_max, fixed_day, day0, many_targets, targets_vary, lo, hi, parts[t],
            highs[t], bad[t],
        )  # fmt: skip

    _in_chunks(n, n_chunks, run)
    high = np.zeros(out.shape, dtype=np.int64)
    _combine(parts, highs, bad[:, CARRIES], out, high)
    err[L.ERR_BAD_LINES] = bad[:, L.ERR_BAD_LINES].sum()
    err[L.ERR_FIRST_BAD_DAY] = bad[:, L.ERR_FIRST_BAD_DAY].min()
    finish_totals(out, high, err)


def check_err(err: np.ndarray) -> None:
    if err.shape != (L.ERR_SLOTS,) or err.dtype != np.int64:
        raise ValueError(f"err must be int64 of shape ({L.ERR_SLOTS},) (kernels.layout.ERR_*)")


@njit(nogil=True, cache=True)
def _combine(parts, highs, carries, out, high):
    """out += the chunks' partials with checked adds; high gathers every carry.

    A chunk's own high words are read only when its adds carried at all.
    """
    for t in range(parts.shape[0]):
        part = parts[t]
        for g in range(part.shape[0]):
            for k in range(part.shape[1]):
                a = out[g, k]
                v = part[g, k]
                s = wrapping_add(a, v)
                out[g, k] = s
                high[g, k] += carry_of(a, v, s)
                if carries[t] > 0:
                    high[g, k] += highs[t, g, k]


def _term_tuples(codes, term_src, term_tab, filler) -> tuple[tuple, tuple]:
    """The terms as tuples of 1-D rows (codes, table) for the compiled loop.

    numba compiles the loop once per tuple length (a couple of seconds, then
    cached on disk) and unrolls it: no inner loop over terms per line. Terms on
    the same source merge into one table, so there are at most as many as rows
    of `codes`. With no term at all, one zero table is read through `filler`.
    A code dropped by any term maps to DROPPED.
    """
    merged: dict[int, np.ndarray] = {}
    for src, tab in zip(term_src.tolist(), term_tab, strict=True):
        tab = tab.astype(np.int64)
        if src in merged:
            prev = merged[src]
            tab = np.where((prev < 0) | (tab < 0), -1, prev + tab)
        merged[src] = tab
    if not merged:
        return (filler,), (np.zeros(np.iinfo(np.uint16).max + 1, np.int32),)
    rows = tuple(codes[src] for src in merged)
    return rows, tuple(np.where(t < 0, DROPPED, t).astype(np.int32) for t in merged.values())


@njit(nogil=True, cache=True)
def _chunk(
    term_codes, term_tabs, codes, term_src, term_tab, weight_src, weight_tab, wide_weights,
    max_weight, group_target, day, currency, amount, quantity, lines, num, den, ratio, fast_max,
    fixed_day, day0, many_targets, targets_vary, lo, hi, out, high, out_bad,
):  # fmt: skip
    """Entries lo..hi-1 into out: the hot pass, then the exact pass over what it left.

    The hot pass adds without a check, as fast as a plain sum, and returns a bound
    on what it added; when the bound does not prove that no sum can have left
    int64 (`_fits`: totals within about half of int64's range), its sums are
    dropped and the exact pass, whose adds are checked, takes the whole chunk.
    The partials live in this thread's own arrays until the end: threads writing
    beside each other in one shared array would contend for its cache lines.
    `high` (this chunk's high words) is written only when an add carries.
    """
    acc = np.zeros(out.shape, dtype=np.int64)
    bad = out_bad.copy()
    pending = np.empty(PENDING, dtype=np.int64)
    n_pending, rescan_from, amount_abs, quantity_abs = _hot(
        term_codes, term_tabs, codes, weight_src, weight_tab, group_target, day, currency,
        amount, quantity, lines, ratio, fixed_day, day0, many_targets, targets_vary, lo, hi,
        pending, acc, bad,
    )  # fmt: skip
    hot_added = _fits(amount_abs, quantity_abs, max_weight)
    if not hot_added:
        acc[:] = 0  # the lines without a rate stay counted in bad
        n_pending, rescan_from = 0, lo
    _exact(
        codes, term_src, term_tab, weight_src, weight_tab, wide_weights, group_target, day,
        currency, amount, quantity, lines, num, den, ratio, fast_max, fixed_day, day0, pending,
        n_pending, rescan_from, hot_added, hi, acc, high, bad,
    )  # fmt: skip
    out[:] = acc
    out_bad[:] = bad


@njit(cache=True, inline="always")
def _fits(amount_abs, quantity_abs, max_weight):
    """True when the hot pass's unchecked adds provably never left int64.

    amount_abs: the float sum of |converted amount| over the lines it added;
    quantity_abs: the sum of |quantity| (< 2^63: fewer than 2^32 lines of int32).
    A cell's sum, and every partial sum on the way, is at most that in magnitude;
    each product q x w at most |q| x max_weight. A float sum of fewer than 2^32
    terms is within a factor 1 + 2^-20 of the true sum, so below 2^62 the true
    one is below 2^63: no add wrapped, each low word is its exact sum.
    """
    return (amount_abs < 2.0**62) & (np.float64(quantity_abs) * max_weight < 2.0**62)


@njit(cache=True)
def _hot(
    term_codes, term_tabs, codes, weight_src, weight_tab, group_target, day, currency, amount,
    quantity, lines, ratio, fixed_day, day0, many_targets, targets_vary, lo, hi, pending, acc,
    bad,
):  # fmt: skip
    """Entries lo..hi-1 into acc, converted with a float whose rounding is provably exact.

    The adds are plain int64 adds (they wrap, exactly modulo 2^64); what they
    added is bounded by the returned sums of |converted amount| (a float) and
    of |quantity|, which the caller checks (`_fits`). No check per line, no
    array passed to a helper (numba would count references to it per line):
    the loop runs as fast as the sums alone.

    Lines near a half (or huge) go to `pending` for the exact pass; when it is full,
    the index to rescan from is returned. bad = (lines with no rate, earliest day).
    Few instructions per line, for instruction-level parallelism: a line's rate cell
    does not wait for its group unless groups convert into different currencies
    (`many_targets`), the group's target is read only when targets vary, and the
    tests that route a line off the hot path are combined into one branch.
    """
    n_cur = ratio.shape[1]
    n_days = ratio.shape[2]
    ratio_flat = ratio.reshape(-1)
    last_cell = ratio_flat.shape[0] - 1
    n_pending = 0
    rescan_from = -1
    amount_abs = 0.0
    quantity_abs = np.int64(0)
    for i in range(lo, hi):
        g = np.int64(0)
        for k in range(len(term_codes)):  # a tuple: unrolled at compile time
            g += term_tabs[k][term_codes[k][i]]
        target = group_target[max(g, 0)] if targets_vary else np.int64(0)
        d = (fixed_day if fixed_day >= 0 else np.int64(day[i])) - day0
        cell = np.int64(currency[i]) * n_days + d
        if many_targets:
            cell += max(target, 0) * n_cur * n_days
        r = ratio_flat[max(min(cell, last_cell), 0)]
        nearest, clear = nearest_if_clear(np.float64(amount[i]) * r)
        in_table = (np.uint64(d) < np.uint64(n_days)) & (r > 0.0)  # r = 0: no rate
        if (g >= 0) & (target >= 0) & clear & in_table:
            # clear implies |nearest| < 2^49: the conversion to int64 is exact
            q = np.int64(quantity[i])
            acc[g, L.OUT_LINES] += np.int64(lines[i])
            acc[g, L.OUT_QUANTITY] += q
            acc[g, L.OUT_AMOUNT] += np.int64(nearest)
            if weight_src >= 0:
                acc[g, L.OUT_WEIGHTED] += q * weight_tab[codes[weight_src, i]]
            amount_abs += abs(nearest)
            quantity_abs += abs(q)
            continue
        if g < 0 or target < 0:
            continue  # filtered out, or a group nobody asked for
        if not in_table:
            bad[L.ERR_BAD_LINES] += 1
            bad[L.ERR_FIRST_BAD_DAY] = min(bad[L.ERR_FIRST_BAD_DAY], np.int64(day[i]))
        elif n_pending < pending.shape[0]:
            pending[n_pending] = i
            n_pending += 1
        elif rescan_from < 0:
            rescan_from = i
    return n_pending, rescan_from, amount_abs, quantity_abs


@njit(cache=True)
def _exact(
    codes, term_src, term_tab, weight_src, weight_tab, wide_weights, group_target, day, currency,
    amount, quantity, lines, num, den, ratio, fast_max, fixed_day, day0, pending, n_pending,
    rescan_from, hot_added, hi, acc, high, bad,
):  # fmt: skip
    """The exact pass: the remembered lines, then (rarely) the rest of the chunk from
    `rescan_from`, skipping there the lines the hot pass converted when hot_added
    (else the hot pass's sums were dropped, and every line is added here)."""
    n_cur = num.shape[1]
    n_days = num.shape[2]
    num_flat = num.reshape(-1)
    den_flat = den.reshape(-1)
    ratio_flat = ratio.reshape(-1)
    fast_flat = fast_max.reshape(-1)
    start = rescan_from if rescan_from >= 0 else hi
    for j in range(n_pending + (hi - start)):
        i = pending[j] if j < n_pending else start + (j - n_pending)
        g, cell = _locate(
            codes, term_src, term_tab, group_target, currency, day, fixed_day, day0, n_cur,
            n_days, num_flat, i,
        )  # fmt: skip
        if g < 0 or cell < 0:
            continue  # dropped, or already counted as bad in the hot loop
        if (
            hot_added
            and j >= n_pending
            and nearest_if_clear(np.float64(amount[i]) * ratio_flat[cell])[1]
        ):
            continue  # converted in the hot loop (the very same test)
        converted = muldiv_half_even(
            amount[i], num_flat[cell], den_flat[cell], ratio_flat[cell], fast_flat[cell]
        )
        if converted == OVERFLOW:
            bad[L.ERR_BAD_LINES] += 1
            bad[L.ERR_FIRST_BAD_DAY] = min(bad[L.ERR_FIRST_BAD_DAY], np.int64(day[i]))
            continue
        _add(
            acc, high, bad, g, i, converted, lines, quantity, codes, weight_src, weight_tab,
            wide_weights,
        )  # fmt: skip


def screen(out, n_threads: int | None = None, **arrays) -> None:
    """out[i] = bit set of the rules that flag entry i (0 for entries not active).

    The rule arrays become four bit-mask tables first (kernels.rules.prepare).
    """
    t = rules.prepare(arrays)
    n = out.shape[0]

    def run(_t: int, lo: int, hi: int) -> None:
        _screen(
            t["chip"], t["destination"], t["entity"], t["day"], t["flags"], t["day_bits"],
            t["chip_bits"], t["party_bits"], t["flag_bits"], t["n_dest"], lo, hi, out,
        )  # fmt: skip

    _in_chunks(n, _n_chunks(n, n_threads or numba.get_num_threads()), run)


@njit(nogil=True, cache=True)
def _screen(
    chip, destination, entity, day, flags, day_bits, chip_bits, party_bits, flag_bits, n_dest,
    lo, hi, out,
):  # fmt: skip
    for i in range(lo, hi):
        out[i] = line_bits(
            i, chip, destination, entity, day, flags, day_bits, chip_bits, party_bits,
            flag_bits, n_dest,
        )  # fmt: skip


def read_floor(columns_u64: tuple, n_threads: int, out) -> None:
    """The bandwidth floor: sum the bytes a kernel reads, as uint64 words, in parallel
    (the same chunks on the same threads as the kernels)."""
    n_chunks = max(1, n_threads)
    part = np.zeros(n_chunks, dtype=np.uint64)

    def run(t: int, _lo: int, _hi: int) -> None:
        part[t] = _sum_chunk(columns_u64, t, n_chunks)

    _in_chunks(n_chunks, n_chunks, run)
    out[0] = part.sum()


@njit(nogil=True, cache=True)
def _sum_chunk(columns_u64, t, n_chunks):
    """Chunk t of n_chunks of every column, summed as uint64 words."""
    total = np.uint64(0)
    for k in range(len(columns_u64)):
        col = columns_u64[k]
        size = (col.shape[0] + n_chunks - 1) // n_chunks
        for i in range(t * size, min(col.shape[0], (t + 1) * size)):
            total += col[i]
    return total
