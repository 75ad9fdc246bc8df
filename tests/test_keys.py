"""The line-key index against a Python set."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ledger.resident.keys import KeyIndex

hashes = st.lists(st.integers(0, 2**64 - 1), max_size=40)


@given(first=hashes, batches=st.lists(hashes, max_size=12), probes=hashes)
def test_contains_matches_a_set(first, batches, probes):
    index = KeyIndex(np.array(first, dtype=np.uint64))
    seen = set(first)
    for batch in batches:
        index.add(np.array(batch, dtype=np.uint64))
        seen.update(batch)
    assert len(index.runs) <= max(1, int(np.log2(max(len(index), 1))) + 1)
    everything = sorted(seen) + probes + [0, 2**64 - 1]
    got = index.contains(np.array(everything, dtype=np.uint64)).tolist()
    assert got == [h in seen for h in everything]
