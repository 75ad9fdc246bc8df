"""GET /healthz (a real query of the store) and GET /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api import metrics
from api.deps import QueriesDep, ReadScope, StoreDep
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
    "/v1/state",
    summary="The ledger's state: changes when a feed or reference data lands",
    responses=responses(401, 403),
    dependencies=[ReadScope],
)
def get_state(ledger: QueriesDep) -> dict:
    """Cheap to poll (a dashboard refreshes when it changes): entries, feeds, and the
    generation of the reference data this service has loaded."""
    return ledger.state()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def get_metrics() -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)
