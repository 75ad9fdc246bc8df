"""The reference tables, each specified once: name, columns (store type, Arrow type, checker,
meaning), keys. The store's DDL, row validation, the API's table names, the CLI and the
generated docs (docs/reference-tables.md) all read this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa

import ledger.reference.checks as ck
from ledger.domain.mapping import check_profile
from ledger.domain.schema import FIRST_FISCAL_YEAR, LAST_FISCAL_YEAR


@dataclass(frozen=True)
class Column:
    name: str  # the stored column (and the field a row sends, unless `sent_as`)
    sql: str  # DuckDB type and constraints
    check: Callable  # sent value -> stored value, or ValueError(message)
    doc: str
    arrow: pa.DataType = field(default_factory=pa.string)
    sent_as: str | None = None  # the field name rows send, when it differs (amount)

    @property
    def field_name(self) -> str:
        return self.sent_as or self.name


@dataclass(frozen=True)
class Table:
    name: str  # the store table (a public name for ad-hoc SQL)
    api_name: str  # /v1/reference/{api_name}, `chip-ledger reference load {api_name}`
    keys: tuple[str, ...]  # rows with the same key replace earlier ones
    columns: tuple[Column, ...]
    doc: str

    def ddl_columns(self) -> str:
        return ", ".join(f"{c.name} {c.sql}" for c in self.columns)

    @property
    def fields(self) -> list[str]:
        return [c.field_name for c in self.columns]


def _optional(check: Callable, default=None) -> Callable:
    return lambda v: default if v is None or v == "" else check(v)


def _source(required: bool) -> Callable:
    check = lambda v: ck._text(v, 2000)  # noqa: E731
    return check if required else _optional(check)


_FISCAL_YEAR = ck._int(FIRST_FISCAL_YEAR, LAST_FISCAL_YEAR)
SOURCING_BASES = ("chip_origin", "supplier_hq")
_SOURCE_DOC = "where the row's facts come from (a publication, a datasheet, a rule text)"
_SHARE = pa.decimal128(7, 6)

TABLES: tuple[Table, ...] = (
    Table("entities", "entities", ("entity",), (
        Column("entity", "VARCHAR NOT NULL", ck._text, "buying entity (a line's `entity`)"),
        Column("hq_country", "VARCHAR NOT NULL", ck._country, "ISO 3166-1 alpha-2 of its HQ"),
        Column("parent_hq_country", "VARCHAR", ck._opt_country,
               "HQ country of its ultimate parent, when it differs"),
        Column("fy_start_month", "INTEGER NOT NULL", _optional(ck._int(1, 12), 1),
               "first month of its fiscal year (1 = calendar year); the fiscal year is the "
               "year in which it ends", pa.int32()),
    ), "The buying entities."),
    Table("suppliers", "suppliers", ("supplier",), (
        Column("supplier", "VARCHAR NOT NULL", ck._text, "supplier name (a line's `supplier`)"),
        Column("hq_country", "VARCHAR NOT NULL", ck._country, "ISO 3166-1 alpha-2 of its HQ"),
        Column("source", "VARCHAR", _source(False), _SOURCE_DOC),
    ), "The suppliers; a supplier is domestic for a policy when its HQ is the jurisdiction."),
    Table("chips", "chips", ("chip_model",), (
        Column("chip_model", "VARCHAR NOT NULL", ck._text, "chip model (a line's `chip_model`)"),
        Column("vendor", "VARCHAR NOT NULL", ck._text, "designer of the chip"),
        Column("origin_country", "VARCHAR NOT NULL", ck._country,
               "the jurisdiction whose export rules bind the chip (US for Nvidia, AMD)"),
        Column("tpp", "BIGINT NOT NULL", ck._int(0, 10**9),
               "total processing performance: 2 x MacTOPS x bit length, dense", pa.int64()),
        Column("die_area_mm2", "DOUBLE", ck._positive_number, "die area, mm2 (for density)",
               pa.float64()),
        Column("source", "VARCHAR", _source(False), _SOURCE_DOC),
    ), "The chips catalogue (the shipped pack has current parts with sources)."),
    Table("fx_rates", "fx-rates", ("rate_date", "base", "quote"), (
        Column("rate_date", "DATE NOT NULL", ck._date, "the day the rate is published for",
               pa.date32()),
        Column("base", "VARCHAR NOT NULL", ck._currency, "ISO 4217 code of the unit priced"),
        Column("quote", "VARCHAR NOT NULL", ck._currency,
               "ISO 4217 code the price is in (the ECB: base EUR; CFETS: base USD)"),
        Column("rate", "DECIMAL(24,12) NOT NULL", ck._rate,
               "one unit of base is worth `rate` units of quote, exactly as published "
               "(> 0, at most 12 significant digits and 12 decimals)", pa.decimal128(24, 12)),
        Column("source", "VARCHAR", _source(False), _SOURCE_DOC),
        Column("synthetic", "BOOLEAN NOT NULL DEFAULT false", ck._bool,
               "true for made-up rates (the demo's)", pa.bool_()),
    ), "Exchange rates as published; the older form (rate_date, currency, usd_per_unit) is "
       "read as base = currency, quote = USD. A line converts through each currency's value "
       "in the ledger's pivot on its order date (latest rate on or before it)."),
    Table("budgets", "budgets", ("entity", "budget_code", "fiscal_year"), (
        Column("entity", "VARCHAR NOT NULL", ck._text, "a known entity"),
        Column("budget_code", "VARCHAR NOT NULL", ck._text, "a line's `budget_code`"),
        Column("fiscal_year", "INTEGER NOT NULL", _FISCAL_YEAR, "fiscal year", pa.int32()),
        Column("currency", "VARCHAR NOT NULL", ck._currency, "the budget's currency"),
        Column("amount_minor", "BIGINT NOT NULL", ck._amount,
               "the amount (a decimal in `currency`; stored in minor units)", pa.int64(),
               sent_as="amount"),
        Column("action", "VARCHAR NOT NULL", ck._one_of("stop", "warn", "ignore"),
               "on overrun: stop refuses the feed, warn accepts it with a warning"),
        Column("warn_share", "DECIMAL(7,6) NOT NULL DEFAULT 0.9",
               _optional(ck._decimal(Decimal(0), Decimal(1), "warn_share"), Decimal("0.9")),
               "utilisation from which the state is `warn` (default 0.9)", _SHARE),
    ), "Budgets per entity, budget code and fiscal year."),
    Table("sourcing_policies", "sourcing-policies", ("policy",), (
        Column("policy", "VARCHAR NOT NULL", ck._text, "policy name"),
        Column("jurisdiction", "VARCHAR NOT NULL", ck._country, "whose domestic share"),
        Column("destinations", "VARCHAR NOT NULL", ck._destinations,
               "countries where the chips are installed (list, or all)"),
        Column("metric", "VARCHAR NOT NULL", ck._one_of("spend", "units", "tpp"),
               "what the share is of"),
        Column("min_share", "DECIMAL(7,6) NOT NULL",
               ck._decimal(Decimal(0), Decimal(1), "min_share"), "minimum domestic share",
               _SHARE),
        Column("entity", "VARCHAR", ck._opt_text, "only this entity (optional)"),
        Column("fiscal_year", "INTEGER", _optional(_FISCAL_YEAR), "only this year (optional)",
               pa.int32()),
        Column("currency", "VARCHAR NOT NULL DEFAULT 'USD'", _optional(ck._currency, "USD"),
               "currency of spend amounts"),
        # last, so that ledgers created before it (ALTER TABLE ... ADD COLUMN) keep one order
        Column("basis", "VARCHAR NOT NULL DEFAULT 'chip_origin'",
               _optional(ck._one_of(*SOURCING_BASES), "chip_origin"),
               "what makes a line domestic: `chip_origin` (default: the chip's origin_country "
               "is the jurisdiction) or `supplier_hq` (the supplier's HQ is)"),
    ), "Domestic-sourcing policies: the answer gives `shortfall` (extra domestic amount "
       "that reaches the minimum) and `headroom` (extra non-domestic amount that keeps it)."),
    Table("export_rules", "export-rules", ("rule_id",), (
        Column("rule_id", "VARCHAR NOT NULL", ck._text, "rule id"),
        Column("kind", "VARCHAR NOT NULL", ck._one_of(*ck.RULE_KINDS), "rule kind"),
        Column("effective_from", "DATE NOT NULL", ck._date, "first day in force", pa.date32()),
        Column("effective_to", "DATE", ck._opt_date, "last day in force (optional)",
               pa.date32()),
        Column("params", "VARCHAR NOT NULL", ck._params,
               "JSON object, checked against the schema of its kind"),
        Column("severity", "VARCHAR NOT NULL",
               _optional(ck._one_of("violation", "warning"), "violation"),
               "violation or warning"),
        Column("source", "VARCHAR NOT NULL", _source(True), _SOURCE_DOC),
    ), "Export-control rules as data, effective-dated, each with its source."),
    Table("licences", "licences", ("licence_id",), (
        Column("licence_id", "VARCHAR NOT NULL", ck._text,
               "the reference lines name in `license_ref`"),
        Column("authority", "VARCHAR NOT NULL", ck._text, "who issued it (e.g. US BIS)"),
        Column("kind", "VARCHAR NOT NULL", ck._one_of("licence", "notification", "exception"),
               "licence or exception (satisfies licence and notification rules), or "
               "notification (satisfies notification rules only)"),
        Column("holder", "VARCHAR NOT NULL", ck._text,
               "the buying entity it is issued to (a known entity)"),
        Column("chips", "VARCHAR NOT NULL", ck._chips, "chip models it covers (list, or all)"),
        Column("destinations", "VARCHAR NOT NULL", ck._destinations,
               "countries it covers (list, or all)"),
        Column("valid_from", "DATE NOT NULL", ck._date, "first order day it covers",
               pa.date32()),
        Column("valid_to", "DATE", ck._opt_date, "last order day it covers (optional)",
               pa.date32()),
        Column("max_quantity", "BIGINT", ck._opt_int(0, 10**12),
               "units it allows in all (optional: no cap)", pa.int64()),
        Column("max_value_minor", "BIGINT", _optional(ck._amount),
               "value it allows in all (a decimal in `currency`, stored in minor units; "
               "optional: no cap)", pa.int64(), sent_as="max_value"),
        Column("currency", "VARCHAR NOT NULL DEFAULT 'USD'", _optional(ck._currency, "USD"),
               "currency of max_value; lines convert at their order-date rate"),
        Column("overrun_pct", "DECIMAL(9,4) NOT NULL DEFAULT 0",
               _optional(ck._decimal(Decimal(0), Decimal(100), "overrun_pct", places=4),
                         Decimal(0)),
               "tolerance over the caps, in percent (default 0)", pa.decimal128(9, 4)),
        Column("warn_share", "DECIMAL(7,6) NOT NULL DEFAULT 0.9",
               _optional(ck._decimal(Decimal(0), Decimal(1), "warn_share"), Decimal("0.9")),
               "utilisation from which the state is `warn` (default 0.9)", _SHARE),
        Column("source", "VARCHAR NOT NULL", _source(True),
               "the licence document (number, date, issuing office)"),
    ), "Export licences, notifications and licence exceptions on file: depleting budgets "
       "that lines name in `license_ref`."),
    Table("restricted_parties", "restricted-parties", ("party_id",), (
        Column("party_id", "VARCHAR NOT NULL", ck._text, "listing id (the CSL `id`)"),
        Column("list", "VARCHAR NOT NULL", ck._text,
               "the list it is on (the CSL `source`, e.g. Entity List (EL) - Bureau of "
               "Industry and Security)"),
        Column("name", "VARCHAR NOT NULL", lambda v: ck._text(v, 500), "listed name"),
        Column("alt_names", "VARCHAR[] NOT NULL", ck._names,
               "other names it is listed under (a list; CSV: separated by `;`)",
               pa.list_(pa.string())),
        Column("countries", "VARCHAR[] NOT NULL", ck._countries,
               "ISO 3166-1 alpha-2 codes of its addresses (a list; empty when unknown)",
               pa.list_(pa.string())),
        Column("listed_from", "DATE", ck._opt_date,
               "first day in force (optional: unknown means always)", pa.date32()),
        Column("listed_to", "DATE", ck._opt_date, "last day in force (optional)", pa.date32()),
        Column("severity", "VARCHAR NOT NULL",
               _optional(ck._one_of("violation", "warning"), "violation"),
               "severity of a flag on a matching line: violation or warning"),
        Column("source", "VARCHAR NOT NULL", _source(True),
               "the listing's Federal Register notice or list URL"),
    ), "Restricted parties (the US Consolidated Screening List layout imports into it); "
       "suppliers, entities, lease owners and operators are screened against it."),
    Table("mappings", "mappings", ("mapping",), (
        Column("mapping", "VARCHAR NOT NULL", ck._text,
               "profile name (`?mapping=NAME`, `chip-ledger ingest --mapping NAME`)"),
        Column("profile", "VARCHAR NOT NULL", check_profile,
               "JSON object: `fields` (line field -> source `column` or `constant`, with "
               "`date_format`, `decimal`, `thousands`, `values`), `unmapped` (refuse or keep "
               "in `attributes`), `delimiter`, `ignore`; checked when stored"),
    ), "Mapping profiles: ERP exports as they are, read into line fields."),
)  # fmt: skip

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
BY_API_NAME: dict[str, Table] = {t.api_name: t for t in TABLES}
