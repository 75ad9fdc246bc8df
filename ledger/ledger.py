"""`Ledger`: the one composition root and facade.

Every entry point (API, CLI, demo, bench, tests) opens a ledger with
`Ledger.open(path, ...)`, so every guarantee holds on every path: the same
validation, the same budget guard, the same screening pack. The ledger owns
the store, the resident state (columns, dictionaries, lookups, key index),
the read use cases and the write lock.

The write path is `ledger.write.ingest`, one plain function; reference loads
go through `load_reference`, which refreshes the resident lookups in step.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from pathlib import Path

import pyarrow as pa

from ledger import reference
from ledger.domain import mapping as mapping_profiles
from ledger.domain.errors import LedgerError
from ledger.domain.feeds import read_feed
from ledger.domain.parties import DEFAULT_THRESHOLD
from ledger.read.queries import Queries
from ledger.reference import csl
from ledger.reference import upgrade as pack_upgrade
from ledger.resident.columns import ResidentColumns
from ledger.resident.keys import KeyIndex
from ledger.store.sandbox import DEFAULT_SQL_MEMORY_MB
from ledger.store.store import Store
from ledger.write import AppendResult, ingest

log = logging.getLogger("chip_ledger.ledger")

MAX_ROWS_PER_FEED = 5_000_000


class Ledger:
    """The store, the resident state kept in step with it, and the use cases over both."""

    def __init__(
        self, store: Store, max_rows_per_feed: int, backend: str | None, cache: bool,
        party_match_threshold: float = DEFAULT_THRESHOLD,
    ):  # fmt: skip
        if not 0 <= party_match_threshold <= 100:
            raise LedgerError(
                "bad-setting", "Party match threshold out of range",
                f"{party_match_threshold}: use 0 to 100", 422,
            )  # fmt: skip
        self.store = store
        self.party_match_threshold = float(party_match_threshold)
        self.max_rows_per_feed = max_rows_per_feed
        self.backend = backend
        on_disk = cache and store.path not in ("", ":memory:")
        self.cache_dir = Path(store.path + ".columns") if on_disk else None
        self.write_lock = threading.RLock()
        self._resident_lock = threading.Lock()
        self._cols: ResidentColumns | None = None
        self._reads: Queries | None = None
        self.keys: KeyIndex | None = None  # line-key hashes, built on the first feed
        self.load_seconds = 0.0
        self._closed = False

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, max_rows_per_feed: int = MAX_ROWS_PER_FEED,
        backend: str | None = None, cache: bool = True, snapshot_dir: str | None = None,
        sql_memory_mb: int = DEFAULT_SQL_MEMORY_MB, pivot: str | None = None,
        party_match_threshold: float = DEFAULT_THRESHOLD,
    ) -> Ledger:  # fmt: skip
        """Open (or create) the ledger at `path`. A new ledger gets the shipped reference
        pack (chips, suppliers, export rules, restricted parties) in the transaction that
        creates it. `pivot` (default $CHIP_LEDGER_PIVOT, else USD): the currency every
        conversion goes through (DESIGN section 3, v(C)). `party_match_threshold` (0-100)
        is the fuzzy score from which a party matches a restricted-party listing."""
        store = Store(
            path, snapshot_dir=snapshot_dir, seed=reference.pack_tables,
            sql_memory_mb=sql_memory_mb, pivot=pivot or os.environ.get("CHIP_LEDGER_PIVOT"),
        )  # fmt: skip
        if store.created:
            log.info("new ledger %s with the shipped reference pack", path)
        return cls(store, max_rows_per_feed, backend, cache, party_match_threshold)

    def close(self) -> None:
        """Save the resident columns beside the file (the next start maps them) and close."""
        if self._closed:
            return
        self._closed = True
        self.save_cache()
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- resident state ----------------------------------------------------

    @property
    def cols(self) -> ResidentColumns:
        """The resident columns, loaded on first use (from the cache when it is a prefix)."""
        if self._cols is None:
            with self._resident_lock:
                if self._cols is None:
                    started = time.perf_counter()
                    cols = ResidentColumns.load(self.store, cache_dir=self.cache_dir)
                    self.load_seconds = time.perf_counter() - started
                    self._cols = cols
                    if self.cache_dir is not None and cols.loaded_from != "cache":
                        self.save_cache()  # rebuilt, or a tail was read: keep it for next time
        return self._cols

    @property
    def reads(self) -> Queries:
        """The read use cases over the resident columns."""
        if self._reads is None:
            cols = self.cols
            with self._resident_lock:
                if self._reads is None:
                    self._reads = Queries(
                        self.store, cols, self.backend, self.party_match_threshold
                    )
        return self._reads

    def save_cache(self) -> None:
        if self.cache_dir is not None and self._cols is not None:
            self._cols.save(self.store, self.cache_dir)

    def key_index(self) -> KeyIndex:
        if self.keys is None:
            self.keys = KeyIndex(self.store.key_hashes())
        return self.keys

    def discard_resident(self) -> None:
        """Forget the resident state (columns, reads, key index): rebuilt on next use."""
        with self._resident_lock:
            self._cols = None
            self._reads = None
            self.keys = None

    def refresh(self) -> None:
        """Catch up with appends made to the file by another Store in this process."""
        self.keys = None
        if self._cols is not None:
            self._cols.catch_up(self.store)
        if self._reads is not None:
            self._reads.state_changed()

    # -- writes ------------------------------------------------------------

    def ingest_bytes(
        self, data: bytes, fmt: str, feed_id: str | None = None, mapping: str | None = None
    ) -> AppendResult:
        """A feed as sent (JSON, NDJSON, CSV, Arrow IPC, Parquet): all or nothing, idempotent.
        `mapping` names a stored mapping profile that reads the feed's columns first."""
        if mapping is None:
            raw = read_feed(data, fmt)
            return ingest(self, raw.table, feed_id or raw.feed_id, data)
        profile, profile_json = self.mapping_profile(mapping)
        raw = read_feed(data, fmt, delimiter=profile.delimiter)
        mapped = mapping_profiles.apply(profile, raw.table)
        # the same bytes read through another profile are other lines: another identity
        content = data + b"\0mapping:" + profile_json.encode()
        return ingest(self, mapped.table, feed_id or raw.feed_id, content, mapped.attributes)

    def mapping_profile(self, name: str) -> tuple[mapping_profiles.Profile, str]:
        """A stored mapping profile (checked when it was stored) and its JSON text."""
        rows = self.store.reference("mappings").to_pylist()
        for row in rows:
            if row["mapping"] == name:
                return mapping_profiles.parse_profile(name, row["profile"]), row["profile"]
        raise mapping_profiles.unknown_profile(name, [r["mapping"] for r in rows])

    def ingest_table(
        self, raw: pa.Table, feed_id: str | None = None, content: bytes | None = None
    ) -> AppendResult:
        """A feed as an Arrow table of feed fields; `content` is its identity (default: its
        Arrow IPC bytes)."""
        return ingest(self, raw, feed_id, content)

    def load_reference(self, name: str, data: bytes, fmt: str) -> int:
        """Load rows into a reference table (JSON or CSV); the same key replaces."""
        with self.write_lock:
            loaded = reference.load(self.store, name, data, fmt)
            self._reference_changed()
        return loaded

    def import_restricted_parties(
        self, data: bytes, fmt: str, severity: str | None = None
    ) -> int:  # fmt: skip
        """Load listings in the US Consolidated Screening List layout (JSON or CSV)."""
        rows = csl.parse(data, fmt, severity)
        with self.write_lock:
            loaded = reference.load_rows(self.store, "restricted-parties", rows)
            self._reference_changed()
        return loaded

    def import_fx_rates(
        self, data: bytes, fmt: str, base: str | None = None, source: str | None = None
    ) -> dict:
        """Rates as published (`ecb` history layout, or `wide` with a stated base)."""
        with self.write_lock:
            summary = reference.import_rates(self.store, data, fmt, base, source)
            self._reference_changed()
        return summary

    def load_pack(self) -> dict[str, int]:
        """(Re)load the shipped reference pack (chips, suppliers, export rules)."""
        with self.write_lock:
            loaded = reference.load_pack(self.store)
            self._reference_changed()
        return loaded

    def upgrade_pack(self, dry_run: bool = False) -> dict[str, dict]:
        """Bring the shipped rows (chips, suppliers, export rules) up to date with this
        program's pack; per table the keys added and changed, and the counts unchanged and
        kept (rows of keys the pack does not hold: never touched). See reference.upgrade."""
        with self.write_lock:
            listing = pack_upgrade.upgrade(self.store, dry_run=dry_run)
            if not dry_run:
                self._reference_changed()
        return listing

    def _reference_changed(self) -> None:
        if self._cols is not None:
            self._cols.reload_reference(self.store)
        if self._reads is not None:
            self._reads.state_changed()

    # -- reads -------------------------------------------------------------

    def reference_rows(self, name: str) -> list[dict]:
        return reference.as_rows(self.store, name)

    def totals(self, by=None, currency: str = "USD", fx: str = "order-date", filters=None) -> dict:
        return self.reads.totals(by, currency, fx, filters)

    def budgets(self, fiscal_year: int | None = None, entity: str | None = None) -> dict:
        return self.reads.budgets(fiscal_year, entity)

    def sourcing(self, fiscal_year: int | None = None, entity: str | None = None) -> dict:
        return self.reads.sourcing(fiscal_year, entity)

    def compliance(
        self, fiscal_year: int | None = None, rule: str | None = None, limit: int = 100,
        offset: int = 0,
    ) -> dict:  # fmt: skip
        return self.reads.compliance(fiscal_year, rule, limit, offset)

    def licences(
        self, state: str | None = None, as_of: dt.date | None = None, lines: int = 20
    ) -> dict:
        """The licence register: used and remaining per licence, state, consuming lines."""
        return self.reads.licences(state, as_of, lines)

    def parties(self) -> dict:
        """Every party (suppliers, entities, lease owners and operators) with its best
        restricted-party matches."""
        return self.reads.parties()

    def sql(self, sql: str, max_rows: int = 10_000, timeout_s: float = 5.0):
        return self.store.read_only_sql(sql, max_rows=max_rows, timeout_s=timeout_s)

    def snapshot(self, target_dir: str | os.PathLike) -> dict:
        with self.write_lock:  # no feed lands half-way through the copy
            return self.store.snapshot(target_dir)

    def state(self) -> dict:
        """What changes when a feed or reference data lands (for cheap polling)."""
        entries, next_feed = self.store.counters()
        generation = self._reads._generation if self._reads is not None else 0
        features = [name for name in ("licences", "parties") if hasattr(self, name)]
        return {
            "entries": entries, "feeds": next_feed - 1, "generation": generation,
            "features": features,
        }  # fmt: skip

    def entry_count(self) -> int:
        return self.store.counters()[0]
