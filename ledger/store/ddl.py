"""The store's schema: every table and view, as DDL, and its version. Public names for SQL."""

from __future__ import annotations

from ledger.domain.money import MINOR_EXPONENT
from ledger.domain.schema import ENTRY_SCHEMA

SCHEMA_VERSION = 1

# Reference tables: name -> (DDL columns, key columns). Public names for ad-hoc SQL.
REFERENCE_TABLES: dict[str, tuple[str, list[str]]] = {
    "entities": (
        "entity VARCHAR NOT NULL, hq_country VARCHAR NOT NULL, parent_hq_country VARCHAR, "
        "fy_start_month INTEGER NOT NULL",
        ["entity"],
    ),
    "suppliers": (
        "supplier VARCHAR NOT NULL, hq_country VARCHAR NOT NULL, source VARCHAR",
        ["supplier"],
    ),
    "chips": (
        "chip_model VARCHAR NOT NULL, vendor VARCHAR NOT NULL, origin_country VARCHAR NOT NULL, "
        "tpp BIGINT NOT NULL, die_area_mm2 DOUBLE, source VARCHAR",
        ["chip_model"],
    ),
    "fx_rates": (
        "rate_date DATE NOT NULL, currency VARCHAR NOT NULL, usd_per_unit DECIMAL(18,12) NOT NULL, "
        "synthetic BOOLEAN NOT NULL DEFAULT false",
        ["rate_date", "currency"],
    ),
    "budgets": (
        "entity VARCHAR NOT NULL, budget_code VARCHAR NOT NULL, fiscal_year INTEGER NOT NULL, "
        "currency VARCHAR NOT NULL, amount_minor BIGINT NOT NULL, action VARCHAR NOT NULL, "
        "warn_share DECIMAL(7,6) NOT NULL DEFAULT 0.9",
        ["entity", "budget_code", "fiscal_year"],
    ),
    "sourcing_policies": (
        "policy VARCHAR NOT NULL, jurisdiction VARCHAR NOT NULL, destinations VARCHAR NOT NULL, "
        "metric VARCHAR NOT NULL, min_share DECIMAL(7,6) NOT NULL, entity VARCHAR, "
        "fiscal_year INTEGER, currency VARCHAR NOT NULL DEFAULT 'USD'",
        ["policy"],
    ),
    "export_rules": (
        "rule_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, effective_from DATE NOT NULL, "
        "effective_to DATE, params VARCHAR NOT NULL, severity VARCHAR NOT NULL, "
        "source VARCHAR NOT NULL",
        ["rule_id"],
    ),
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
