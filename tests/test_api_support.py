"""Shared helpers of the API suites (tests/test_api*.py): a real uvicorn server on loopback.

Each `LiveServer` is its own process over its own DuckDB file in a tmp dir,
started with `uvicorn --factory api.main:create_app` and settings from the
environment, exactly as it runs for users. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from ledger.ledger import Ledger
from tests.conftest import GOLDEN_CSV, load_reference

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 90.0

MEDIA = {
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}

# A digest of every ledger table, computed by the server itself over ad-hoc SQL.
DIGEST_SQL = (
    "SELECT "
    + ", ".join(
        f"(SELECT count(*) || ':' || coalesce(md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)),"
        f" '') FROM {table} t) AS {table}"
        for table in (
            "feeds", "line_entries", "entities", "suppliers", "chips", "fx_rates", "budgets",
            "sourcing_policies", "export_rules",
        )
    )
)  # fmt: skip


def queries_available() -> bool:
    try:
        import ledger.read.queries  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "ledger.read.queries":
            raise
        return False
    return True


needs_queries = pytest.mark.skipif(
    not queries_available(), reason="ledger/queries.py (the read use cases) is not there yet"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A uvicorn process on 127.0.0.1 over a fresh DuckDB file (reference data loaded)."""

    def __init__(self, folder: Path, env: dict[str, str] | None = None, reference: bool = True):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.db = folder / "ledger.duckdb"
        if reference:
            with Ledger.open(self.db) as ledger:
                load_reference(ledger)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "server.log"
        full_env = {
            k: v for k, v in os.environ.items() if not k.startswith("CHIP_LEDGER_")
        }  # fmt: skip
        full_env.update({"CHIP_LEDGER_DB": str(self.db), "PYTHONUNBUFFERED": "1"})
        full_env.update(env or {})
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            ],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.client = httpx.Client(base_url=self.url, timeout=60.0)

    def wait_ready(self) -> LiveServer:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                if self.client.get("/healthz", timeout=2.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {START_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    # -- conveniences ------------------------------------------------------

    def post_feed(self, data: bytes, fmt: str, key: str | None = None, **headers):
        hdrs = {"Content-Type": MEDIA[fmt], **headers}
        if key is not None:
            hdrs["Idempotency-Key"] = key
        return self.client.post("/v1/orders", content=data, headers=hdrs)

    def sql(self, sql: str, max_rows: int | None = None, **headers) -> httpx.Response:
        body: dict = {"sql": sql}
        if max_rows is not None:
            body["max_rows"] = max_rows
        return self.client.post("/v1/sql", json=body, headers=headers)

    def rows(self, sql: str) -> list[list]:
        r = self.sql(sql)
        assert r.status_code == 200, r.text
        return r.json()["rows"]

    def digest(self) -> list:
        return self.rows(DIGEST_SQL)[0]


def start_servers(folders_envs: list[tuple[Path, dict[str, str]]]) -> list[LiveServer]:
    """Start several servers at once (their start-up overlaps), wait for all."""
    servers = [LiveServer(folder, env) for folder, env in folders_envs]
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(LiveServer.wait_ready, servers))
    except BaseException:
        for s in servers:
            s.stop()
        raise
    return servers


# -- the golden feed in each format ------------------------------------------


def golden_rows() -> list[dict]:
    reader = csv.DictReader(io.StringIO(GOLDEN_CSV))
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]


def encode(fmt: str, csv_text: str = GOLDEN_CSV) -> bytes:
    """A feed as bytes of a format: typed JSON, NDJSON, CSV, Arrow IPC / Parquet (typed)."""
    reader = csv.DictReader(io.StringIO(csv_text))
    rows = [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]
    if fmt == "csv":
        return csv_text.encode()
    if fmt == "json":
        typed = []
        for r in rows:
            t = dict(r)
            for k in ("line_no", "revision", "quantity"):
                t[k] = int(t[k])
            t["identity_reviewed"] = t["identity_reviewed"] == "true"
            typed.append(t)
        return json.dumps(typed).encode()
    if fmt == "ndjson":
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    # Arrow's own type inference: ints, dates, booleans, and prices as doubles or strings
    table = pacsv.read_csv(
        io.BytesIO(csv_text.encode()),
        convert_options=pacsv.ConvertOptions(column_types={"unit_price": pa.string()}),
    )
    sink = pa.BufferOutputStream()
    if fmt == "arrow":
        with ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
    elif fmt == "parquet":
        pq.write_table(table, sink)
    else:
        raise AssertionError(fmt)
    return sink.getvalue().to_pybytes()
