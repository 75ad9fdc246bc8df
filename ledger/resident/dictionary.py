"""Values <-> uint16 codes, per dimension: the resident columns store codes, never strings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger.domain.errors import LedgerError, RowError

MAX_CODES = 65535  # codes are uint16


def too_many_values(name: str) -> LedgerError:
    return LedgerError(
        "too-many-values", "Too many distinct values",
        f"the ledger holds at most {MAX_CODES} distinct values of {name or 'a dimension'}", 422,
        errors=[RowError(None, name or None, f"more than {MAX_CODES} distinct values")],
    )  # fmt: skip


class Dictionary:
    """Values <-> uint16 codes; codes never change once given (new values append)."""

    def __init__(self, values: list[str] | None = None, frozen: bool = False, name: str = ""):
        self.name = name
        self.values: list[str] = []
        self.index: dict[str, int] = {}
        self.frozen = False
        for v in values or []:
            self.add(v)
        self.frozen = frozen

    def add(self, value: str) -> int:
        code = self.index.get(value)
        if code is None:
            if self.frozen:
                raise KeyError(value)
            if len(self.values) >= MAX_CODES:
                raise too_many_values(self.name)
            code = len(self.values)
            self.values.append(value)
            self.index[value] = code
        return code

    def encode(self, column: pa.Array | pa.ChunkedArray, grow: bool = True) -> np.ndarray:
        """Codes for a string column (vectorised over known values).

        Unseen values are added when `grow`; otherwise they get the codes they
        would get (len, len + 1, ... in order of first appearance) and the
        dictionary is left as it was: what a feed not yet committed needs.
        """
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        codes = pc.index_in(column, value_set=pa.array(self.values, pa.string()))
        missing = pc.is_null(codes)
        if not pc.any(missing).as_py():
            return codes.to_numpy(zero_copy_only=False).astype(np.uint16)
        unseen = pc.unique(pc.filter(column, missing))
        if self.frozen or len(self.values) + len(unseen) > MAX_CODES:
            raise too_many_values(self.name) if not self.frozen else KeyError(unseen[0].as_py())
        if grow:
            for value in unseen.to_pylist():
                self.add(value)
            codes = pc.index_in(column, value_set=pa.array(self.values, pa.string()))
            return codes.to_numpy(zero_copy_only=False).astype(np.uint16)
        extra = pc.index_in(column, value_set=unseen)
        merged = pc.if_else(missing, pc.add(extra, len(self.values)), codes)
        return merged.to_numpy(zero_copy_only=False).astype(np.uint16)

    def adopt(self, codes: np.ndarray, column: pa.Array | pa.ChunkedArray) -> None:
        """Add the values that `encode(column, grow=False)` gave the new codes in `codes`:
        afterwards the dictionary is as `encode(column, grow=True)` would have left it."""
        new = np.flatnonzero(codes >= len(self.values))
        if not new.size:
            return
        # new codes were given in order of first appearance: len, len + 1, ...
        given, first = np.unique(codes[new], return_index=True)
        for code, row in zip(given.tolist(), new[first].tolist(), strict=True):
            if self.add(column[row].as_py()) != code:
                raise AssertionError(f"{self.name}: codes out of step with the dictionary")

    def __len__(self) -> int:
        return len(self.values)
