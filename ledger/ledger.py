"""The ingest use case: feed bytes or a raw table -> validated batch -> one store transaction.

Used by the CLI, the API and the demo, so every path validates the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.ipc as ipc

from ledger.domain.errors import LedgerError
from ledger.domain.feeds import read_feed
from ledger.domain.validate import validate
from ledger.store.store import AppendResult, Store

MAX_FEED_ID_CHARS = 200

# Listeners called after each committed append (the resident columns extend themselves).
AppendListener = Callable[[AppendResult], None]


class Ledger:
    """The store plus what must follow each committed append."""

    def __init__(self, store: Store, max_rows_per_feed: int = 5_000_000):
        self.store = store
        self.max_rows_per_feed = max_rows_per_feed
        self.listeners: list[AppendListener] = []
        self.precheck: Callable[[pa.Table], list[dict]] | None = None

    def ingest_bytes(self, data: bytes, fmt: str, feed_id: str | None = None) -> AppendResult:
        raw = read_feed(data, fmt)
        return self.ingest_table(raw.table, feed_id or raw.feed_id, data)

    def ingest_table(
        self, raw: pa.Table, feed_id: str | None = None, content: bytes | None = None
    ) -> AppendResult:
        if feed_id is not None and not (0 < len(feed_id) <= MAX_FEED_ID_CHARS):
            raise LedgerError(
                "invalid-feed-id", "Invalid feed id",
                f"a feed id has 1 to {MAX_FEED_ID_CHARS} characters", 400,
            )  # fmt: skip
        batch = validate(raw, self.store.reference_view(), self.max_rows_per_feed)
        if content is None:
            content = table_bytes(raw)
        return self.store.append_feed(batch, feed_id, content, self.precheck, self._committed)

    def _committed(self, result: AppendResult) -> None:
        for listener in self.listeners:
            listener(result)


def table_bytes(table: pa.Table) -> bytes:
    """A table's Arrow IPC stream bytes: its content identity when no bytes were sent."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return sink.getvalue().to_pybytes()
