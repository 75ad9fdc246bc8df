"""The screen's answer, counted and paged without materialising every (line, rule) pair.

Screening flags most lines of a ledger that buys Chinese chips (the Ascend guidance
names every Ascend line, anywhere): at 1M lines that is ~660k flagged lines. Building
every (entry, rule) pair and sorting them costs several times the screen itself, so the
counts per rule and the one page asked for come from passes over the bit sets instead:
  bits[i]        the rules flagging entry i, bit k for rule k (kernels.cpu.screen)
  party[j]       sorted entry rows flagged by a restricted-party match, a pseudo-rule
                 numbered n_rules, after every bit rule of the same entry
  fy[i], fy_code the entry's fiscal-year code; fy_code < 0 counts every year
Pairs are ordered by entry, then rule number: the order the API pages in.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.pool import in_chunks, n_chunks


def count(bits, party, fy, fy_code: int, n_rules: int, n_threads: int, out) -> None:
    """out[k] = entries flagged by rule k (k < n_rules) and out[n_rules] = party-flagged
    entries, within the fiscal year when fy_code >= 0."""
    n = bits.shape[0]
    chunks = n_chunks(n, n_threads)
    part = np.zeros((chunks, n_rules + 1), np.int64)

    def run(t: int, lo: int, hi: int) -> None:
        _count(bits, fy, fy_code, lo, hi, part[t])

    in_chunks(n, chunks, run)
    out[:n_rules] = part[:, :n_rules].sum(axis=0)
    out[n_rules] = _count_party(party, fy, fy_code)


# de Bruijn sequence B(2, 6) and its table: the index of a 64-bit word's lowest set bit in
# one multiply (Leiserson, Prokop, Randall, "Using de Bruijn sequences to index a 1 in a
# computer word", 1998)
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_INDEX = np.zeros(64, np.int64)
for _k in range(64):
    _DEBRUIJN_INDEX[((int(_DEBRUIJN) << _k) & (2**64 - 1)) >> 58] = _k


@njit(nogil=True, cache=True, inline="always")
def _lowest_bit(b):
    low = b & (~b + np.uint64(1))
    return _DEBRUIJN_INDEX[(low * _DEBRUIJN) >> np.uint64(58)]


@njit(nogil=True, cache=True)
def _count(bits, fy, fy_code, lo, hi, out):
    for i in range(lo, hi):
        b = bits[i]
        if b == 0 or (fy_code >= 0 and fy[i] != fy_code):
            continue
        while b != 0:  # one step per set bit (a line carries one or two)
            out[_lowest_bit(b)] += 1
            b &= b - np.uint64(1)


@njit(nogil=True, cache=True)
def _count_party(party, fy, fy_code):
    total = 0
    for j in range(party.shape[0]):
        if fy_code < 0 or fy[party[j]] == fy_code:
            total += 1
    return total


@njit(nogil=True, cache=True)
def page(bits, party, fy, fy_code, select, select_party, n_rules, offset, seq_out, rule_out):
    """Pairs offset .. offset + len(seq_out) - 1 of the selected rules (`select` a bit set
    over rules; `select_party` the party pseudo-rule), in (entry, rule) order, into
    seq_out / rule_out; returns how many were written. Stops once the page is full."""
    limit, skipped, written, j = seq_out.shape[0], 0, 0, 0
    n, n_party = bits.shape[0], party.shape[0]
    i = 0
    while i < n and written < limit:
        while select_party and j < n_party and party[j] < i:
            j += 1
        b = bits[i] & select
        hit_party = select_party and j < n_party and party[j] == i
        if (b == 0 and not hit_party) or (fy_code >= 0 and fy[i] != fy_code):
            i += 1
            continue
        k = 0
        while k <= n_rules and written < limit:
            on = hit_party if k == n_rules else (b >> np.uint64(k)) & np.uint64(1) != 0
            if on:
                if skipped < offset:
                    skipped += 1
                else:
                    seq_out[written], rule_out[written] = i, k
                    written += 1
            k += 1
        i += 1
    return written
