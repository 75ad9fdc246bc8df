"""create_app(settings): the FastAPI service; serve(): run it with uvicorn."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.settings import Settings
from ledger.ingest import Ledger
from ledger.store import Store

log = logging.getLogger("chip_ledger.api")


def open_ledger(settings: Settings) -> Ledger:
    store = Store(settings.db, snapshot_dir=settings.snapshot_dir)
    ledger = Ledger(store, max_rows_per_feed=settings.max_rows_per_feed)
    if settings.demo and store.count("line_entries") == 0:
        from ledger import demo

        log.warning("building the demo ledger (%s lines) in %s", settings.demo_lines, settings.db)
        demo.build(ledger, settings.demo_lines, feeds_dir="demo-feeds")
    return ledger


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.ledger = open_ledger(settings)
        yield
        app.state.ledger.store.close()

    app = FastAPI(title="chip-ledger", version="0.1.0", lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict:
        store = app.state.ledger.store
        return {
            "status": "ok",
            "entries": store.count("line_entries"),
            "feeds": store.count("feeds"),
        }

    return app


def serve(db: str, host: str, port: int, demo: bool, demo_lines: int) -> int:
    import uvicorn

    settings = Settings(db=db, demo=demo, demo_lines=demo_lines)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(
        f"chip-ledger: serving {db} on http://{host}:{port} (API docs: http://{host}:{port}/docs)"
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    return 0
