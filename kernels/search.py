"""Membership of sorted probes in a sorted array, by a galloping merge.

numpy's searchsorted binary-searches the whole array for every probe (~24
cache misses each in 10^7 keys); walking both sorted sequences together, with
exponential steps over the gaps, touches each region of the array once.
"""

from __future__ import annotations

from numba import njit


@njit(nogil=True, cache=True)
def member_sorted(keys, probes, found):
    """found[j] |= probes[j] in keys; both sorted ascending."""
    n = keys.shape[0]
    i = 0
    for j in range(probes.shape[0]):
        p = probes[j]
        if i >= n:
            return
        if keys[i] < p:
            # gallop: grow the step until keys[i + step] >= p, then binary search
            step = 1
            while i + step < n and keys[i + step] < p:
                i += step
                step *= 2
            lo = i + 1
            hi = min(i + step, n)
            while lo < hi:
                mid = (lo + hi) // 2
                if keys[mid] < p:
                    lo = mid + 1
                else:
                    hi = mid
            i = lo
        if i < n and keys[i] == p:
            found[j] = True
