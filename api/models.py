"""Request and answer models: they document the contract in the OpenAPI schema.

Answers of the read use cases are JSON-ready dicts built in `ledger.read.queries`;
the models here name their known members and allow more.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FeedLine(BaseModel):
    """One order line of a feed (DESIGN.md section 3). Documentation only: the ledger validates."""

    model_config = ConfigDict(extra="allow", title="FeedLine")

    order_id: str = Field(min_length=1, max_length=64)
    line_no: int | str = Field(description="integer >= 1")
    revision: int | str | None = Field(None, description="integer >= 0; default 0")
    status: Literal["open", "cancelled"] | None = None
    entity: str
    order_date: str = Field(description="ISO date", examples=["2025-02-01"])
    supplier: str
    chip_model: str
    quantity: int | str = Field(description="integer > 0")
    unit_price: str | float = Field(
        description="decimal, no more decimals than the currency's minor unit",
        examples=["120000.50"],
    )
    currency: str = Field(description="ISO 4217", examples=["CNY"])
    destination: str = Field(description="ISO 3166-1 alpha-2", examples=["CN"])
    budget_code: str
    workload: Literal["training", "inference"]
    acquisition: Literal["purchase", "lease"] | None = None
    owner: str | None = None
    operator: str | None = None
    identity_reviewed: bool | str | None = None
    license_ref: str | None = None


class FeedObject(BaseModel):
    model_config = ConfigDict(title="FeedObject")

    feed_id: str | None = Field(None, min_length=1, max_length=200)
    lines: list[FeedLine]


class IngestAnswer(BaseModel):
    """The answer to a feed; the same answer again when the same feed is re-sent."""

    model_config = ConfigDict(extra="allow")

    feed_id: str
    feed_seq: int
    lines_accepted: int
    lines_unchanged: int
    entries_appended: int
    warnings: list[Any]


class ReferenceRows(BaseModel):
    table: str
    rows: list[dict[str, Any]]


class ReferenceLoaded(BaseModel):
    table: str
    rows_loaded: int


class TableChanges(BaseModel):
    added: list[str] = Field(description="keys of shipped rows the ledger did not hold")
    changed: list[dict[str, Any]] = Field(
        description="{key, fields}: shipped rows that differed, and which fields"
    )
    unchanged: int
    kept: int = Field(description="rows of keys the pack does not hold (yours): not touched")


class PackUpgrade(BaseModel):
    """What `POST /v1/reference/upgrade` changed (or would change, with dry_run)."""

    dry_run: bool
    tables: dict[str, TableChanges]


class TotalsAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    currency: str
    fx: str
    rows: list[dict[str, Any]]
    total: dict[str, Any]


class RowsAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    rows: list[dict[str, Any]]


class SourcingRow(BaseModel):
    """One policy x entity x fiscal year. Amounts are decimals in `currency` for spend,
    whole units or TPP otherwise; exact, rounded so that the stated amount is enough."""

    model_config = ConfigDict(extra="allow")

    policy: str
    entity: str
    fiscal_year: int
    metric: Literal["spend", "units", "tpp"]
    basis: Literal["chip_origin", "supplier_hq"] = Field(
        description="chip_origin: a line is domestic when its chip's origin_country is the "
        "jurisdiction; supplier_hq: when its supplier's HQ is"
    )
    min_share: str
    domestic: str
    total: str
    share: str | None
    status: Literal["pass", "fail"]
    shortfall: str | None = Field(
        description="extra domestic amount that reaches the minimum; 0 when passing; null "
        "when none can (min_share 1 with non-domestic lines)"
    )
    headroom: str | None = Field(
        description="extra non-domestic amount that keeps the policy passing; 0 when "
        "failing; null when any amount does (min_share 0)"
    )
    currency: str | None


class SourcingAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    rows: list[SourcingRow]


class ComplianceAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    counts: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    total: int


class PartiesAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    threshold: float
    listings: int
    matched: int
    parties: list[dict[str, Any]]


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=100_000, examples=["SELECT count(*) FROM orders"])
    max_rows: int | None = Field(
        None, ge=0, description="row cap; at most the server's CHIP_LEDGER_SQL_MAX_ROWS"
    )


class SqlAnswer(BaseModel):
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]
    truncated: bool


class Health(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: str
    entries: int
    feeds: int
