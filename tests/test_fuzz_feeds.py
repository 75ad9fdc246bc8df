"""Random 1-4 byte mutations of small valid feeds, in every format: a clean refusal (4xx,
store unchanged) or a valid feed, never a crash or another exception (issue 10)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from tests.conftest import load_reference
from tests.test_api_support import encode

# Bounded in examples, never in time: enough to have crashed the old Arrow reader many times.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
GOOD = {fmt: encode(fmt) for fmt in ("arrow", "parquet", "csv", "json", "ndjson")}


@pytest.fixture(scope="module")
def fuzz_ledger(tmp_path_factory):
    ledger = Ledger.open(tmp_path_factory.mktemp("fuzz") / "ledger.duckdb")
    load_reference(ledger)
    yield ledger
    ledger.close()


def mutations(size: int):
    """1-4 (position, byte) replacements, positions anywhere in the feed."""
    edit = st.tuples(st.integers(0, size - 1), st.integers(0, 255))
    return st.lists(edit, min_size=1, max_size=4)


def mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        out[pos] = value
    return bytes(out)


def check_one(ledger: Ledger, data: bytes, fmt: str) -> None:
    before = ledger.store.content_hash()
    try:
        ledger.ingest_bytes(data, fmt)
    except LedgerError as e:
        assert 400 <= e.status < 500, e
        assert ledger.store.content_hash() == before
        e.as_problem()  # the answer can be built


@pytest.mark.parametrize("fmt", list(GOOD))
def test_mutated_feeds_never_crash_nor_5xx(fuzz_ledger, fmt):
    data = GOOD[fmt]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(mutations(len(data)))
    def run(edits):
        check_one(fuzz_ledger, mutate(data, edits), fmt)

    run()


def test_the_unmutated_feeds_are_accepted(tmp_path):
    """The fuzz starts from feeds that are good: every refusal is the mutation's doing."""
    for fmt, data in GOOD.items():
        with Ledger.open(tmp_path / f"{fmt}.duckdb") as ledger:
            load_reference(ledger)
            assert ledger.ingest_bytes(data, fmt).answer["lines_accepted"] == 9
