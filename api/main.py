"""create_app(settings): the FastAPI service; serve(): run it with uvicorn."""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import problems
from api.limits import BodyLimitMiddleware
from api.loopback import LoopbackOnlyMiddleware
from api.metrics import MetricsMiddleware
from api.models import FeedLine, FeedObject
from api.problems import Problem
from api.routes import (
    budgets,
    compliance,
    dashboard,
    health,
    licences,
    orders,
    parties,
    reference,
    snapshots,
    sourcing,
    sql,
    totals,
)  # fmt: skip
from api.settings import Settings, is_loopback
from api.usecases import open_queries
from ledger import service
from ledger.ledger import Ledger

log = logging.getLogger("chip_ledger.api")

DESCRIPTION = """\
An exact, append-only ledger of AI-accelerator purchase orders: budgets, spend in
any currency, domestic-sourcing ratios and export-control screening.

Errors are `application/problem+json` (RFC 9457) with `errors: [{row, field, message}]`.
When the server has API keys, every `/v1` route needs `Authorization: Bearer <token>`
with scope `read`, `ingest` (feeds) or `admin` (reference data).
Export-control screening is screening support, not legal advice.
"""


def open_ledger(settings: Settings) -> Ledger:
    ledger = Ledger.open(
        settings.db, max_rows_per_feed=settings.max_rows_per_feed,
        snapshot_dir=settings.snapshot_dir, sql_memory_mb=settings.sql_memory_mb,
        party_match_threshold=settings.party_match_threshold,
    )  # fmt: skip
    if settings.demo and ledger.entry_count() == 0:
        from ledger import demo

        log.warning("building the demo ledger (%s lines) in %s", settings.demo_lines, settings.db)
        # sample feeds to try by hand, beside the ledger file
        demo.build(ledger, settings.demo_lines, feeds_dir=Path(settings.db).parent / "demo-feeds")
    return ledger


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The kernels' dispatch reads the backend from the environment, once per process.
        os.environ["CHIP_LEDGER_BACKEND"] = settings.backend
        if not settings.grants:
            log.warning(
                "CHIP_LEDGER_API_KEYS is not set: the API is UNAUTHENTICATED and answers "
                "loopback clients only"
            )
        ledger = open_ledger(settings)
        app.state.ledger = ledger
        url = getattr(app.state, "serve_url", None)
        try:
            # Loads the resident columns and warms the kernels before the first request.
            app.state.queries = open_queries(ledger)
            if url:  # the CLI's read commands find this service through the record
                service.write_record(settings.db, url)
                print(f"chip-ledger: serving {settings.db} on {url} (API docs: {url}/docs)")
            yield
        finally:
            if url:
                service.remove_record(settings.db)
            app.state.queries = None
            ledger.close()  # saves the resident columns: the next start maps them back

    # /docs and /redoc with their assets served from the package (no CDN: they work on an
    # air-gapped network)
    app = FastAPIOffline(
        title="chip-ledger",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    app.state.settings = settings
    app.state.queries = None
    problems.install(app)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(LoopbackOnlyMiddleware, settings=settings)  # before any body is read
    app.add_middleware(MetricsMiddleware)  # outermost: it also counts what the limit refuses
    for module in (
        health, orders, reference, parties, totals, budgets, sourcing, compliance, licences,
        sql, snapshots, dashboard,
    ):  # fmt: skip
        app.include_router(module.router)

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for model in (Problem, FeedLine, FeedObject):
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, sub)
                schemas[model.model_config.get("title") or model.__name__] = schema
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def serve(db: str, host: str, port: int, demo: bool, demo_lines: int) -> int:
    import uvicorn

    settings = Settings(db=db, demo=demo, demo_lines=demo_lines)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not settings.grants and not is_loopback(host):
        log.error(
            "refusing to serve %s without CHIP_LEDGER_API_KEYS: an unauthenticated ledger "
            "binds to loopback only (127.0.0.1, ::1)",
            host,
        )
        return 2
    log.info("opening %s (the service answers once the ledger is loaded)", db)
    app = create_app(settings)
    app.state.serve_url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    uvicorn.run(app, host=host, port=port, log_level="info")
    return 0
