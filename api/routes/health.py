"""GET /healthz (a real query of the store) and GET /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api import metrics
from api.deps import StoreDep
from api.models import Health
from api.problems import responses
from ledger.domain.errors import LedgerError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses=responses(503), summary="Liveness")
def healthz(store: StoreDep) -> dict:
    # Counting both tables reads the file through this thread's cursor: a real query.
    try:
        entries, feeds = store.count("line_entries"), store.count("feeds")
    except Exception as e:  # any store fault means not healthy, whatever its type
        raise LedgerError("unhealthy", "Store unavailable", str(e).splitlines()[0], 503) from e
    return {"status": "ok", "entries": entries, "feeds": feeds}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def get_metrics() -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)
