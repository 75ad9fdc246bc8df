"""Scalar maths written once, compiled for the CPU (njit) and for CUDA (device functions).

`register_jitable` keeps each function a plain Python function while letting
numba inline it into CPU and CUDA kernels alike, so both backends run the
very same arithmetic and give identical integers.

Conversion of an amount A (minor units) by num / den with half-even rounding
must be exact for |A| <= 10^15 and num, den < 2^63, so the 128-bit product
A x num never goes through a float alone:
  * fastest path: when the float product's fraction is clearly away from one
    half, its nearest integer is the answer (a rigorous error margin decides);
  * fast path: a float estimate q of A x num / den, then the exact remainder
    r = A x num - q x den computed in wrapping 64-bit arithmetic (exact as
    long as the true |r| < 2^62, which the caller guarantees per rate cell
    through `fast_max`), then at most a few unit corrections and the tie rule;
  * exact path: a 64x64 -> 128-bit product and a 128/64 division
    (Hacker's Delight `divlu`), for the cells where the fast path's bound
    does not hold.
All unsigned arithmetic is done on explicit uint64 values: numba promotes
mixed int64/uint64 operands to float64.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from kernels.layout import ERR_OUT_OF_RANGE, OUT_OF_RANGE

U0 = np.uint64(0)
U1 = np.uint64(1)
U2 = np.uint64(2)
U32 = np.uint64(32)
U63 = np.uint64(63)
U64 = np.uint64(64)
MASK32 = np.uint64(0xFFFFFFFF)
BASE32 = np.uint64(1 << 32)
TOP_BIT = np.uint64(1 << 63)
INT64_MAX_U = np.uint64((1 << 63) - 1)
# Returned when a conversion's result would not fit in int64.
OVERFLOW = np.int64(-(2**63))


@register_jitable
def mul_u64(a, b):
    """(hi, lo) of the full 128-bit product of two uint64."""
    a_lo = a & MASK32
    a_hi = a >> U32
    b_lo = b & MASK32
    b_hi = b >> U32
    p0 = a_lo * b_lo
    p1 = a_lo * b_hi
    p2 = a_hi * b_lo
    p3 = a_hi * b_hi
    mid = (p0 >> U32) + (p1 & MASK32) + (p2 & MASK32)
    lo = (p0 & MASK32) | (mid << U32)
    hi = p3 + (p1 >> U32) + (p2 >> U32) + (mid >> U32)
    return hi, lo


@register_jitable
def leading_zeros_u64(x):
    if x == U0:
        return U64
    n = U0
    while (x & TOP_BIT) == U0:
        x = x << U1
        n += U1
    return n


@register_jitable
def div_u128_u64(u1, u0, v):
    """(quotient, remainder) of the 128-bit (u1:u0) by v; requires u1 < v (quotient fits)."""
    s = leading_zeros_u64(v)
    v = v << s
    vn1 = v >> U32
    vn0 = v & MASK32
    if s > U0:
        un32 = (u1 << s) | (u0 >> (U64 - s))
    else:
        un32 = u1
    un10 = u0 << s
    un1 = un10 >> U32
    un0 = un10 & MASK32
    q1 = un32 // vn1
    rhat = un32 - q1 * vn1
    while q1 >= BASE32 or q1 * vn0 > BASE32 * rhat + un1:
        q1 -= U1
        rhat += vn1
        if rhat >= BASE32:
            break
    un21 = un32 * BASE32 + un1 - q1 * v
    q0 = un21 // vn1
    rhat = un21 - q0 * vn1
    while q0 >= BASE32 or q0 * vn0 > BASE32 * rhat + un0:
        q0 -= U1
        rhat += vn1
        if rhat >= BASE32:
            break
    r = (un21 * BASE32 + un0 - q0 * v) >> s
    return q1 * BASE32 + q0, r


@register_jitable
def muldiv_half_even_exact(a, num, den):
    """round_half_even(a * num / den) exactly, via 128-bit arithmetic; OVERFLOW if it won't fit."""
    negative = a < 0
    if negative:
        magnitude = np.uint64(-(a + 1)) + U1  # |a| without overflow at INT64_MIN
    else:
        magnitude = np.uint64(a)
    hi, lo = mul_u64(magnitude, np.uint64(num))
    uden = np.uint64(den)
    if hi >= uden:
        return OVERFLOW
    q, r = div_u128_u64(hi, lo, uden)
    twice = r << U1  # r < den < 2^63: no overflow
    if twice > uden or (twice == uden and (q & U1) == U1):
        q += U1
    if q > INT64_MAX_U:
        return OVERFLOW
    if negative:
        return -np.int64(q)
    return np.int64(q)


@register_jitable
def group_of(codes, term_src, term_tab, group_target, i):
    """Entry i's group index, or -1 when a filter drops it or its group is skipped.

    codes[src, i] are dictionary codes; term t adds term_tab[t, code of its source]
    to the group index, or drops the entry with -1.
    """
    g = 0
    for k in range(term_src.shape[0]):
        v = term_tab[k, codes[term_src[k], i]]
        if v < 0:
            return -1
        g += v
    if group_target[g] < 0:
        return -1
    return g


