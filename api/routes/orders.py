"""POST /v1/orders: a feed in any of five formats, all or nothing, idempotent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from api import metrics
from api.deps import BodyDep, IngestScope, LedgerDep, SettingsDep
from api.limits import body_coding, decode_body
from api.models import IngestAnswer
from api.problems import responses
from ledger.domain.errors import LedgerError
from ledger.domain.feeds import FORMATS, format_of_content_type

router = APIRouter(prefix="/v1", tags=["orders"])

_BINARY = {"type": "string", "format": "binary"}
_FEED_CONTENT = {
    FORMATS["json"]: {
        "schema": {
            "oneOf": [
                {"type": "array", "items": {"$ref": "#/components/schemas/FeedLine"}},
                {"$ref": "#/components/schemas/FeedObject"},
            ]
        }
    },
    FORMATS["ndjson"]: {
        "schema": {"type": "string", "description": "one FeedLine JSON object per line"}
    },
    FORMATS["csv"]: {
        "schema": {"type": "string", "description": "a header row of FeedLine field names"}
    },
    FORMATS["arrow"]: {"schema": _BINARY},
    FORMATS["parquet"]: {"schema": _BINARY},
}


def feed_format(request: Request) -> str:
    """The feed format from Content-Type, before a byte of the body is read (415 otherwise)."""
    return format_of_content_type(request.headers.get("content-type", ""))


@router.post(
    "/orders",
    status_code=201,
    response_model=IngestAnswer,
    summary="Append a feed of order lines",
    description=(
        "A feed is all or nothing. The feed id is the `Idempotency-Key` header, else the "
        "`feed_id` of a JSON object feed, else the content hash. 201 for a new feed; 200 with "
        "the first answer when the same feed comes again; 409 when a feed id comes back with "
        "other content, or when a `stop` budget would be exceeded (`budget-exceeded`). "
        "`Content-Encoding: gzip` or `deflate` is decoded (the body limit applies to the "
        "decoded body); any other encoding is a 415. `mapping` names a stored mapping "
        "profile (`PUT /v1/reference/mappings`) that reads an ERP export's own columns."
    ),
    responses={
        200: {
            "description": "The same feed was already accepted: its first answer",
            "model": IngestAnswer,
        },
        **responses(400, 401, 403, 409, 413, 415, 422, 500, 507),
    },  # fmt: skip
    openapi_extra={"requestBody": {"required": True, "content": _FEED_CONTENT}},
    dependencies=[IngestScope],
)
def post_orders(
    ledger: LedgerDep,
    response: Response,
    settings: SettingsDep,
    fmt: Annotated[str, Depends(feed_format)],
    coding: Annotated[str, Depends(body_coding)],
    body: BodyDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="the feed id; re-sending the same feed with it is harmless",
        ),
    ] = None,  # fmt: skip
    mapping: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="a stored mapping profile's name"),
    ] = None,
) -> dict:
    try:
        body = decode_body(body, coding, settings.max_body_bytes)
        result = ledger.ingest_bytes(body, fmt, idempotency_key, mapping=mapping)
    except LedgerError as e:
        metrics.FEEDS.labels(e.kind).inc()
        raise
    if result.replay:
        response.status_code = 200
        metrics.FEEDS.labels("replay").inc()
    else:
        metrics.FEEDS.labels("accepted").inc()
        metrics.LINES_INGESTED.inc(result.answer.get("lines_accepted", 0))
    return result.answer
