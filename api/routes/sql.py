"""POST /v1/sql: one read-only statement, time-limited, row- and size-capped; JSON, CSV or Arrow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from api.deps import ReadScope, SettingsDep, StoreDep
from api.encoding import sink_for
from api.models import SqlAnswer, SqlRequest
from api.problems import COMMON, responses
from ledger.store.sandbox import SqlLimits

router = APIRouter(prefix="/v1", tags=["sql"])

ARROW_STREAM = "application/vnd.apache.arrow.stream"
ARROW_FILE = "application/vnd.apache.arrow.file"
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "arrow": ARROW_STREAM,
    "arrow-file": ARROW_FILE,
}


def _wanted(accept: str | None) -> str:
    """The answer's format: the first of ours that Accept names, JSON otherwise."""
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media == "text/csv":
            return "csv"
        if media == ARROW_STREAM:
            return "arrow"
        if media == ARROW_FILE:
            return "arrow-file"
        if media in ("application/json", "*/*", "application/*"):
            return "json"
    return "json"


class ChunksResponse(Response):
    """A body already encoded (inside the query's time limit) as chunks: sent without
    joining them, so the answer is held once."""

    def __init__(self, chunks: list[bytes], media_type: str, headers: dict[str, str]):
        super().__init__(content=b"", media_type=media_type, headers=headers)
        self.chunks = chunks
        self.headers["content-length"] = str(sum(len(c) for c in chunks))

    async def __call__(self, scope, receive, send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        last = len(self.chunks) - 1
        for k, chunk in enumerate(self.chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": k < last})
        if not self.chunks:
            await send({"type": "http.response.body", "body": b""})


@router.post(
    "/sql",
    response_model=SqlAnswer,
    summary="Ad-hoc read-only SQL",
    description=(
        "Exactly one SELECT / WITH / EXPLAIN / DESCRIBE / SUMMARIZE statement, run in a "
        "read-only transaction, interrupted after the server's time limit (408), and capped "
        "at `max_rows` rows and the server's answer size in bytes (`truncated` and the "
        "`X-Truncated` header say when rows were cut). No file, network, extension, "
        "checkpoint or side-effect function. `Accept: text/csv`, "
        "`application/vnd.apache.arrow.stream` or `application/vnd.apache.arrow.file` for "
        "CSV or Arrow IPC (stream or file format) instead of JSON. JSON carries decimals and "
        "integers beyond 2^53 as strings, dates and timestamps as DuckDB's text (`infinity`), "
        "blobs as base64. Tables: line_entries, feeds, the reference tables; views orders, "
        "orders_usd."
    ),
    responses={
        200: {
            "description": "The rows",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
                ARROW_FILE: {"schema": {"type": "string", "format": "binary"}},
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
    limits = SqlLimits(
        max_rows=max_rows, max_bytes=settings.sql_max_answer_bytes, timeout_s=settings.sql_timeout_s
    )
    kind = _wanted(accept)
    sink = sink_for(kind)
    truncated = store.run_sql(request_body.sql, limits, sink)
    headers = {"X-Truncated": "true" if truncated else "false"}
    return ChunksResponse(sink.finish(truncated), MEDIA[kind], headers)
