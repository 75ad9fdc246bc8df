"""The line-key index: 64-bit hashes of every (order_id, line_no) in the ledger.

It answers one question fast: could any line of an incoming feed already be in
the ledger? When not (a feed of new lines, the usual case), the store skips
the query that finds each line's current entry, a scan of all of
`line_entries` that grows with the ledger. A hit, true or a hash collision,
only sends the feed down that exact path, so a collision costs time, never
correctness.

Kept as a few sorted runs (8 bytes per line), merged like a binary counter so
each hash is re-sorted O(log n) times in all; a lookup is a galloping merge of
the sorted probes with each run. The store builds it on first use and adds
each committed feed's keys.
"""

from __future__ import annotations

import numpy as np

from kernels import dispatch


class KeyIndex:
    def __init__(self, hashes: np.ndarray):
        self.runs: list[np.ndarray] = []
        self.add(hashes)

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.runs)

    def add(self, hashes: np.ndarray) -> None:
        run = np.sort(np.asarray(hashes, dtype=np.uint64))
        if not len(run):
            return
        self.runs.append(run)
        # keep run sizes decreasing by at least half: O(log n) runs
        while len(self.runs) > 1 and len(self.runs[-1]) * 2 >= len(self.runs[-2]):
            last = self.runs.pop()
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], last]), kind="stable")

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Per hash: whether it is in the index."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        # the probes sorted too: one galloping merge per run
        order = np.argsort(hashes)
        probes = hashes[order]
        found_sorted = np.zeros(len(hashes), dtype=bool)
        for run in self.runs:
            dispatch.key_search(run, probes, found_sorted)
        found = np.empty(len(hashes), dtype=bool)
        found[order] = found_sorted
        return found
