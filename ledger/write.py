"""The write path, top to bottom in one function (DESIGN section 2):

feed table -> validate (pure) -> replay or conflict -> current entries of the
touched lines (store) -> revision / reversal plan (pure) -> resident room and
budget guard (check the candidate entries; mutate nothing) -> one store
transaction -> resident state extended.

Nothing before the transaction changes any state, so a refused feed leaves no
trace: not on disk, not in the dictionaries, counters, key index or caches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from ledger import guard
from ledger.domain import cancellations
from ledger.domain.entries import NO_CURRENT, build_entries, feed_answer, plan_revisions
from ledger.domain.errors import LedgerError
from ledger.domain.validate import validate
from ledger.store.store import StaleState

if TYPE_CHECKING:
    from ledger.ledger import Ledger

MAX_FEED_ID_CHARS = 200
MAX_STALE_RETRIES = 3


@dataclass
class AppendResult:
    answer: dict  # the answer to give the sender (also for a replay)
    replay: bool  # the same feed was already in the ledger
    entries: pa.Table | None = None  # the appended entries (ENTRY_SCHEMA), None on replay


def ingest(
    ledger: Ledger, raw: pa.Table, feed_id: str | None, content: bytes | None,
    attributes: pa.Array | None = None,
) -> AppendResult:  # fmt: skip
    if feed_id is not None and not (0 < len(feed_id) <= MAX_FEED_ID_CHARS):
        raise LedgerError(
            "invalid-feed-id", "Invalid feed id",
            f"a feed id has 1 to {MAX_FEED_ID_CHARS} characters", 400,
        )  # fmt: skip
    store = ledger.store
    sha = hashlib.sha256(content if content is not None else table_bytes(raw)).hexdigest()
    feed_id = feed_id or f"sha256:{sha}"
    # a feed sent again gets its first answer (or 409 for other bytes) before any check:
    # its lines may no longer pass today's (a later revision, a smaller row limit)
    prior = store.feed_by_id(feed_id)
    if prior is not None:
        return AppendResult(_replayed(feed_id, sha, prior), replay=True)
    key_only = cancellations.key_only_rows(raw)
    if key_only.any():  # a cancellation naming only its key: the rest is the current entry's
        keys = cancellations.keys_of(raw, key_only)
        raw, attributes = cancellations.complete(raw, attributes, keys, store.current_lines(keys))
    batch = validate(raw, store.reference_view(), ledger.max_rows_per_feed, attributes)
    with ledger.write_lock:
        for _ in range(MAX_STALE_RETRIES):
            prior = store.feed_by_id(feed_id)
            if prior is not None:
                return AppendResult(_replayed(feed_id, sha, prior), replay=True)
            first_seq, feed_seq = store.counters()
            cols = ledger.cols
            if cols.n != first_seq:  # another Store on this file appended meanwhile
                ledger.refresh()
            key_hash = store.key_hashes(batch)
            known = ledger.key_index().contains(key_hash)
            current = store.current_entries(batch) if known.any() else NO_CURRENT
            plan = plan_revisions(batch, current)
            reversed_entries = (
                store.entries_at(plan.reverse_seqs, plan.reverse_rows)
                if len(plan.reverse_seqs)
                else None
            )
            entries = build_entries(batch, plan, reversed_entries, first_seq, feed_seq)
            checked = guard.check(ledger.reads, store, entries)  # 409 over a stop budget
            answer = feed_answer(feed_id, feed_seq, plan, entries.num_rows, checked.warnings)
            try:
                store.append(entries, feed_id, sha, answer, first_seq)
            except StaleState:
                ledger.refresh()
                continue
            # committed: the resident state follows, still under the write lock (in order)
            try:
                cols.extend(entries, plan.superseded_seqs, store, checked.encoded)
                ledger.key_index().add(np.delete(key_hash, current["_row"].to_numpy()))
                ledger.reads.committed(checked.after, checked.magnitudes_after)
            except BaseException:
                # the feed is in the file; what is resident may be half-extended: drop it,
                # the next use rebuilds it from the file (the source of truth)
                ledger.discard_resident()
                raise
            return AppendResult(answer, replay=False, entries=entries)
    raise LedgerError(
        "busy", "The ledger file is being written by another handle in this process",
        "try again", 503,
    )  # fmt: skip


def _replayed(feed_id: str, sha: str, prior: tuple[str, dict]) -> dict:
    """The first answer for the same feed sent again; a conflict for other content."""
    prior_sha, answer = prior
    if prior_sha != sha:
        raise LedgerError(
            "feed-conflict", "Feed id already used for other content",
            f"feed {feed_id!r} was accepted with other content (sha256 {prior_sha[:16]}...)", 409,
        )  # fmt: skip
    return answer


def table_bytes(table: pa.Table) -> bytes:
    """A table's Arrow IPC stream bytes: its content identity when no bytes were sent."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return sink.getvalue().to_pybytes()
