"""GET /v1/budgets: commitments against each budget."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import QueriesDep, ReadScope
from api.export import EXPORT_RESPONSES, respond
from api.models import RowsAnswer
from api.problems import COMMON, responses
from ledger.domain.schema import FIRST_FISCAL_YEAR, LAST_FISCAL_YEAR

router = APIRouter(prefix="/v1", tags=["reads"])

FiscalYear = Annotated[
    int | None, Query(ge=FIRST_FISCAL_YEAR, le=LAST_FISCAL_YEAR, description="fiscal year")
]
Entity = Annotated[str | None, Query(min_length=1, max_length=200, description="buying entity")]


@router.get(
    "/budgets",
    response_model=RowsAnswer,
    summary="Budgets: committed, remaining, state",
    description=(
        "One row per budget: entity, budget_code, fiscal_year, currency, amount, committed, "
        "remaining (decimal strings in the budget's currency), utilization, action, and state "
        "(`exceeded`, `warn` from the budget's warning share, else `ok`)."
    ),
    responses={**EXPORT_RESPONSES, **responses(*COMMON)},
    dependencies=[ReadScope],
)
def get_budgets(
    request: Request, queries: QueriesDep, fiscal_year: FiscalYear = None, entity: Entity = None
) -> dict:
    return respond(request, "budgets", queries.budgets(fiscal_year=fiscal_year, entity=entity))
