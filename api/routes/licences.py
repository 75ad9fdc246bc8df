"""GET /v1/licences: the licence register, each licence as a depleting budget."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.deps import QueriesDep, ReadScope
from api.export import EXPORT_RESPONSES, respond
from api.models import RowsAnswer
from api.problems import COMMON, responses
from ledger.read.licences import MAX_LINES_SHOWN

router = APIRouter(prefix="/v1", tags=["reads"])

State = Literal["ok", "warn", "exhausted", "expired"]


@router.get(
    "/licences",
    response_model=RowsAnswer,
    summary="Licences: used, remaining, state, consuming lines",
    description=(
        "One row per licence on file: max, used and remaining quantity and value (decimal "
        "strings in the licence's currency; lines convert at their order-date rate), "
        "utilization, state (`expired` when valid_to is before `as_of`, `exhausted` when a "
        "cap is used up, `warn` from the licence's warning share, else `ok`), the counts of "
        "lines naming it that it does not cover (`lines_refused`, by reason) and its "
        "consuming lines in depletion order (order date, then feed order), capped at `lines` "
        "per licence: `lines_shown` of `lines_total`."
    ),
    responses={**EXPORT_RESPONSES, **responses(*COMMON)},
    dependencies=[ReadScope],
)
def get_licences(
    request: Request,
    queries: QueriesDep,
    state: Annotated[State | None, Query(description="only licences in this state")] = None,
    as_of: Annotated[dt.date | None, Query(description="the day states are for (today)")] = None,
    lines: Annotated[
        int, Query(ge=0, le=MAX_LINES_SHOWN, description="consuming lines shown per licence")
    ] = 20,
) -> dict:
    return respond(request, "licences", queries.licences(state=state, as_of=as_of, lines=lines))
