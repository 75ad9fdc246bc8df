"""GET /v1/compliance: lines flagged by the export-control rules in force, paginated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import QueriesDep, ReadScope
from api.export import EXPORT_RESPONSES, respond
from api.models import ComplianceAnswer
from api.problems import COMMON, responses
from api.routes.budgets import FiscalYear
from ledger.domain.schema import MAX_PAGE_LINES

router = APIRouter(prefix="/v1", tags=["reads"])

MAX_PAGE = MAX_PAGE_LINES


@router.get(
    "/compliance",
    response_model=ComplianceAnswer,
    summary="Export-control screening",
    description=(
        "`counts` per rule, and a page of flagged lines (order_id, line_no, rule_id, kind, "
        "severity, reason), one per line x rule; `total` is the count of all flagged lines. "
        "Rule `restricted_party` flags a line whose supplier, entity, lease owner or operator "
        "matches a restricted-party listing in force on its order date (see /v1/parties); "
        "its lines carry `evidence` (role, party, listed and matched name, list, score, "
        "source) and the listing's severity. Screening support, not legal advice."
    ),
    responses={**EXPORT_RESPONSES, **responses(*COMMON)},
    dependencies=[ReadScope],
)
def get_compliance(
    request: Request,
    queries: QueriesDep,
    fiscal_year: FiscalYear = None,
    rule: Annotated[str | None, Query(min_length=1, max_length=200, description="rule_id")] = None,
    limit: Annotated[int, Query(ge=0, le=MAX_PAGE, description="page size")] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62, description="lines to skip")] = 0,
) -> dict:
    answer = queries.compliance(fiscal_year=fiscal_year, rule=rule, limit=limit, offset=offset)
    return respond(request, "compliance", answer)
