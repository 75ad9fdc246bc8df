"""Resident columns: the ledger's entries as contiguous numpy arrays, kept in step with the store.

Loaded from DuckDB once, then extended in place after each committed append
(capacity grows by half again when full), never rebuilt per query. Every
dimension is a uint16 dictionary code in one 2-D array `codes[src, i]`, so a
kernel can read any set of dimensions by row number. Per entry: 10 codes x 2
bytes + amount 8 + quantity 4 + lines 1 + flags 1 + licence 2 = 36 bytes. `licence` is the
code of the line's licence reference (0 when it names none): the licence check
(ledger.read.licences) reads it.

Reference data sits beside them as small dense lookup tables (`Lookups`),
rebuilt whenever a reference table changes. The DuckDB file stays the source
of truth: `ResidentColumns.load(store)` can always rebuild all of this.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kernels.layout import (  # noqa: F401  (the array contract, re-exported for readers)
    ACQUISITION,
    ACTIVE,
    BUDGET,
    CHIP,
    CURRENCY,
    DAY,
    DESTINATION,
    ENTITY,
    FY,
    LEASE,
    LICENSED,
    N_COUNTRIES,
    N_SOURCES,
    REVIEWED,
    SOURCES,
    SUPPLIER,
    WORKLOAD,
)  # fmt: skip
from ledger.domain.money import MINOR_EXPONENT
from ledger.domain.schema import (
    ACQUISITIONS,
    EPOCH_DAYS,
    FIRST_DATE,
    FIRST_FISCAL_YEAR,
    STATUSES,
    WORKLOADS,
)
from ledger.domain.validate import COUNTRY_CODES
from ledger.resident import (
    cache,
    rates,  # noqa: F401
)
from ledger.resident.cache import ARRAYS as RESIDENT_ARRAYS
from ledger.resident.dictionary import MAX_CODES, Dictionary, too_many_values  # noqa: F401

EPOCH = FIRST_DATE
FY0 = FIRST_FISCAL_YEAR

COUNTRIES = sorted(COUNTRY_CODES)
# the kernels cannot import ledger.domain: their country masks are N_COUNTRIES wide
assert len(COUNTRIES) == N_COUNTRIES, (len(COUNTRIES), N_COUNTRIES)
CURRENCIES = sorted(MINOR_EXPONENT)  # every supported code; the dictionary holds those in use


@dataclass
class Lookups:
    """Reference data as dense arrays indexed by dictionary codes."""

    entity_hq: np.ndarray  # int32 country code per entity code
    entity_parent_hq: np.ndarray  # int32, -1 when none
    supplier_hq: np.ndarray  # int32 country code per supplier code
    chip_tpp: np.ndarray  # float64 per chip code
    chip_area: np.ndarray  # float64 per chip code
    chip_origin: np.ndarray  # int32 country code per chip code
    chip_vendor: np.ndarray  # int32 vendor code per chip code
    vendors: list[str]
    # v(C): value in the pivot of one unit of each currency in use, int64 numerator and
    # denominator [currency code, day - rate_day0], 0 = none yet, -1 = too wide (rates.py)
    rate_num: np.ndarray
    rate_den: np.ndarray
    rate_day0: int  # first day (days since EPOCH) of the rate tables
    rules: list[dict] = field(default_factory=list)
    budgets: list[dict] = field(default_factory=list)
    policies: list[dict] = field(default_factory=list)
    licences: list[dict] = field(default_factory=list)  # the licences on file, by licence_id


def _named(column) -> np.ndarray:
    """True where a party column names someone (not null, not blank)."""
    blank = pc.equal(pc.utf8_trim_whitespace(column), "")
    return np.asarray(pc.fill_null(pc.invert(blank), False), bool)


class ResidentColumns:
    """The entries as arrays; thread-safe through `lock` (appends and kernel runs take it)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.n = 0
        self.capacity = 0
        self.codes = np.zeros((N_SOURCES, 0), np.uint16)
        self.amount = np.zeros(0, np.int64)
        self.quantity = np.zeros(0, np.int32)
        self.lines = np.zeros(0, np.int8)
        self.flags = np.zeros(0, np.uint8)
        self.licence = np.zeros(0, np.uint16)
        self.dicts = {
            "entity": Dictionary(name="entity"),
            "supplier": Dictionary(name="supplier"),
            "chip_model": Dictionary(name="chip_model"),
            "destination": Dictionary(COUNTRIES, frozen=True, name="destination"),
            "budget_code": Dictionary(name="budget_code"),
            "workload": Dictionary(list(WORKLOADS), frozen=True, name="workload"),
            "acquisition": Dictionary(list(ACQUISITIONS), frozen=True, name="acquisition"),
            # grown with the currencies that have rates or lines, so the per-day tables
            # hold a row only for those (a line needs a rate: validation makes sure)
            "currency": Dictionary(name="currency"),
            "status": Dictionary(list(STATUSES), frozen=True, name="status"),
            # code 0 is "names no licence"; at most MAX_CODES distinct references
            "license_ref": Dictionary([""], name="license_ref"),
        }
        # which codes occur, per source row (so group indexes stay compact)
        self.seen = np.zeros((N_SOURCES, 2**16), np.bool_)
        self.max_day = 0
        self.min_day = 2**16 - 1
        self.lookups: Lookups | None = None
        self.loaded_from = "store"  # or "cache", or "cache+tail"

    # -- loading and extending -------------------------------------------

    @classmethod
    def load(
        cls, store, batch_rows: int = 1_000_000, cache_dir: str | Path | None = None
    ) -> ResidentColumns:
        """From the cache when it is a prefix of the ledger (plus the tail), else from the store."""
        if cache_dir is not None:
            cols = cache.load(cls, store, Path(cache_dir), batch_rows)
            if cols is not None:
                return cols
        cols = cls()
        cols.reload_reference(store)
        n = store.count("line_entries")
        cols._grow(n)
        for batch in store.entries_with_active(batch_rows):
            cols._append_batch(pa.Table.from_batches([batch]), batch["active"])
        assert cols.n == n, (cols.n, n)
        cols._rates(store, cols.lookups)  # now that the order days are known, cover them all
        return cols

    # -- the on-disk cache (ledger/resident/cache.py) -----------------------

    def save(self, store, directory: str | Path) -> None:
        cache.save(self, store, Path(directory))

    def catch_up(self, store, batch_rows: int = 1_000_000) -> None:
        """Read the entries appended to the file since these columns were built (a cache's
        tail, or another Store's appends), and recompute `active` for the keys they touch."""
        with self.lock:
            n0 = self.n
            if store.counters()[0] == n0:
                return
            self._grow(store.counters()[0] - n0)
            for batch in store.entries(n0, batch_rows):
                table = pa.Table.from_batches([batch])
                self._append_batch(table, pa.nulls(table.num_rows, pa.bool_()))
            touched = store.active_of_keys_touched_since(n0)
            seqs = touched["entry_seq"].to_numpy()
            active = np.asarray(pc.fill_null(touched["active"], False), bool)
            self.flags[seqs] = (self.flags[seqs] & np.uint8(~ACTIVE & 0xFF)) | (
                active.astype(np.uint8) * ACTIVE
            )
            self._rates(store, self.lookups)

    def reload_reference(self, store) -> None:
        """Rebuild the lookup tables from the store's reference tables."""
        with self.lock:
            for name, table, column in [
                ("entity", "entities", "entity"),
                ("supplier", "suppliers", "supplier"),
                ("chip_model", "chips", "chip_model"),
                ("budget_code", "budgets", "budget_code"),
                ("currency", "fx_rates", "base"),
                ("currency", "fx_rates", "quote"),
            ]:
                for value in store.reference_values(table, column):
                    self.dicts[name].add(value)
            self.dicts["currency"].add(store.pivot)
            self.lookups = self._lookups(store)

    def _lookups(self, store) -> Lookups:
        country = {c: i for i, c in enumerate(COUNTRIES)}
        ent = {r["entity"]: r for r in store.reference("entities").to_pylist()}
        sup = {r["supplier"]: r for r in store.reference("suppliers").to_pylist()}
        chips = {r["chip_model"]: r for r in store.reference("chips").to_pylist()}
        entity_hq = np.array(
            [
                country[ent[e]["hq_country"]] if e in ent else -1
                for e in self.dicts["entity"].values
            ],
            np.int32,
        )
        entity_parent = np.array(
            [
                country[ent[e]["parent_hq_country"]]
                if e in ent and ent[e]["parent_hq_country"]
                else -1
                for e in self.dicts["entity"].values
            ],
            np.int32,
        )
        supplier_hq = np.array(
            [
                country[sup[s]["hq_country"]] if s in sup else -1
                for s in self.dicts["supplier"].values
            ],
            np.int32,
        )
        chip_names = self.dicts["chip_model"].values
        vendors = sorted({chips[c]["vendor"] for c in chip_names if c in chips} | {""})
        lk = Lookups(
            entity_hq=entity_hq,
            entity_parent_hq=entity_parent,
            supplier_hq=supplier_hq,
            chip_tpp=np.array([float(chips[c]["tpp"]) if c in chips else 0.0 for c in chip_names]),
            chip_area=np.array(
                [float(chips[c]["die_area_mm2"] or 0) if c in chips else 0.0 for c in chip_names]
            ),
            chip_origin=np.array(
                [country[chips[c]["origin_country"]] if c in chips else 0 for c in chip_names],
                np.int32,
            ),
            chip_vendor=np.array(
                [vendors.index(chips[c]["vendor"]) if c in chips else 0 for c in chip_names],
                np.int32,
            ),
            vendors=vendors,
            rate_num=np.zeros((1, 1), np.int64),
            rate_den=np.zeros((1, 1), np.int64),
            rate_day0=0,
        )
        self._rates(store, lk)
        lk.rules = store.reference("export_rules").to_pylist()
        for r in lk.rules:
            r["params"] = json.loads(r["params"])
        lk.budgets = store.reference("budgets").to_pylist()
        lk.policies = store.reference("sourcing_policies").to_pylist()
        lk.licences = store.reference("licences").to_pylist()
        return lk

    def _rates(self, store, lk: Lookups) -> None:
        """v(C) per currency per day, over the days in use."""
        lk.rate_num, lk.rate_den, lk.rate_day0 = self._rate_table(store, self.min_day, self.max_day)

    def lookups_covering(self, store, days: np.ndarray) -> Lookups:
        """The lookups, with a rate table that also covers `days` (a new feed's order days).

        Changes nothing: when the days are outside the resident table, a wider one is
        built for this caller alone (the resident one widens once the feed commits).
        """
        lk = self.lookups
        if not days.size:
            return lk
        lo, hi = int(days.min()), int(days.max())
        if lo >= lk.rate_day0 and hi < lk.rate_day0 + lk.rate_num.shape[1]:
            return lk
        num, den, first = self._rate_table(store, min(lo, self.min_day), max(hi, self.max_day))
        return dataclasses.replace(lk, rate_num=num, rate_den=den, rate_day0=first)

    def _rate_table(self, store, min_day: int, max_day: int) -> tuple[np.ndarray, np.ndarray, int]:
        rows = store.fx_rate_rows()
        days = (
            rows["rate_date"].cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
            - EPOCH_DAYS
        )
        first = min(int(days.min()) if len(days) else min_day, min_day)
        last = max(int(days.max()) if len(days) else 0, max_day)
        first = min(first, last)
        cur = self.dicts["currency"]
        base = cur.encode(rows["base"]).astype(np.int64)
        quote = cur.encode(rows["quote"]).astype(np.int64)
        order = [cur.index[c] for c in sorted(cur.values)]
        num, den = rates.values(
            days - first, base, quote, rows["p"].to_numpy(zero_copy_only=False),
            rows["q"].to_numpy(zero_copy_only=False), cur.index[store.pivot], order, len(cur),
            last - first + 1,
        )  # fmt: skip
        return num, den, first

    def _grow(self, extra: int) -> None:
        need = self.n + extra
        if need <= self.capacity:
            return
        cap = max(need, int(self.capacity * 1.5), 1024)
        codes = np.zeros((N_SOURCES, cap), np.uint16)
        codes[:, : self.n] = self.codes[:, : self.n]
        self.codes = codes
        for name, dtype in [("amount", np.int64), ("quantity", np.int32), ("lines", np.int8),
                            ("flags", np.uint8), ("licence", np.uint16)]:  # fmt: skip
            grown = np.zeros(cap, dtype)
            grown[: self.n] = getattr(self, name)[: self.n]
            setattr(self, name, grown)
        self.capacity = cap

    def encode(self, entries: pa.Table, grow: bool = True) -> dict[str, np.ndarray]:
        """An ENTRY_SCHEMA table as resident arrays (without storing it).

        With grow=False nothing here changes (dictionaries included): unseen values get
        the codes they would get, and a dictionary that would overflow is a 422.
        """
        m = entries.num_rows
        sizes = self._dict_sizes()
        codes = np.zeros((N_SOURCES, m), np.uint16)
        for row, name in enumerate(SOURCES[:8]):
            codes[row] = self.dicts[name].encode(entries[name], grow=grow)
        day = entries["order_date"].cast(pa.int32()).to_numpy(zero_copy_only=False) - EPOCH_DAYS
        codes[DAY] = day.astype(np.uint16)
        fy = entries["fiscal_year"].to_numpy(zero_copy_only=False) - FY0
        codes[FY] = fy.astype(np.uint16)
        lease = np.asarray(pc.equal(entries["acquisition"], "lease"), bool)
        flags = (
            lease.astype(np.uint8) * LEASE
            # a lease naming no owner or no operator cannot have had their identity
            # reviewed: it is flagged by lease_identity whatever identity_reviewed says
            | (
                np.asarray(entries["identity_reviewed"], bool)
                & ~(lease & ~(_named(entries["owner"]) & _named(entries["operator"])))
            ).astype(np.uint8)
            * REVIEWED
        )
        refs = pc.fill_null(entries["license_ref"].cast(pa.string()), "")
        return {
            "codes": codes,
            "amount": entries["amount_minor"].to_numpy(zero_copy_only=False).astype(np.int64),
            "quantity": entries["quantity"].to_numpy(zero_copy_only=False).astype(np.int32),
            "lines": entries["lines"].to_numpy(zero_copy_only=False).astype(np.int8),
            "flags": flags.astype(np.uint8),
            "licence": self.dicts["license_ref"].encode(refs, grow=grow),
            "dict_sizes": sizes,  # the dictionaries the codes were given against
        }

    def _dict_sizes(self) -> tuple[int, ...]:
        return tuple(len(self.dicts[name]) for name in (*SOURCES[:8], "license_ref"))

    def _adopt(self, entries: pa.Table, enc: dict) -> bool:
        """Grow the dictionaries by the values an encoding made with grow=False named with
        new codes (as `encode(grow=True)` would have added them); False when the
        dictionaries have changed since (the caller encodes afresh)."""
        if enc.get("dict_sizes") != self._dict_sizes() or enc["codes"].shape[1] != len(entries):
            return False
        columns = [(self.dicts[name], enc["codes"][row], entries[name])
                   for row, name in enumerate(SOURCES[:8])]  # fmt: skip
        refs = pc.fill_null(entries["license_ref"].cast(pa.string()), "")
        columns.append((self.dicts["license_ref"], enc["licence"], refs))
        for dictionary, codes, column in columns:
            dictionary.adopt(codes, column)
        return True

    def _append_batch(self, entries: pa.Table, active, encoded: dict | None = None) -> None:
        enc = encoded if encoded is not None and self._adopt(entries, encoded) else None
        enc = enc or self.encode(entries)
        m = entries.num_rows
        self._grow(m)
        lo, hi = self.n, self.n + m
        self.codes[:, lo:hi] = enc["codes"]
        self.amount[lo:hi] = enc["amount"]
        self.quantity[lo:hi] = enc["quantity"]
        self.lines[lo:hi] = enc["lines"]
        self.licence[lo:hi] = enc["licence"]
        act = np.asarray(pc.fill_null(active, False), bool)
        self.flags[lo:hi] = enc["flags"] | (act.astype(np.uint8) * ACTIVE)
        for row in range(N_SOURCES):
            present = np.bincount(enc["codes"][row], minlength=1) > 0
            self.seen[row, : present.size] |= present
        if m:
            days = enc["codes"][DAY]
            self.max_day = max(self.max_day, int(days.max()))
            self.min_day = min(self.min_day, int(days.min()))
        self.n = hi  # published last: a reader never sees a half-written batch

    def extend(
        self, entries: pa.Table, superseded_seqs: np.ndarray, store, encoded: dict | None = None
    ) -> None:
        """Extend with a committed feed's entries; its superseded entries are no longer active.
        `encoded`: the guard's `encode(entries, grow=False)` of them, reused when the
        dictionaries are as they were then."""
        with self.lock:
            if entries.num_rows:
                assert int(entries["entry_seq"][0].as_py()) == self.n, (
                    "resident columns out of step"
                )
            active = pc.and_(
                pc.equal(entries["entry_kind"], "line"), pc.equal(entries["status"], "open")
            )
            old_max, old_min = self.max_day, self.min_day
            self._append_batch(entries, active, encoded)
            if len(superseded_seqs):
                self.flags[np.asarray(superseded_seqs, np.int64)] &= np.uint8(~ACTIVE & 0xFF)
            if self.max_day > old_max or self.min_day < old_min:
                self._rates(store, self.lookups)  # the rate table must cover every order day

    def nbytes_per_entry(self) -> float:
        per = self.codes.dtype.itemsize * N_SOURCES
        per += sum(getattr(self, k).dtype.itemsize for k in RESIDENT_ARRAYS)
        return float(per)

    def view(self) -> dict[str, np.ndarray]:
        """The first n entries (the published ones), as views."""
        n = self.n
        return {
            # the whole C-contiguous block (kernels read only i < n): faster indexing
            "codes": self.codes,
            "amount": self.amount[:n],
            "quantity": self.quantity[:n],
            "lines": self.lines[:n],
            "flags": self.flags[:n],
            "licence": self.licence[:n],
        }
