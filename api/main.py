"""create_app(settings): the FastAPI service; serve(): run it with uvicorn."""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import problems
from api.limits import BodyLimitMiddleware
from api.loopback import LoopbackOnlyMiddleware
from api.metrics import MetricsMiddleware
from api.models import FeedLine, FeedObject
from api.params import known_query_parameters
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
from api.usecases import open_queries, start_warm_up, warm_the_rest
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
        build_demo(ledger, settings)
    return ledger


# a progress line per batch; measured on 2 busy cores, 1M lines in 250k-line batches took
# 28% longer to ingest than in one 1M-line batch (13.8-15.3 s against 10.8-12.0 s)
DEMO_BATCH_LINES = 1_000_000


def build_demo(ledger: Ledger, settings: Settings) -> None:
    import time

    from ledger import demo

    started = time.perf_counter()
    log.warning(
        "building the demo ledger (%s lines, a progress line per million; about 10 s per "
        "million on 2 busy cores) in %s", f"{settings.demo_lines:,}", settings.db,
    )  # fmt: skip
    done = [0]

    def progress(lines: int) -> None:
        done[0] += lines
        log.info("demo: %s of %s lines in the ledger (%.1f s)", f"{done[0]:,}",
                 f"{settings.demo_lines:,}", time.perf_counter() - started)  # fmt: skip

    # sample feeds to try by hand, beside the ledger file
    demo.build(
        ledger, settings.demo_lines, batch_lines=DEMO_BATCH_LINES, progress=progress,
        feeds_dir=Path(settings.db).parent / "demo-feeds",
    )  # fmt: skip
    log.info("demo ledger built in %.1f s (amendments, licences and sample feeds included)",
             time.perf_counter() - started)  # fmt: skip


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
        # the first answers' kernels compile while the ledger opens (and a demo builds)
        warmed = start_warm_up()
        ledger = open_ledger(settings)
        app.state.ledger = ledger
        try:
            # Loads the resident columns; the first answers' kernels are warm after it.
            app.state.queries = open_queries(ledger, warmed)
            warm_the_rest()
            yield  # `serve` prints its "serving" line once the socket listens, after this
        finally:
            service.remove_record(settings.db)  # only a record this process wrote
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
        # a parameter a route does not know is a 422, never silently ignored (api.params)
        app.include_router(module.router, dependencies=[Depends(known_query_parameters)])

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
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)  # the lifespan's start-up, then bind and listen
            if self.started:  # not when the start-up failed or the port was taken
                # the CLI's read commands find this service through the record
                service.write_record(settings.db, url)
                print(f"chip-ledger: serving {settings.db} on {url} (API docs: {url}/docs)",
                      flush=True)  # fmt: skip

    try:
        Server(uvicorn.Config(create_app(settings), host=host, port=port, log_level="info")).run()
    except KeyboardInterrupt:  # Ctrl-C after the shutdown ran: as `uvicorn.run` does
        pass
    return 0
