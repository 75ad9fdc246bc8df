"""One error shape for every 4xx and 5xx: RFC 9457 problem+json.

`LedgerError`, FastAPI's own validation errors, Starlette's 404/405 and any
unexpected exception all answer `{type, title, status, detail, errors?}` with
media type `application/problem+json`.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.domain.errors import LedgerError

log = logging.getLogger("chip_ledger.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://chip-ledger.dev/problems/"


class RowErrorModel(BaseModel):
    """One fault: the 0-based row at fault (null for the whole input), the field, why."""

    row: int | None
    field: str | None
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem. Extra members (e.g. `budgets` of budget-exceeded) may follow."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(examples=[PROBLEM_BASE + "invalid-feed"])
    title: str
    status: int
    detail: str = ""
    errors: list[RowErrorModel] | None = None
    error_count: int | None = None


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    status: int,
    kind: str,
    title: str,
    detail: str = "",
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
        body["error_count"] = len(errors)
    return ProblemResponse(body, status_code=status, headers=headers)


def ledger_problem(e: LedgerError, headers: dict[str, str] | None = None) -> ProblemResponse:
    return ProblemResponse(e.as_problem(), status_code=e.status, headers=headers)


def _kind_of_status(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "http-error"


async def _ledger_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, LedgerError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return ledger_problem(exc, headers)


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:
        return problem_response(413, "body-too-large", "Request body too large", str(exc.detail))
    try:
        title = HTTPStatus(exc.status_code).phrase
    except ValueError:
        title = "HTTP error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else ""
    if exc.status_code == 404 and not detail:
        detail = f"no route {request.url.path}"
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(
        exc.status_code, _kind_of_status(exc.status_code), title, detail, headers=exc.headers
    )


def _field_of(loc: tuple | list) -> str:
    parts = [str(p) for p in loc]
    return ".".join(parts) if parts else ""


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"row": None, "field": _field_of(e.get("loc", ())), "message": e.get("msg", "invalid")}
        for e in exc.errors()
    ]
    names = ", ".join(sorted({e["field"] for e in errors if e["field"]}))
    return problem_response(
        422, "invalid-request", "Invalid request parameters", f"check {names}", errors
    )


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "internal-error", "Internal server error", "the error was logged; nothing was written"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)


_DESCRIPTIONS = {
    400: "Malformed input (the body does not parse, or a bad header)",
    401: "No or unknown bearer token",
    403: "The token's scope does not allow this, or the statement is refused",
    404: "No such resource",
    408: "The query ran past its time limit and was interrupted",
    409: "Conflict: a feed id reused with other content, or a `stop` budget exceeded",
    413: "The body, or the rows of a feed, exceed the limit",
    415: "Unsupported content type",
    422: "Invalid input: `errors` names each row and field at fault",
    500: "Internal error",
    503: "The service is not ready",
    507: "Insufficient storage: the ledger's disk could not take the write; nothing was written",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses documenting the problem+json shape for the given statuses."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        s: {"description": _DESCRIPTIONS[s], "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}
        for s in statuses
    }


# Every /v1 route may answer these (auth, validation, and the unexpected).
COMMON = (401, 403, 422, 500)
