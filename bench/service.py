"""The real service in its own process (`chip-ledger serve` under uvicorn, on loopback),
as it runs in production: its own numba and DuckDB threads, its own memory.

Start-up is timed from process start to the first 200 from /healthz.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.memory import peak_rss_bytes, rss_bytes

HOST = "127.0.0.1"
# what the service logs once its use cases are ready (api/usecases.py)
READY_LOG = re.compile(r"columns loaded in ([\d.]+) s, (?:first )?kernels warm after ([\d.]+) s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Service:
    """`chip-ledger --db DB serve` on a free loopback port; `start()` returns seconds to ready."""

    def __init__(self, db: str | os.PathLike, log_path: str | os.PathLike):
        self.db = str(db)
        self.log_path = Path(log_path)
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen | None = None
        self.rss_after_start: int | None = None
        self.peak_rss: int | None = None
        self.phases: dict = {}  # of the last start, from the service's own log

    def start(self, timeout_s: float = 600) -> float:
        env = dict(os.environ)
        env.pop("CHIP_LEDGER_API_KEYS", None)  # unauthenticated on loopback, as `make serve`
        command = [sys.executable, "-m", "cli.main", "--db", self.db, "serve",
                   "--host", HOST, "--port", str(self.port)]  # fmt: skip
        log = self.log_path.open("ab")
        offset = log.tell()
        started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        with httpx.Client(timeout=5) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"the service exited ({self.process.returncode}); see {self.log_path}"
                    )
                try:
                    if client.get(self.url + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > timeout_s:
                    self.stop()
                    raise TimeoutError(f"the service was not ready in {timeout_s} s")
                time.sleep(0.02)
        took = time.perf_counter() - started
        self.rss_after_start = rss_bytes(self.process.pid)
        with self.log_path.open("rb") as f:
            f.seek(offset)
            found = READY_LOG.search(f.read().decode(errors="replace"))
        if found:
            columns, ready = float(found[1]), float(found[2])
            # the rest of the start: interpreter, imports, app and store set-up, uvicorn
            self.phases = {"columns_load_s": columns, "kernels_warm_s": ready - columns,
                           "imports_and_setup_s": took - ready}  # fmt: skip
        return took

    def stop(self, timeout_s: float = 300) -> None:
        """SIGINT, as Ctrl-C: the service saves its resident-column cache on the way out."""
        if self.process is None:
            return
        peak = peak_rss_bytes(self.process.pid)
        self.peak_rss = max(self.peak_rss or 0, peak or 0) or None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
