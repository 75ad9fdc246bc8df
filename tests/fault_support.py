"""Helpers of the fault tests (crash loop, disk full): server processes to kill, feeds to send.

Both run the service as users run it (uvicorn over `api.main:create_app`, settings
from CHIP_LEDGER_* variables) in child processes the test may SIGKILL:

- `ServerProcess` adds one hook the plain server lacks, outside the service code:
  SIGUSR1 / SIGUSR2 cap / lift RLIMIT_FSIZE (the cap read from a file beside the
  ledger), a disk that fills and frees without root. SIGXFSZ is ignored, so a
  write past the cap fails with EFBIG instead of killing the process.
- `ServerZygote` imports the service once and forks a server per start, for a loop
  of many kills and restarts.
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
folder, port = Path(sys.argv[1]), int(sys.argv[2])
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

uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning")
"""


class ServerProcess:
    """The service over `db` in a child process; `url` once `wait_ready` returned."""

    def __init__(self, db: Path, log_path: Path):
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
            [sys.executable, str(script), str(self.folder), str(self.port)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

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
        self._log.close()


ZYGOTE_SCRIPT = r"""
import os, sys

import uvicorn
import api.main  # everything the service imports, once: each server forks from here
from kernels import dispatch

# Load the compiled kernels once too (the kernels' thread pool is rebuilt after a fork);
# each server's own warm-up then finds them loaded.
dispatch.warm_up()

for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "start":
        port, log = int(args[0]), args[1]
        pid = os.fork()
        if pid == 0:  # the server: its own log, no pipe of the zygote's kept open
            try:
                out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
                app = api.main.create_app()
                uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
            finally:
                os._exit(0)
        print(pid, flush=True)
    elif cmd == "wait":
        print(os.waitpid(int(args[0]), 0)[1], flush=True)
"""


class ServerZygote:
    """A process that has imported the service and forks a fresh server on demand.

    Each server is a real uvicorn process over the ledger file (its own pid, SIGKILLed
    by pid); only the interpreter start, the imports and the loaded kernels are shared,
    which is most of a start's cost, so a kill-and-restart loop is bounded by its
    kills, not by imports.
    """

    def __init__(self, db: Path):
        self.db = Path(db)
        script = self.db.parent / "fault_zygote.py"
        script.write_text(ZYGOTE_SCRIPT)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHIP_LEDGER_")}
        env.update(
            {"CHIP_LEDGER_DB": str(self.db), "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
        )
        self.proc = subprocess.Popen(
            [sys.executable, str(script)], cwd=ROOT, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )  # fmt: skip

    def _ask(self, line: str) -> int:
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"the server zygote exited ({self.proc.wait()})")
        return int(answer)

    def start(self, log_path: Path) -> ForkedServer:
        port = free_port()
        return ForkedServer(self, self._ask(f"start {port} {log_path}"), port, log_path)

    def reap(self, pid: int) -> int:
        return self._ask(f"wait {pid}")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


class ForkedServer:
    """One server forked by a `ServerZygote`."""

    def __init__(self, zygote: ServerZygote, pid: int, port: int, log_path: Path):
        self.zygote, self.pid, self.port, self.log_path = zygote, pid, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.alive = True

    def wait_ready(self) -> ForkedServer:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"server not ready: {self.log_path.read_text(errors='replace')}")

    def _end(self, signum: int) -> None:
        if self.alive:
            os.kill(self.pid, signum)
            self.zygote.reap(self.pid)
            self.alive = False

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs (no cache saved, no transaction ended)."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: uvicorn shuts down and the lifespan closes the ledger."""
        self._end(signal.SIGTERM)


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
