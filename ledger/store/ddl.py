"""The store's schema: every table and view, as DDL, and its version. Public names for SQL."""

from __future__ import annotations

from ledger.domain.money import MINOR_EXPONENT
from ledger.domain.schema import ENTRY_SCHEMA
from ledger.reference import registry

SCHEMA_VERSION = 2  # 2: fx_rates as published (base, quote, rate, source)

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

_TABLES = [
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
]

# Schema 1 -> 2: fx_rates(rate_date, currency, usd_per_unit, synthetic) becomes
# fx_rates(rate_date, base, quote, rate, source, synthetic) with base = currency, quote = USD.
# Run only on a ledger whose fx_rates still has the old shape (views dropped first: they
# name the old columns and are recreated after).
MIGRATE_FX_RATES_V2 = [
    "DROP VIEW IF EXISTS orders_usd",
    "DROP VIEW IF EXISTS fx_rates_e12",
    "ALTER TABLE fx_rates RENAME TO fx_rates_v1",
    f"CREATE TABLE fx_rates ({REFERENCE_TABLES['fx_rates'][0]})",
    "INSERT INTO fx_rates SELECT rate_date, currency, 'USD', "
    "CAST(usd_per_unit AS DECIMAL(24,12)), NULL, synthetic FROM fx_rates_v1 "
    "WHERE currency <> 'USD'",
    "DROP TABLE fx_rates_v1",
]


