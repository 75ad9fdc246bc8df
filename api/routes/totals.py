"""GET /v1/totals: spend and units by any dims, in any reporting currency."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import QueriesDep, ReadScope
from api.export import EXPORT_RESPONSES, respond
from api.models import TotalsAnswer
from api.problems import COMMON, responses
from api.usecases import dimensions
from ledger.domain.errors import LedgerError, RowError

router = APIRouter(prefix="/v1", tags=["reads"])

DIMENSIONS = dimensions()
_OWN = ("by", "currency", "fx")
_FILTERS = [
    {
        "name": dim,
        "in": "query",
        "required": False,
        "description": f"keep lines whose {dim} is one of the values (repeatable)",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    }
    for dim in DIMENSIONS
]


@router.get(
    "/totals",
    response_model=TotalsAnswer,
    summary="Totals by dims, in a reporting currency",
    description=(
        "`by` names dims (comma-separated or repeated); `currency` is the reporting currency; "
        "`fx` is `order-date` (each line at the rate in force on its order date) or a date "
        "(YYYY-MM-DD) for one rate for all. Any dim as a parameter is a filter, repeatable. "
        "Each row has its dims, `lines`, `quantity`, `amount` (a decimal string) and "
        "`amount_minor`. Unknown parameters, dims or currencies without rates are 422."
    ),
    responses={**EXPORT_RESPONSES, **responses(*COMMON)},
    openapi_extra={"parameters": _FILTERS},
    dependencies=[ReadScope],
)
def get_totals(
    request: Request,
    queries: QueriesDep,
    by: Annotated[
        list[str] | None,
        Query(description=f"dims, of: {', '.join(DIMENSIONS)}", max_length=len(DIMENSIONS)),
    ] = None,
    currency: Annotated[str, Query(description="reporting currency, ISO 4217")] = "USD",
    fx: Annotated[str, Query(description="order-date, or YYYY-MM-DD")] = "order-date",
) -> Response:
    dims = [d.strip() for item in by or [] for d in item.split(",") if d.strip()]
    filters: dict[str, list[str]] = {}
    unknown = []
    for key, value in request.query_params.multi_items():
        if key in _OWN:
            continue
        if key in DIMENSIONS:
            filters.setdefault(key, []).append(value)
        else:
            unknown.append(key)
    if unknown:
        names = sorted(set(unknown))
        raise LedgerError(
            "invalid-request", "Unknown query parameter",
            f"{', '.join(repr(n) for n in names)}; filters are dims: {', '.join(DIMENSIONS)}", 422,
            errors=[RowError(None, n, f"unknown query parameter {n!r}") for n in names],
        )  # fmt: skip
    answer = queries.totals(dims, currency=currency, fx=fx, filters=filters)
    # serialised here in one pass: FastAPI's own path walks every row of a returned dict
    # in Python first (~10 ms for 240 rows, seconds for a million groups)
    body = TotalsAnswer.model_validate(answer).model_dump_json()
    return respond(request, "totals", answer, json_body=body)
