"""Integer and decimal text cells -> integers: a byte scan for the usual feed, else regex.

The regex routes are the definition (they trim white space, and validation names
every cell they refuse); the scans (kernels.text) give the same answers for
cells made only of digits, "." and "-", ~20x faster, and send any other column
the regex way. Pure: no I/O.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PRICE_TEXT = r"^(?P<units>\d{1,15})(?:\.(?P<frac>\d{0,18}))?$"
# one rule for a sign: "-5" is minus five; a leading "+" is refused (not guessed)
INTEGER_TEXT = r"^\s*-?\d{1,18}\s*$"


def prices(sent: pa.Array, present: np.ndarray):
    """(units, fraction without trailing zeros, its digits, has the form) of each price
    (`PRICE_TEXT` after trimming white space); present: the cells that are not null."""
    from kernels import dispatch

    parts = _scanned(dispatch.decimal_parts, sent, present)
    return parts if parts is not None else prices_regex(sent)


def prices_regex(sent: pa.Array):
    parts = pc.extract_regex(pc.utf8_trim_whitespace(sent), PRICE_TEXT)
    shape = np.asarray(pc.is_valid(parts), bool)
    units_txt = pc.fill_null(pc.struct_field(parts, "units"), "0")
    frac_txt = pc.utf8_rtrim(pc.fill_null(pc.struct_field(parts, "frac"), ""), characters="0")
    frac_len = pc.utf8_length(frac_txt).to_numpy(zero_copy_only=False).astype(np.int64)
    frac_val = pc.cast(pc.if_else(pc.equal(frac_txt, ""), "0", frac_txt), pa.int64())
    frac_val = frac_val.to_numpy(zero_copy_only=False)
    units = pc.cast(units_txt, pa.int64()).to_numpy(zero_copy_only=False)
    return units, frac_val, frac_len, shape


def integers(sent: pa.Array, filled: pa.Array, present: np.ndarray, default: int | None):
    """(values, has the form) of integer cells (`INTEGER_TEXT`); `filled` is `sent` with
    its nulls as the default's text (`sent` itself when there is no default)."""
    from kernels import dispatch

    scanned = _scanned(dispatch.integer_parts, sent, present)
    if scanned is None:
        return integers_regex(filled)
    values, ok = scanned
    if default is not None:  # a missing cell is the default, as its filled text reads
        return np.where(present, values, default), ok | ~present
    return values, ok


def integers_regex(filled: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    looks_int = np.asarray(pc.fill_null(pc.match_substring_regex(filled, INTEGER_TEXT), False))
    safe = pc.if_else(pa.array(looks_int), pc.utf8_trim_whitespace(filled), "0")
    return pc.cast(safe, pa.int64()).to_numpy(zero_copy_only=False), looks_int


def _scanned(kernel, sent: pa.Array, present: np.ndarray):
    """`kernel` over a string column's own offsets and bytes (no copy); None when the
    column is not plain strings or the kernel sends it the general route."""
    if not pa.types.is_string(sent.type) or not len(sent):
        return None
    offsets_buf, data_buf = sent.buffers()[1:3]
    offsets = np.frombuffer(offsets_buf, np.int32)[sent.offset : sent.offset + len(sent) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return kernel(offsets, data, np.ascontiguousarray(present, np.bool_))


def has_empty(col: pa.Array) -> bool:
    """Whether a string column holds an empty string (not null), from its offsets alone."""
    if not pa.types.is_string(col.type) or col.null_count == len(col):
        return col.null_count != len(col)  # the general test for other types; none in nulls
    offsets = np.frombuffer(col.buffers()[1], np.int32)[col.offset : col.offset + len(col) + 1]
    empty = offsets[1:] == offsets[:-1]
    if col.null_count:
        empty &= np.asarray(col.is_valid(), bool)
    return bool(empty.any())
