"""POST /v1/sql: one read-only statement, time-limited and row-capped; JSON, CSV or Arrow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from api.deps import ReadScope, SettingsDep, StoreDep
from api.encoding import table_arrow, table_csv, table_json
from api.models import SqlAnswer, SqlRequest
from api.problems import COMMON, responses

router = APIRouter(prefix="/v1", tags=["sql"])

ARROW_STREAM = "application/vnd.apache.arrow.stream"


def _wanted(accept: str | None) -> str:
    """The answer's media type: the first of ours that Accept names, JSON otherwise."""
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media == "text/csv":
            return "csv"
        if media in (ARROW_STREAM, "application/vnd.apache.arrow.file"):
            return "arrow"
        if media in ("application/json", "*/*", "application/*"):
            return "json"
    return "json"


@router.post(
    "/sql",
    response_model=SqlAnswer,
    summary="Ad-hoc read-only SQL",
    description=(
        "Exactly one SELECT / WITH / EXPLAIN / DESCRIBE / SUMMARIZE statement, run in a "
        "read-only transaction, interrupted after the server's time limit (408), and capped "
        "at `max_rows` rows (`truncated` says when rows were cut). No file, network or "
        "extension access. `Accept: text/csv` or `application/vnd.apache.arrow.stream` for "
        "CSV or Arrow IPC instead of JSON. JSON carries decimals and integers beyond 2^53 as "
        "strings. Tables: line_entries, feeds, the reference tables; views orders, orders_usd."
    ),
    responses={
        200: {
            "description": "The rows",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **responses(*COMMON, 400, 408, 413),
    },
    dependencies=[ReadScope],
)
def post_sql(
    request_body: SqlRequest,
    store: StoreDep,
    settings: SettingsDep,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
):
    cap = settings.sql_max_rows
    max_rows = cap if request_body.max_rows is None else min(request_body.max_rows, cap)
    table, truncated = store.read_only_sql(
        request_body.sql, max_rows=max_rows, timeout_s=settings.sql_timeout_s
    )
    headers = {"X-Truncated": "true" if truncated else "false"}
    kind = _wanted(accept)
    if kind == "csv":
        return Response(table_csv(table), media_type="text/csv; charset=utf-8", headers=headers)
    if kind == "arrow":
        return Response(table_arrow(table), media_type=ARROW_STREAM, headers=headers)
    return table_json(table, truncated)
