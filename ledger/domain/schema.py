"""The line-item schema: what a feed may carry and what a validated batch holds.

A feed line (DESIGN.md section 3) is validated and normalised by
`ledger.domain.validate` into one Arrow table of `LINE_SCHEMA`; the store adds the
entry columns of `ENTRY_EXTRA` when it appends.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

# The ledger's range, defined once: every date (order dates, rates, rules) lies in it, and
# the dense per-day tables of the resident state are sized by it, never by a sent value.
FIRST_DATE = dt.date(2000, 1, 1)  # day 0 of the resident `day` codes
LAST_DATE = dt.date(2099, 12, 31)
FIRST_FISCAL_YEAR = 2000  # code 0 of the resident `fiscal_year` codes
LAST_FISCAL_YEAR = 2100  # a fiscal year ends in it: one starting mid-2099 ends in 2100
N_FISCAL_YEARS = LAST_FISCAL_YEAR - FIRST_FISCAL_YEAR + 1
EPOCH_DAYS = (FIRST_DATE - dt.date(1970, 1, 1)).days  # Arrow date32 counts from 1970-01-01
MAX_PAGE_LINES = 10_000  # flagged lines per page, rows per SQL answer by default


def day_of(date: dt.date) -> int:
    """Days since FIRST_DATE (the resident `day` code)."""
    return (date - FIRST_DATE).days


def date_of(day: int) -> dt.date:
    return FIRST_DATE + dt.timedelta(days=int(day))


# Fields a feed may carry, with whether they are required.
FEED_FIELDS: dict[str, bool] = {
    "order_id": True,
    "line_no": True,
    "revision": False,
    "status": False,
    "entity": True,
    "order_date": True,
    "supplier": True,
    "chip_model": True,
    "quantity": True,
    "unit_price": True,
    "currency": True,
    "destination": True,
    "budget_code": True,
    "workload": True,
    "acquisition": False,
    "owner": False,
    "operator": False,
    "identity_reviewed": False,
    "license_ref": False,
}

# What each feed field means (the contract users read: docs/line-fields.md is generated from it).
FIELD_DOCS: dict[str, str] = {
    "order_id": "purchase-order number: 1-64 printable characters",
    "line_no": "line within the order: integer >= 1",
    "revision": "integer >= 0 (default 0); a higher revision replaces the line",
    "status": "`open` (default) or `cancelled`; a cancellation may name only the line's key",
    "entity": "buying entity; must exist in `entities`",
    "order_date": "ISO date (YYYY-MM-DD), 2000-01-01 to 2099-12-31; a midnight timestamp is "
    "taken as its date, any other time or zone is refused",
    "supplier": "must exist in `suppliers`",
    "chip_model": "must exist in `chips`",
    "quantity": "units: integer > 0",
    "unit_price": "decimal in `currency`, no more decimals than its minor unit",
    "currency": "ISO 4217 code; needs a rate on or before `order_date`",
    "destination": "ISO 3166-1 alpha-2: where the chips are installed",
    "budget_code": "the budget the line commits against",
    "workload": "`training` or `inference`",
    "acquisition": "`purchase` (default) or `lease`",
    "owner": "owner of leased chips (a lease without one is accepted and flagged)",
    "operator": "operator of leased chips (a lease without one is accepted and flagged)",
    "identity_reviewed": "true when the owner/operator identity review is done (default false)",
    "license_ref": "export licence or notification reference",
}

STATUSES = ("open", "cancelled")
WORKLOADS = ("training", "inference")
ACQUISITIONS = ("purchase", "lease")

# A validated, normalised line. Money is int64 minor units of `currency`.
LINE_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("line_no", pa.int32()),
        ("revision", pa.int32()),
        ("status", pa.string()),
        ("entity", pa.string()),
        ("order_date", pa.date32()),
        ("fiscal_year", pa.int32()),
        ("supplier", pa.string()),
        ("chip_model", pa.string()),
        ("quantity", pa.int64()),
        ("unit_price_minor", pa.int64()),
        ("amount_minor", pa.int64()),
        ("currency", pa.string()),
        ("destination", pa.string()),
        ("budget_code", pa.string()),
        ("workload", pa.string()),
        ("acquisition", pa.string()),
        ("owner", pa.string()),
        ("operator", pa.string()),
        ("identity_reviewed", pa.bool_()),
        ("license_ref", pa.string()),
        # JSON object of the columns a mapping profile keeps (a cost centre, say); the last
        # column, so ledgers made before it gain it with ALTER TABLE ... ADD COLUMN
        ("attributes", pa.string()),
    ]
)

# Columns the store adds to each entry of `line_entries`.
#   entry_seq: dense 0-based position of the entry in the ledger (resident index)
#   feed_seq: the feed that appended it
#   entry_kind: 'line' (a line as sent) or 'reversal' (negation of the line's prior entry)
#   lines: signed line count (+1 open line, -1 reversal of an open line, 0 cancelled)
ENTRY_EXTRA = pa.schema(
    [
        ("entry_seq", pa.int64()),
        ("feed_seq", pa.int64()),
        ("entry_kind", pa.string()),
        ("lines", pa.int8()),
    ]
)

ENTRY_SCHEMA = pa.schema(list(ENTRY_EXTRA) + list(LINE_SCHEMA))

# Fields compared to decide that a re-sent line is unchanged.
CONTENT_FIELDS = [f.name for f in LINE_SCHEMA]
