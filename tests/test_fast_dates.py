"""The plain-date route of order_date validation accepts exactly the real calendar dates."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from ledger.domain.validate import _plain_dates

EPOCH = dt.date(1970, 1, 1)


def _reference(text: str) -> int | None:
    try:
        return (dt.date.fromisoformat(text) - EPOCH).days
    except ValueError:
        return None


def test_every_day_and_every_near_miss_matches_the_calendar():
    # every month of years around the ledger's range (leap, century and 400-year rules),
    # each with days 00 to 32
    texts = [f"{y:04d}-{m:02d}-{d:02d}" for y in (1999, 2000, 2024, 2025, 2100)
             for m in range(0, 14) for d in range(0, 33)]  # fmt: skip
    for text in texts:
        got = _plain_dates(pa.array([text]))
        want = _reference(text)
        assert (None if got is None else int(got[0])) == want, text
    valid = [t for t in texts if _reference(t) is not None]
    days = _plain_dates(pa.array(valid))
    assert days is not None and days.tolist() == [_reference(t) for t in valid]


def test_one_bad_date_sends_the_whole_feed_the_general_way():
    assert _plain_dates(pa.array(["2025-01-01", "2025-02-30"])) is None
    assert _plain_dates(pa.array(["2025-01-01", "2025-01-01T00:00:00"])) is None
    assert _plain_dates(pa.array(["2025-01-01", None])) is None
    assert _plain_dates(pa.array([" 2025-01-01"])) is None
