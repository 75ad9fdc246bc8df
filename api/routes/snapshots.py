"""POST /v1/snapshots (admin): a consistent snapshot of the ledger while the service runs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import AdminScope, LedgerDep
from api.problems import responses
from ledger.domain.errors import LedgerError

router = APIRouter(prefix="/v1", tags=["admin"])


class SnapshotRequest(BaseModel):
    dir: str | None = Field(
        None, min_length=1, max_length=1000,
        description="the folder to write (new or empty), inside the service's snapshot folder "
        "(CHIP_LEDGER_SNAPSHOT_DIR); relative to it when relative; default a new timestamped one",
    )  # fmt: skip


class SnapshotAnswer(BaseModel):
    dir: str
    files: dict[str, str]  # table -> Parquet path, "duckdb" -> the copy, "manifest"
    manifest: dict


@router.post(
    "/snapshots",
    status_code=201,
    response_model=SnapshotAnswer,
    summary="Write a snapshot: Parquet of every table, a DuckDB copy, a manifest",
    description=(
        "One read transaction, so the snapshot is consistent while feeds arrive (a feed "
        "waits for the copy to finish). The Parquet files open in polars, pandas and DuckDB; "
        "the manifest says which DuckDB versions open the copy. Folders outside the "
        "service's snapshot folder are refused (403); a folder not empty is a 409."
    ),
    responses=responses(400, 401, 403, 409, 422, 500),
    dependencies=[AdminScope],
)
def post_snapshot(ledger: LedgerDep, request: SnapshotRequest | None = None) -> dict:
    root = ledger.store.snapshot_dir
    if not root:
        raise LedgerError(
            "snapshot-denied", "Snapshots are not enabled",
            "start the service with CHIP_LEDGER_SNAPSHOT_DIR set to a folder for snapshots", 403,
        )  # fmt: skip
    wanted = (request.dir if request else None) or dt.datetime.now(dt.UTC).strftime(
        "snapshot-%Y%m%dT%H%M%S%fZ"
    )
    target = Path(wanted) if Path(wanted).is_absolute() else Path(root) / wanted
    files = ledger.snapshot(target)
    manifest = json.loads(Path(files["manifest"]).read_text())
    return {"dir": str(Path(files["manifest"]).parent), "files": files, "manifest": manifest}
