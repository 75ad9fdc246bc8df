"""GET /v1/parties and POST /v1/reference/restricted-parties/import: restricted-party
screening (every party with its best matches) and the Consolidated Screening List importer."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api.deps import AdminScope, BodyDep, LedgerDep, QueriesDep, ReadScope, SettingsDep
from api.limits import body_coding, decode_body
from api.models import PartiesAnswer, ReferenceLoaded
from api.problems import COMMON, responses
from api.routes.reference import reference_format

log = logging.getLogger("chip_ledger.api")

router = APIRouter(tags=["reads"])
TABLE = "restricted-parties"


@router.get(
    "/v1/parties",
    response_model=PartiesAnswer,
    summary="Restricted-party screening of every party",
    description=(
        "Every party the ledger knows (kind supplier, entity, owner or operator; name; HQ "
        "country where known) with its best candidate listings: listed and matched name, "
        "list, score (0-100), whether the countries agree, dates in force, severity, source, "
        "and `match` (score at or above `threshold` and countries agreeing). Lines of a "
        "matched party are flagged `restricted_party` in /v1/compliance while the listing is "
        "in force. Screening support, not legal advice."
    ),
    responses=responses(*COMMON),
    dependencies=[ReadScope],
)
def get_parties(queries: QueriesDep) -> dict:
    return queries.parties()


@router.post(
    f"/v1/reference/{TABLE}/import",
    response_model=ReferenceLoaded,
    summary="Import restricted parties in the Consolidated Screening List layout",
    description=(
        'The US Consolidated Screening List as JSON (`{"results": [...]}`) or its CSV export: '
        "name, alt_names, addresses[].country, source, start_date, end_date, "
        "federal_register_notice, source_list_url (other fields are ignored). Listings with "
        "the id of an existing row replace it. Severity per list (SDN, DPL, ITAR debarred: "
        "violation; others: warning) unless `severity` is given. All rows or none."
    ),
    responses=responses(*COMMON, 400, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
    dependencies=[AdminScope],
    tags=["reference"],
)
def import_restricted_parties(
    ledger: LedgerDep,
    settings: SettingsDep,
    fmt: Annotated[str, Depends(reference_format)],
    coding: Annotated[str, Depends(body_coding)],
    body: BodyDep,
    severity: Annotated[
        Literal["violation", "warning"] | None,
        Query(description="severity for every imported listing (default: per list)"),
    ] = None,
) -> dict:
    body = decode_body(body, coding, settings.max_body_bytes)
    loaded = ledger.import_restricted_parties(body, fmt, severity)
    log.info("restricted parties: %d listings imported", loaded)
    return {"table": TABLE, "rows_loaded": loaded}
