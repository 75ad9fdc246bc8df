"""GET and PUT /v1/reference/{table}: the reference tables, JSON or CSV; POST
/v1/reference/fx-rates/import: exchange rates as published."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminScope, BodyDep, LedgerDep, ReadScope, SettingsDep, StoreDep
from api.limits import body_coding, decode_body
from api.models import PackUpgrade, ReferenceLoaded, ReferenceRows
from api.problems import COMMON, responses
from ledger import reference
from ledger.domain.errors import LedgerError

log = logging.getLogger("chip_ledger.api")

router = APIRouter(prefix="/v1/reference", tags=["reference"])

TableName = Annotated[
    str,
    Path(
        description="a reference table",
        json_schema_extra={"enum": list(reference.TABLES)},
        max_length=40,
    ),
]
_MEDIA = {"application/json": "json", "text/csv": "csv"}


def known_table(table: TableName) -> str:
    """The table named in the path; 404 for an unknown one before the body is read."""
    reference.table_name(table)
    return table


def reference_format(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _MEDIA:
        raise LedgerError(
            "unsupported-media-type", "Unsupported reference data type",
            f"{media or 'no content type'}; send application/json or text/csv", 415,
        )  # fmt: skip
    return _MEDIA[media]


Table = Annotated[str, Depends(known_table)]


@router.post(
    "/upgrade",
    response_model=PackUpgrade,
    summary="Bring the shipped reference rows up to date",
    description=(
        "Compares this program's reference pack (chips, suppliers, export rules) with the "
        "ledger's rows of the same keys and writes the added and changed ones, all in one "
        "transaction; rows of keys the pack does not hold are never touched. "
        "`dry_run=true` lists without writing."
    ),
    responses=responses(*COMMON),
    dependencies=[AdminScope],
)
def post_upgrade(ledger: LedgerDep, dry_run: bool = False) -> dict:
    tables = ledger.upgrade_pack(dry_run=dry_run)
    log.info("reference pack upgrade%s: %s", " (dry run)" if dry_run else "", tables)
    return {"dry_run": dry_run, "tables": tables}


@router.get(
    "/{table}",
    response_model=ReferenceRows,
    summary="A reference table",
    responses=responses(*COMMON, 404),
    dependencies=[ReadScope],
)
def get_reference(table: Table, store: StoreDep) -> dict:
    return {"table": table, "rows": reference.as_rows(store, table)}


@router.put(
    "/{table}",
    response_model=ReferenceLoaded,
    summary="Load rows into a reference table",
    description=(
        'A JSON array of rows (or `{"rows": [...]}`) or CSV with a header. Rows with the key of '
        "an existing row replace it; nothing is deleted. All rows or none: 422 names each fault."
    ),
    responses=responses(*COMMON, 400, 404, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"type": "object"}},
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
    dependencies=[AdminScope],
)
def put_reference(
    table: Table,
    ledger: LedgerDep,
    settings: SettingsDep,
    fmt: Annotated[str, Depends(reference_format)],
    coding: Annotated[str, Depends(body_coding)],
    body: BodyDep,
) -> dict:
    body = decode_body(body, coding, settings.max_body_bytes)
    loaded = ledger.load_reference(table, body, fmt)
    log.info("reference %s: %d rows loaded", table, loaded)
    return {"table": table, "rows_loaded": loaded}


class FxImported(BaseModel):
    model_config = ConfigDict(extra="allow")
    rows: int = Field(description="rates loaded (one per day and currency)")
    days: int
    currencies: list[str]
    skipped_columns: list[str] = Field(
        description="columns that are not active ISO 4217 currencies (withdrawn ones)"
    )


@router.post(
    "/fx-rates/import",
    response_model=FxImported,
    summary="Load exchange rates as published (ECB history layout, or a wide CSV)",
    description=(
        "`format=ecb`: the ECB's `eurofxref-hist.csv` (`Date,USD,JPY,...`, units per EUR, "
        "`N/A` where none). `format=wide`: a `date` column and one column per currency, "
        "each cell the units of that currency per one unit of `base`. Rates are stored as "
        "printed (fx_rates: base, quote, rate); all rows or none."
    ),
    responses=responses(*COMMON, 400, 413, 415),
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
    dependencies=[AdminScope],
)
def import_fx_rates(
    ledger: LedgerDep,
    settings: SettingsDep,
    coding: Annotated[str, Depends(body_coding)],
    body: BodyDep,
    fmt: Annotated[str, Query(alias="format", description="ecb or wide", max_length=8)] = "ecb",
    base: Annotated[
        str | None, Query(description="the base currency (wide; EUR for ecb)", max_length=8)
    ] = None,
) -> dict:
    body = decode_body(body, coding, settings.max_body_bytes)
    summary = ledger.import_fx_rates(body, fmt, base)
    log.info("fx-rates import (%s): %d rows", fmt, summary["rows"])
    return summary
