"""GET /v1/sourcing: the domestic share against each sourcing policy."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import QueriesDep, ReadScope
from api.export import EXPORT_RESPONSES, respond
from api.models import SourcingAnswer
from api.problems import COMMON, responses
from api.routes.budgets import Entity, FiscalYear

router = APIRouter(prefix="/v1", tags=["reads"])


@router.get(
    "/sourcing",
    response_model=SourcingAnswer,
    summary="Sourcing ratios against their minimums",
    description=(
        "One row per policy x entity x fiscal year: policy, entity, fiscal_year, metric, "
        "basis, min_share, domestic, total, share, status (`pass`/`fail`), shortfall (extra "
        "domestic amount that reaches the minimum), headroom (extra non-domestic amount that "
        "keeps it passing), currency."
    ),
    responses={**EXPORT_RESPONSES, **responses(*COMMON)},
    dependencies=[ReadScope],
)
def get_sourcing(
    request: Request, queries: QueriesDep, fiscal_year: FiscalYear = None, entity: Entity = None
) -> dict:
    return respond(request, "sourcing", queries.sourcing(fiscal_year=fiscal_year, entity=entity))
