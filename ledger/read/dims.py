"""Dimensions a total can be grouped or filtered by, and the term tables the roll-up reads.

A dimension is a source row of the resident `codes` plus a lookup from source code to
derived value (identity for most; supplier -> its HQ country, chip -> vendor, day ->
month). `_terms` turns a grouping and filters into per-source term tables whose sum
is a line's group index (-1: filtered out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ledger.domain.errors import LedgerError, RowError
from ledger.domain.schema import FIRST_FISCAL_YEAR, LAST_FISCAL_YEAR, N_FISCAL_YEARS
from ledger.resident import columns as C
from ledger.resident.columns import ResidentColumns

if TYPE_CHECKING:
    pass

DIMENSIONS = [
    "entity", "fiscal_year", "supplier", "supplier_country", "chip_model", "vendor",
    "destination", "budget_code", "workload", "acquisition", "line_currency", "month",
]  # fmt: skip

MAX_GROUPS = 2_000_000


def _bad_param(name: str, message: str) -> LedgerError:
    return LedgerError(
        "invalid-parameter", "Invalid query parameter", f"{name}: {message}", 422,
        errors=[RowError(None, name, message)],
    )  # fmt: skip


@dataclass
class _Dim:
    name: str
    src: int
    lut: np.ndarray  # int32 derived value per source code (-1: none)
    labels: list  # label per derived value


def _padded(term: np.ndarray, arrays: dict, src: int) -> np.ndarray:
    """A term table wide enough for every code in `arrays` (a feed not yet committed may hold
    codes past the dictionary: they get -1, no group), so the kernel never reads past it."""
    n = arrays["amount"].shape[0]
    if not n or arrays["codes"].shape[1] != n:  # the resident block: codes are in range
        return term
    width = int(arrays["codes"][src].max()) + 1
    if width <= len(term):
        return term
    return np.concatenate([term, np.full(width - len(term), -1, np.int64)])


_FILTER_DOMAINS = {
    "destination": set(C.COUNTRIES),
    "supplier_country": set(C.COUNTRIES),
    "line_currency": set(C.CURRENCIES),
    "workload": {"training", "inference"},
    "acquisition": {"purchase", "lease"},
}


def _check_filter(name: str, values: list) -> None:
    """Filter values of a closed domain must be in it; free-text values may match nothing."""
    for value in values:
        text = str(value)
        if name == "fiscal_year":
            if not (text.isdigit() and FIRST_FISCAL_YEAR <= int(text) <= LAST_FISCAL_YEAR):
                raise _bad_param(
                    name, f"{text!r} is not a fiscal year ({FIRST_FISCAL_YEAR}-{LAST_FISCAL_YEAR})"
                )
        elif name == "month":
            if not (len(text) == 7 and text[4] == "-" and text[:4].isdigit()
                    and text[5:].isdigit() and 1 <= int(text[5:]) <= 12):  # fmt: skip
                raise _bad_param(name, f"{text!r} is not a month (YYYY-MM)")
        elif name in _FILTER_DOMAINS and text not in _FILTER_DOMAINS[name]:
            raise _bad_param(name, f"{text!r} is not a valid {name.replace('_', ' ')}")


def _identity(values: Callable[[ResidentColumns], list]) -> Callable:
    def derive(cols: ResidentColumns) -> tuple[np.ndarray, list]:
        labels = list(values(cols))
        return np.arange(len(labels), dtype=np.int32), labels

    return derive


def _months(cols: ResidentColumns) -> tuple[np.ndarray, list]:
    """Day (since 2000-01-01) -> month index since 2000-01, labelled YYYY-MM."""
    n_days = cols.max_day + 1
    dates = np.datetime64("2000-01-01") + np.arange(n_days).astype("timedelta64[D]")
    months = dates.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    base = int(np.datetime64("2000-01", "M").astype(np.int64))
    lut = (months - base).astype(np.int32)
    return lut, [f"{2000 + k // 12}-{k % 12 + 1:02d}" for k in range(int(lut.max()) + 1)]


def _dict_values(name: str) -> Callable[[ResidentColumns], list]:
    return lambda cols: cols.dicts[name].values


# The dimension catalogue: name -> (source row of `codes`, derive(cols) -> (lut, labels)).
# lut maps a source code to a derived value (-1: none); labels name the derived values.
CATALOGUE: dict[str, tuple[int, Callable[[ResidentColumns], tuple[np.ndarray, list]]]] = {
    "entity": (C.ENTITY, _identity(_dict_values("entity"))),
    "fiscal_year": (C.FY, _identity(lambda cols: [C.FY0 + k for k in range(N_FISCAL_YEARS)])),
    "supplier": (C.SUPPLIER, _identity(_dict_values("supplier"))),
    "supplier_country": (
        C.SUPPLIER,
        lambda cols: (cols.lookups.supplier_hq.astype(np.int32), list(C.COUNTRIES)),
    ),
    "chip_model": (C.CHIP, _identity(_dict_values("chip_model"))),
    "vendor": (
        C.CHIP, lambda cols: (cols.lookups.chip_vendor.astype(np.int32), list(cols.lookups.vendors))
    ),
    "destination": (C.DESTINATION, _identity(lambda cols: C.COUNTRIES)),
    "budget_code": (C.BUDGET, _identity(_dict_values("budget_code"))),
    "workload": (C.WORKLOAD, _identity(_dict_values("workload"))),
    "acquisition": (C.ACQUISITION, _identity(_dict_values("acquisition"))),
    "line_currency": (C.CURRENCY, _identity(_dict_values("currency"))),
    "month": (C.DAY, _months),
}  # fmt: skip
assert list(CATALOGUE) == DIMENSIONS


class Dimensions:
    """The methods of `Queries` (ledger.read.queries) for this use case."""

    def _dim(self, name: str) -> _Dim:
        """The dimension `name` over the current dictionaries and lookups (CATALOGUE)."""
        entry = CATALOGUE.get(name)
        if entry is None:
            raise _bad_param("by", f"unknown dimension {name!r}; one of {', '.join(DIMENSIONS)}")
        src, derive = entry
        lut, labels = derive(self.cols)
        return _Dim(name, src, lut, labels)

    def _source_width(self, src: int) -> int:
        cols = self.cols
        if src == C.DAY:
            return cols.max_day + 1
        if src == C.FY:
            return 101
        name = C.SOURCES[src]
        return max(len(cols.dicts[name]), 1)

    def _terms(self, by: list[str], filters: dict[str, list]) -> tuple:
        """Term tables (group index contributions, -1 to filter out) and group labels."""
        seen = {}
        terms: list[tuple[int, np.ndarray]] = []
        group_labels: list[list] = []
        stride = 1
        strides = []
        dims = [self._dim(name) for name in by]
        for dim in reversed(dims):
            width, lut = self._source_lut(dim)
            # compact to the derived values that occur, so group counts stay small
            seen[dim.src] = self.cols.seen[dim.src, :width]
            used = np.unique(lut[seen[dim.src] & (lut >= 0)])
            compact = np.full(max(len(dim.labels), int(lut.max(initial=0)) + 1), -1, np.int64)
            compact[used] = np.arange(len(used))
            allowed = self._allowed(dim, filters.get(dim.name))
            tab = np.where(
                (lut >= 0) & allowed[np.maximum(lut, 0)], compact[np.maximum(lut, 0)], -1
            )
            tab = np.where(tab >= 0, tab * stride, -1)
            terms.append((dim.src, tab))
            group_labels.insert(0, [dim.labels[u] for u in used])
            strides.insert(0, stride)
            stride *= max(len(used), 1)
            if stride > MAX_GROUPS:
                raise _bad_param("by", f"more than {MAX_GROUPS} groups; group by fewer dimensions")
        for name, values in filters.items():
            if name in by:
                continue
            dim = self._dim(name)
            _, lut = self._source_lut(dim)
            allowed = self._allowed(dim, values)
            tab = np.where((lut >= 0) & allowed[np.maximum(lut, 0)], 0, -1)
            terms.append((dim.src, tab))
        return terms, group_labels, strides, max(stride, 1)

    def _source_lut(self, dim: _Dim) -> tuple[int, np.ndarray]:
        """(width, lut): the dimension's value index per code of its source column, -1
        where a code has no value (or lies past the dimension's own table)."""
        width = self._source_width(dim.src)
        lut = np.full(width, -1, np.int64)
        lut[: min(width, len(dim.lut))] = dim.lut[:width]
        return width, lut

    @staticmethod
    def _allowed(dim: _Dim, values: list | None) -> np.ndarray:
        size = max(len(dim.labels), 1)
        if not values:
            return np.ones(size, bool)
        wanted = {str(v) for v in values}
        return np.array(
            [str(label) in wanted for label in dim.labels] + [False] * (size - len(dim.labels))
        )

    @staticmethod
    def _term_arrays(terms) -> tuple[np.ndarray, np.ndarray]:
        if not terms:
            return np.zeros(0, np.int64), np.zeros((0, 1), np.int32)
        width = max(len(t) for _, t in terms)
        tab = np.full((len(terms), width), -1, np.int32)
        for k, (_, t) in enumerate(terms):
            tab[k, : len(t)] = t
        return np.array([s for s, _ in terms], np.int64), tab
