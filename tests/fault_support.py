"""Helpers of the fault tests (crash loop, disk full): a server process to kill, feeds to send.

`ServerProcess` runs the service as users run it (uvicorn over `api.main:create_app`,
settings from CHIP_LEDGER_* variables) in a child process that the test may
SIGKILL. Two hooks the plain server lacks, both outside the service code:

- `gated`: the child imports everything, then waits for a line on stdin before it
  opens the ledger, so a spare can start while another server still holds the file
  (DuckDB allows one writer process) and take over in a fraction of a second.
- SIGUSR1 / SIGUSR2: cap / lift RLIMIT_FSIZE (the cap read from a file beside the
  ledger), a disk that fills and frees without root. SIGXFSZ is ignored, so a
  write past the cap fails with EFBIG instead of killing the process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import HEADER
from tests.test_api_support import ROOT, free_port

READY_TIMEOUT_S = 90.0  # a hang guard only: nothing is asserted about speed

SERVER_SCRIPT = r"""
import os, resource, signal, sys
from pathlib import Path

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
folder, port, gated = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)


def cap(signum, frame):
    limit = int((folder / "fsize-limit").read_text())
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    (folder / "fsize-limit.on").write_text(str(limit))


def lift(signum, frame):
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    (folder / "fsize-limit.off").write_text("")


signal.signal(signal.SIGUSR1, cap)
signal.signal(signal.SIGUSR2, lift)
import uvicorn
from api.main import create_app

if gated:
    sys.stdin.readline()
uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning")
"""


class ServerProcess:
    """The service over `db` in a child process; `url` once `wait_ready` returned."""

    def __init__(self, db: Path, log_path: Path, gated: bool = False):
        self.db = Path(db)
        self.folder = self.db.parent
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        script = self.folder / "fault_server.py"
        if not script.exists():
            script.write_text(SERVER_SCRIPT)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHIP_LEDGER_")}
        env.update(
            {"CHIP_LEDGER_DB": str(self.db), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
        )
        self._log = open(log_path, "wb")  # noqa: SIM115  (closed in close())
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.folder), str(self.port), "1" if gated else "0"],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def go(self) -> ServerProcess:
        """Let a gated server open the ledger and serve."""
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()
        return self

    def wait_ready(self) -> ServerProcess:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"server not ready in {READY_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def signal(self, signum: int, done_file: str) -> None:
        """Send SIGUSR1/SIGUSR2 and wait until the child says it has acted on it."""
        marker = self.folder / done_file
        marker.unlink(missing_ok=True)
        self.proc.send_signal(signum)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not marker.exists():
            assert time.monotonic() < deadline and self.proc.poll() is None, self.log()
            time.sleep(0.01)

    def cap_file_size(self, limit_bytes: int) -> None:
        (self.folder / "fsize-limit").write_text(str(limit_bytes))
        self.signal(signal.SIGUSR1, "fsize-limit.on")

    def lift_file_size(self) -> None:
        self.signal(signal.SIGUSR2, "fsize-limit.off")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs (no cache saved, no transaction ended)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.close()

    def stop(self) -> None:
        """A clean stop (SIGTERM): the lifespan closes the ledger."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.close()

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        self._log.close()


def order_feed(tag: str, n_lines: int) -> bytes:
    """A CSV feed of n new open lines of order `tag` (line k: k units at 1.25 CNY)."""
    rows = [
        f"{tag},{k},0,open,ACME-CN,2025-02-01,Nvidia,H20,{k},1.25,CNY,CN,DOM-2025,training,"
        "purchase,,,false,"
        for k in range(1, n_lines + 1)
    ]
    return "\n".join([HEADER, *rows]).encode() + b"\n"


def file_size_cap(db: Path, headroom_bytes: int) -> int:
    """A file-size cap just above the ledger's write-ahead log, where commits append.

    RLIMIT_FSIZE bounds the offset a process may write at, in every file. The main
    file is written at checkpoints only (none while a test holds the cap), so the cap
    follows the WAL: a commit that needs more than `headroom_bytes` of it fails.
    """
    wal = Path(str(db) + ".wal")
    return (wal.stat().st_size if wal.exists() else 0) + headroom_bytes