def views(pivot: str = "USD") -> list[str]:
    """Macros and views; `pivot` is the ledger's pivot currency P (an ISO code: no quoting
    issue, checked by the Store). The conversion rule is the kernels' (DESIGN section 3)."""
    p = f"'{pivot}'"
    return [
        # n / d rounded half-even, exact in 128-bit integers (the kernels' rule).
        "CREATE OR REPLACE MACRO half_even_div(n, d) AS "
        "sign(n) * ((abs(n) // d) + CASE WHEN 2 * (abs(n) % d) > d "
        "OR (2 * (abs(n) % d) = d AND (abs(n) // d) % 2 = 1) THEN 1 ELSE 0 END)",
        # Older form, kept for ad-hoc SQL written against it: the rows quoted in USD, as
        # integers of 10^-12 USD, and USD as 1 on every date.
        "CREATE OR REPLACE VIEW fx_rates_e12 AS "
        "SELECT rate_date, base AS currency, CAST(rate * 1000000000000 AS HUGEINT) AS rate_e12 "
        "FROM fx_rates WHERE quote = 'USD' "
        "UNION ALL SELECT DATE '1900-01-01', 'USD', CAST(1000000000000 AS HUGEINT)",
        # Every row both ways: one unit of ccy is worth p / q units of other, in lowest terms
        # (rate x 10^12 is an integer); of two rows of one pair on one day, the one quoted
        # with ccy as its base wins (the kernels' tie rule).
        "CREATE OR REPLACE VIEW fx_legs AS "
        "WITH r AS (SELECT rate_date, base, quote, CAST(rate * 1000000000000 AS HUGEINT) AS m "
        "FROM fx_rates), "
        "f AS (SELECT rate_date, base, quote, m // gcd(m, CAST(1000000000000 AS HUGEINT)) AS p, "
        "CAST(1000000000000 AS HUGEINT) // gcd(m, CAST(1000000000000 AS HUGEINT)) AS q FROM r), "
        "b AS (SELECT rate_date, base AS ccy, quote AS other, p, q, 0 AS inverted FROM f "
        "UNION ALL SELECT rate_date, quote, base, q, p, 1 FROM f) "
        "SELECT rate_date, ccy, other, p, q FROM b QUALIFY row_number() OVER "
        "(PARTITION BY ccy, other, rate_date ORDER BY inverted) = 1",
        # v(C) on each order day, p / q units of the pivot per unit of C: from C's own row
        # against the pivot in force, else one hop through the first currency (by code) X
        # that has one and a row with C: v(C) = leg(C -> X) x v(X).
        "CREATE OR REPLACE VIEW fx_values AS "
        "WITH days AS (SELECT DISTINCT order_date AS day FROM line_entries), "
        "cur AS (SELECT DISTINCT ccy FROM fx_legs WHERE ccy <> " + p + "), "
        "need AS (SELECT c.ccy, d.day FROM cur c CROSS JOIN days d), "
        "direct AS (SELECT n.ccy, n.day, l.p, l.q FROM need n ASOF JOIN fx_legs l "
        "ON l.ccy = n.ccy AND l.other = " + p + " AND n.day >= l.rate_date), "
        "pairs AS (SELECT DISTINCT ccy, other FROM fx_legs "
        "WHERE ccy <> " + p + " AND other <> " + p + "), "
        "via AS (SELECT n.ccy, n.day, pr.other FROM need n JOIN pairs pr ON pr.ccy = n.ccy "
        "WHERE NOT EXISTS (SELECT 1 FROM direct x WHERE x.ccy = n.ccy AND x.day = n.day)), "
        "hop AS (SELECT v.ccy, v.day, l.p * x.p AS p, l.q * x.q AS q FROM via v "
        "ASOF JOIN fx_legs l ON l.ccy = v.ccy AND l.other = v.other AND v.day >= l.rate_date "
        "JOIN direct x ON x.ccy = v.other AND x.day = v.day "
        "QUALIFY row_number() OVER (PARTITION BY v.ccy, v.day ORDER BY v.other) = 1), "
        "raw AS (SELECT " + p + " AS currency, day, CAST(1 AS HUGEINT) AS p, "
        "CAST(1 AS HUGEINT) AS q FROM days "
        "UNION ALL SELECT ccy, day, p, q FROM direct UNION ALL SELECT ccy, day, p, q FROM hop) "
        "SELECT currency, day, p // gcd(p, q) AS p, q // gcd(p, q) AS q FROM raw",
        # The current state of every line: its latest 'line' entry.
        "CREATE OR REPLACE VIEW orders AS SELECT * EXCLUDE (entry_kind) "
        "FROM line_entries WHERE entry_kind = 'line' "
        "QUALIFY row_number() OVER (PARTITION BY order_id, line_no ORDER BY entry_seq DESC) = 1",
        # Each line converted at v(C) / v(USD) on its order date, the cell cross-reduced as
        # the kernels reduce it, rounded half-even once; NULL where either has no value.
        "CREATE OR REPLACE VIEW orders_usd AS "
        "WITH o AS (SELECT o.*, c.minor_exponent AS e, vc.p AS cp, vc.q AS cq, "
        "vu.p AS up, vu.q AS uq, gcd(vc.p, vu.p) AS g1, gcd(vc.q, vu.q) AS g2 "
        "FROM orders o JOIN currencies c USING (currency) "
        "LEFT JOIN fx_values vc ON vc.currency = o.currency AND vc.day = o.order_date "
        "LEFT JOIN fx_values vu ON vu.currency = 'USD' AND vu.day = o.order_date) "
        "SELECT * EXCLUDE (e, cp, cq, up, uq, g1, g2), "
        "CAST(half_even_div(CAST(amount_minor AS HUGEINT) * ((cp // g1) * (uq // g2) * 100), "
        "(cq // g2) * (up // g1) * CAST(pow(10, e) AS HUGEINT)) AS BIGINT) "
        "AS amount_usd_minor FROM o",
    ]


# What a fresh copy of the store needs (snapshots): tables, then views over them.
_DDL = [*_TABLES, *views()]


def currency_rows() -> str:
    """The currencies table's rows as a VALUES list (codes are ISO 4217: no quoting issue)."""
    return ", ".join(f"('{c}', {e})" for c, e in sorted(MINOR_EXPONENT.items()))
