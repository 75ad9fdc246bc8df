"""Byte kernels for feed parsing: a JSON array of flat objects -> newline-delimited objects.

Arrow's C++ JSON reader is fast but reads only newline-delimited objects, and
it parses numbers as binary floats. This scan rewrites a JSON array into that
shape (the array's brackets and the commas between its objects become white
space and newlines) and reports anything that makes the fast route unsafe, so
the caller can fall back to the exact, slow parser:
  1: not an array of objects (or NDJSON line not an object)
  2: a number literal that a binary float may not carry exactly
     (an exponent, or more than 15 digits)
  3: a nested object or array inside a line
"""

from __future__ import annotations

import numpy as np
from numba import njit

QUOTE, BACKSLASH, COMMA, NEWLINE, SPACE = 34, 92, 44, 10, 32
OPEN_OBJ, CLOSE_OBJ, OPEN_ARR, CLOSE_ARR = 123, 125, 91, 93
MAX_EXACT_DIGITS = 15


@njit(cache=True)
def _is_space(b) -> bool:
    return b == SPACE or b == NEWLINE or b == 13 or b == 9


@njit(cache=True)
def json_lines(data, array_form, out, status):
    """Fill out (len(data) bytes) with newline-delimited objects; status[0] = 0 when safe."""
    n = data.shape[0]
    status[0] = 0
    out[:] = data
    # an object per line holds no raw newline: white space between tokens becomes a space
    depth = 0
    if array_form:
        j = 0
        while j < n and _is_space(data[j]):
            out[j] = SPACE
            j += 1
        if j == n or data[j] != OPEN_ARR:
            status[0] = 1
            return
        out[j] = SPACE
        start = j + 1
        base = 1
    else:
        start = 0
        base = 0
    depth = base
    in_string = False
    j = start
    while j < n:
        b = data[j]
        if in_string:
            # skip to the closing quote in one tight loop (most bytes are in strings)
            while j < n:
                b = data[j]
                if b == BACKSLASH:
                    j += 2
                    continue
                if b == QUOTE:
                    break
                j += 1
            in_string = False
            j += 1
            continue
        if b == QUOTE:
            in_string = True
            if depth != base + 1:
                status[0] = 1  # a string that is not inside a line object
                return
        elif b == OPEN_OBJ:
            depth += 1
            if depth > base + 1:
                status[0] = 3
                return
        elif b == CLOSE_OBJ:
            depth -= 1
            if depth < base:
                status[0] = 1
                return
        elif b == OPEN_ARR:
            status[0] = 3 if depth > base else 1
            return
        elif b == CLOSE_ARR:
            if array_form and depth == base:
                out[j] = SPACE
                depth = -1  # the array is closed: only white space may follow
            else:
                status[0] = 3 if depth > base else 1
                return
        elif b == COMMA:
            if depth == base:
                if not array_form:
                    status[0] = 1
                    return
                out[j] = NEWLINE
        elif _is_space(b):
            if b == NEWLINE or b == 13:
                out[j] = NEWLINE if (not array_form and depth == base) else SPACE
        elif depth == base + 1 and (b == 45 or (48 <= b <= 57)):
            # a number value: count its digits; an exponent or too many digits is unsafe
            digits = 0
            k = j
            while k < n:
                c = data[k]
                if 48 <= c <= 57:
                    digits += 1
                elif c == 101 or c == 69:  # e, E
                    status[0] = 2
                    return
                elif not (c == 45 or c == 46 or c == 43):
                    break
                k += 1
            if digits > MAX_EXACT_DIGITS:
                status[0] = 2
                return
            j = k
            continue
        elif depth != base + 1:
            status[0] = 1  # a bare value outside the line objects
            return
        j += 1
    if j > n or (array_form and depth != -1) or (not array_form and depth != base):
        status[0] = 1


def to_lines(data: bytes, array_form: bool) -> tuple[np.ndarray, int]:
    """(newline-delimited bytes, status) for a JSON array (array_form) or NDJSON."""
    src = np.frombuffer(data, dtype=np.uint8)
    out = np.empty_like(src)
    status = np.zeros(1, np.int64)
    json_lines(src, array_form, out, status)
    return out, int(status[0])


