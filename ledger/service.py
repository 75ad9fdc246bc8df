"""Where a running service says it serves a ledger: a small record beside the ledger file.

`chip-ledger serve` writes `<ledger>.serving.json` (pid, url) once it listens and
removes it on exit; a record whose process is gone is stale and ignored. The
CLI's read commands use it to go through the service's API when the service
holds the file (DuckDB lets one process open a file for writing).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServiceRecord:
    pid: int
    url: str


def record_path(db: str | os.PathLike) -> Path:
    return Path(str(db) + ".serving.json")


def write_record(db: str | os.PathLike, url: str) -> Path:
    path = record_path(db)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    tmp.replace(path)  # atomic: a reader sees the whole record or none
    return path


def remove_record(db: str | os.PathLike) -> None:
    path = record_path(db)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def read_record(db: str | os.PathLike) -> ServiceRecord | None:
    """The live service serving `db`, or None (no record, a malformed one, or a stale one)."""
    try:
        doc = json.loads(record_path(db).read_text())
        record = ServiceRecord(int(doc["pid"]), str(doc["url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if _alive(record.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
