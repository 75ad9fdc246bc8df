"""The store's schema: every table and view, as DDL, and its version. Public names for SQL."""

from __future__ import annotations

from ledger.domain.money import MINOR_EXPONENT
from ledger.domain.schema import ENTRY_SCHEMA
from ledger.reference import registry

SCHEMA_VERSION = 1

# Reference tables: name -> (DDL columns, key columns), from the one registry.
REFERENCE_TABLES: dict[str, tuple[str, list[str]]] = {
    t.name: (t.ddl_columns(), list(t.keys)) for t in registry.TABLES
}

_ENTRY_DDL = ", ".join(
    f"{f.name} {_t}"
    for f, _t in zip(
        ENTRY_SCHEMA,
        [
            "BIGINT NOT NULL", "BIGINT NOT NULL", "VARCHAR NOT NULL", "TINYINT NOT NULL",
            "VARCHAR NOT NULL", "INTEGER NOT NULL", "INTEGER NOT NULL", "VARCHAR NOT NULL",
            "VARCHAR NOT NULL", "DATE NOT NULL", "INTEGER NOT NULL", "VARCHAR NOT NULL",
            "VARCHAR NOT NULL", "BIGINT NOT NULL", "BIGINT NOT NULL", "BIGINT NOT NULL",
            "VARCHAR NOT NULL", "VARCHAR NOT NULL", "VARCHAR NOT NULL", "VARCHAR NOT NULL",
            "VARCHAR NOT NULL", "VARCHAR", "VARCHAR", "BOOLEAN NOT NULL", "VARCHAR",
            "VARCHAR",  # attributes: JSON text (json_extract_string(attributes, '$.cost_center'))
        ],
        strict=True,
    )
)  # fmt: skip

_DDL = [
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS currencies "
    "(currency VARCHAR PRIMARY KEY, minor_exponent INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS feeds (seq BIGINT NOT NULL, feed_id VARCHAR NOT NULL, "
    "sha256 VARCHAR NOT NULL, lines BIGINT NOT NULL, lines_unchanged BIGINT NOT NULL, "
    "entries BIGINT NOT NULL, accepted_at TIMESTAMP NOT NULL, answer VARCHAR NOT NULL)",
    # No PRIMARY KEY: keys are enforced in the append path (an index on a
    # 10^7-row append-only table makes WAL replay slow and fragile).
    f"CREATE TABLE IF NOT EXISTS line_entries ({_ENTRY_DDL})",
    *[f"CREATE TABLE IF NOT EXISTS {t} ({cols})" for t, (cols, _) in REFERENCE_TABLES.items()],
    # ledgers created before suppliers carried a source
    "ALTER TABLE suppliers ADD COLUMN IF NOT EXISTS source VARCHAR",
    # ... and before sourcing policies had a basis: the DESIGN default, by chip origin
    "ALTER TABLE sourcing_policies ADD COLUMN IF NOT EXISTS basis VARCHAR DEFAULT 'chip_origin'",
    # ledgers created before mapping profiles kept columns (the last column of an entry)
    "ALTER TABLE line_entries ADD COLUMN IF NOT EXISTS attributes VARCHAR",
    # n / d rounded half-even, exact in 128-bit integers (the kernels' rule).
    "CREATE OR REPLACE MACRO half_even_div(n, d) AS "
    "sign(n) * ((abs(n) // d) + CASE WHEN 2 * (abs(n) % d) > d "
    "OR (2 * (abs(n) % d) = d AND (abs(n) // d) % 2 = 1) THEN 1 ELSE 0 END)",
    # USD is 1 on every date; other rates as integers of 10^-12 USD.
    "CREATE OR REPLACE VIEW fx_rates_e12 AS "
    "SELECT rate_date, currency, CAST(usd_per_unit * 1000000000000 AS HUGEINT) AS rate_e12 "
    "FROM fx_rates WHERE currency <> 'USD' "
    "UNION ALL SELECT DATE '1900-01-01', 'USD', CAST(1000000000000 AS HUGEINT)",
    # The current state of every line: its latest 'line' entry.
    "CREATE OR REPLACE VIEW orders AS SELECT * EXCLUDE (entry_kind) "
    "FROM line_entries WHERE entry_kind = 'line' "
    "QUALIFY row_number() OVER (PARTITION BY order_id, line_no ORDER BY entry_seq DESC) = 1",
    # Each line converted at the latest rate on or before its order date.
    "CREATE OR REPLACE VIEW orders_usd AS "
    "SELECT o.*, CAST(half_even_div(CAST(o.amount_minor AS HUGEINT) * r.rate_e12 * 100, "
    "CAST(1000000000000 AS HUGEINT) * CAST(pow(10, c.minor_exponent) AS HUGEINT)) AS BIGINT) "
    "AS amount_usd_minor "
    "FROM orders o JOIN currencies c USING (currency) "
    "ASOF LEFT JOIN fx_rates_e12 r ON o.currency = r.currency AND o.order_date >= r.rate_date",
]


def currency_rows() -> str:
    """The currencies table's rows as a VALUES list (codes are ISO 4217: no quoting issue)."""
    return ", ".join(f"('{c}', {e})" for c, e in sorted(MINOR_EXPONENT.items()))