MAX_UNITS_DIGITS, MAX_FRAC_DIGITS = 15, 18
DOT, ZERO, NINE = 46, 48, 57


@njit(cache=True)
def decimal_parts(offsets, data, valid, units, frac, frac_len, shape):
    """Split decimal text cells `\\d{1,15}(\\.\\d{0,18})?` into integer parts; 0 when done.

    Per valid cell: units (the integer part), frac (the fraction with its trailing
    zeros dropped, as an integer) and frac_len (its digits); shape says the cell has
    that form. A cell with any byte but 0-9 and "." returns 1 at once: the caller's
    general route (which trims white space and names the fault) takes the column.
    """
    n = valid.shape[0]
    for i in range(n):
        units[i] = 0
        frac[i] = 0
        frac_len[i] = 0
        shape[i] = False
        if not valid[i]:
            continue
        lo, hi = offsets[i], offsets[i + 1]
        u, n_units, dot, f, n_frac, last_nonzero = 0, 0, -1, 0, 0, 0
        for j in range(lo, hi):
            b = data[j]
            if b == DOT:
                dot = j if dot == -1 else -2  # a second dot: not a decimal (checked below)
            elif ZERO <= b <= NINE:
                if dot == -1:
                    if n_units < MAX_UNITS_DIGITS:
                        u = u * 10 + (b - ZERO)
                    n_units += 1
                elif dot >= 0:
                    if n_frac < MAX_FRAC_DIGITS:
                        f = f * 10 + (b - ZERO)
                    n_frac += 1
                    if b != ZERO:
                        last_nonzero = n_frac
            else:
                return 1
        if dot == -2 or n_units < 1 or n_units > MAX_UNITS_DIGITS or n_frac > MAX_FRAC_DIGITS:
            continue
        # drop the trailing zeros of the fraction: f / 10^(n_frac - last_nonzero)
        for _ in range(n_frac - last_nonzero):
            f //= 10
        units[i] = u
        frac[i] = f
        frac_len[i] = last_nonzero
        shape[i] = True
    return 0


def split_decimals(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray):
    """(units, frac, frac_len, shape) of each cell, or None when a cell needs the general
    route; see `decimal_parts`."""
    n = valid.shape[0]
    units, frac, frac_len = (np.empty(n, np.int64) for _ in range(3))
    shape = np.empty(n, np.bool_)
    if decimal_parts(offsets, data, valid, units, frac, frac_len, shape) != 0:
        return None
    return units, frac, frac_len, shape


MINUS, MAX_INT_DIGITS = 45, 18


@njit(cache=True)
def integer_parts(offsets, data, valid, values, ok):
    """Read integer text cells `-?\\d{1,18}` into values (ok[i] says the cell has that form);
    0 when done. A cell with any byte but 0-9 and "-" returns 1 at once: the caller's
    general route (which trims white space and names the fault) takes the column."""
    n = valid.shape[0]
    for i in range(n):
        values[i] = 0
        ok[i] = False
        if not valid[i]:
            continue
        lo, hi = offsets[i], offsets[i + 1]
        negative = hi > lo and data[lo] == MINUS
        v, digits, bad = 0, 0, False
        for j in range(lo + 1 if negative else lo, hi):
            b = data[j]
            if ZERO <= b <= NINE:
                if digits < MAX_INT_DIGITS:
                    v = v * 10 + (b - ZERO)
                digits += 1
            elif b == MINUS:
                bad = True  # a minus sign inside the number: not an integer
            else:
                return 1
        if bad or digits < 1 or digits > MAX_INT_DIGITS:
            continue
        values[i] = -v if negative else v
        ok[i] = True
    return 0


def split_integers(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray):
    """(values, has the form) of each cell, or None when a cell needs the general route."""
    n = valid.shape[0]
    values, ok = np.empty(n, np.int64), np.empty(n, np.bool_)
    if integer_parts(offsets, data, valid, values, ok) != 0:
        return None
    return values, ok
