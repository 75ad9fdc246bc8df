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