@register_jitable
def cell_of(target, currency, day, fixed_day, day0, n_cur, n_days):
    """Offset of the conversion cell (target, currency, day - day0), or -1 outside the table."""
    d = (fixed_day if fixed_day >= 0 else np.int64(day)) - day0
    if d < 0 or d >= n_days:
        return np.int64(-1)
    return (target * n_cur + np.int64(currency)) * n_days + d


@register_jitable
def nearest_if_clear(x):
    """(rint(x), clear): clear when rint(x) is provably the exact half-even answer.

    x = float(a) * float(num / den) is within |x| * 2^-52 of a * num / den (two
    roundings); if x is farther than 4x that from a half, its nearest integer is
    exact. Past |x| = 2^49 the margin exceeds 1/2, so huge products are never
    clear. No branch: it sits in the hottest loop.
    """
    y = np.rint(x)
    return y, 0.5 - abs(x - y) > abs(x) * 2.0**-50


@register_jitable
def muldiv_half_even(a, num, den, ratio, fast_max):
    """round_half_even(a * num / den), exact; ratio = float(num / den), fast_max as above."""
    if a > fast_max or a < -fast_max:
        return muldiv_half_even_exact(a, num, den)
    x = np.float64(a) * ratio
    ax = abs(x)
    if ax < 2.0**51:
        # |x - a*num/den| <= |x| * 2^-52 (two roundings): if the fraction of |x| is
        # farther than 4x that from one half, rounding |x| to nearest is already exact.
        k = np.int64(ax)
        frac = ax - np.float64(k)  # exact below 2^52
        margin = ax * 2.0**-50
        if abs(frac - 0.5) > margin:  # rarely false: no branch to mispredict below
            q = k + np.int64(frac > 0.5)
            sign = np.int64(1) - np.int64(2) * np.int64(a < 0)
            return sign * q
    # near a tie (or large): the exact remainder decides.
    q = np.int64(x + 0.5) if x >= 0 else np.int64(x - 0.5)
    # r = a*num - q*den modulo 2^64: the true value is small, so the wrapped value is it
    r = np.int64(np.uint64(a) * np.uint64(num) - np.uint64(q) * np.uint64(den))
    while 2 * r > den:
        q += 1
        r -= den
    while 2 * r < -den:
        q -= 1
        r += den
    if 2 * r == den and (q & 1) == 1:
        q += 1
    elif 2 * r == -den and (q & 1) == 1:
        q -= 1
    return q


# -- exact totals ------------------------------------------------------------
# A total is kept as two int64 words: true = high * 2^64 + low, where low is the
# wrapped (two's complement) running sum and high counts its wraps. Wrapping
# addition is exact modulo 2^64, so the order of the adds never matters and the
# total fits in int64 exactly when high == 0. The hot loops add into low and
# take the rare branch to `carry_of` only when an add wrapped.


@register_jitable
def wrapping_add(a, b):
    """a + b modulo 2^64, as int64 (unsigned arithmetic: wrapping is defined, never trapped)."""
    return np.int64(np.uint64(a) + np.uint64(b))


@register_jitable
def wrapped(a, b, s):
    """Negative exactly when s = wrapping_add(a, b) wrapped: a and b share a sign s lacks."""
    return (a ^ s) & (b ^ s)


@register_jitable
def carry_of(a, b, s):
    """What the high word gains from s = wrapping_add(a, b): +1, -1 or 0."""
    if wrapped(a, b, s) >= 0:
        return np.int64(0)
    return np.int64(-1) if b < 0 else np.int64(1)


@register_jitable
def wide_product(a, b):
    """(high, low) with a * b = high * 2^64 + low exactly, low a signed int64 (as the totals)."""
    negative = (a < 0) != (b < 0)
    ua = np.uint64(-(a + 1)) + U1 if a < 0 else np.uint64(a)  # |a|, also at INT64_MIN
    ub = np.uint64(-(b + 1)) + U1 if b < 0 else np.uint64(b)
    hi, lo = mul_u64(ua, ub)
    if negative:  # two's complement of the 128-bit magnitude
        hi = ~hi + (U1 if lo == U0 else U0)
        lo = ~lo + U1
    # as signed words: low >= 2^63 reads as low - 2^64, which the high word makes up
    return np.int64(hi) + np.int64(lo >> U63), np.int64(lo)


def finish_totals(out, high, err) -> None:
    """On the host, after any backend: cells whose high word is not 0 do not fit in int64.

    Each such cell reads layout.OUT_OF_RANGE, and err[ERR_OUT_OF_RANGE] gets the bit
    of its column: a caller that ignored err would see an absurd value, not a
    plausible wrapped one.
    """
    beyond = high != 0
    columns = beyond.any(axis=0)
    err[ERR_OUT_OF_RANGE] = sum(1 << k for k in range(columns.shape[0]) if columns[k])
    out[beyond] = OUT_OF_RANGE
