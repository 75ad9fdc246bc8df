"""Memory of a process, from /proc (Linux); None where that is not available."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

_FOOTPRINT = """
import json, sys
from bench.memory import rss_bytes
from ledger.ledger import Ledger
# what any service has loaded by its first answer, lazily: numba, and pandas where it is
# installed (pyarrow imports it on the first pa.array of a list); not memory per line
import numba, pyarrow as pa  # noqa: E401, F401
pa.array([0])
ledger = Ledger.open(sys.argv[1])
before = rss_bytes()
q = ledger.reads
after = rss_bytes()
print(json.dumps({"n": q.cols.n, "before": before, "after": after, "from": q.cols.loaded_from,
                  "capacity": q.cols.capacity}))
"""


def _status_kb(pid: int | str, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes(pid: int | str = "self") -> int | None:
    """Resident set size now."""
    kb = _status_kb(pid, "VmRSS")
    return None if kb is None else kb * 1024


def peak_rss_bytes(pid: int | str = "self") -> int | None:
    """The highest resident set size the process has had (VmHWM)."""
    kb = _status_kb(pid, "VmHWM")
    if kb is None and pid == "self":
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return None if kb is None else kb * 1024


def columns_footprint(db: str | os.PathLike) -> dict | None:
    """Resident growth per line when a fresh process loads the ledger's columns (from the
    cache beside it, as the service does): the memory that grows with the ledger."""
    done = subprocess.run(
        [sys.executable, "-c", _FOOTPRINT, str(db)], capture_output=True, text=True, check=True
    )
    r = json.loads(done.stdout.strip().splitlines()[-1])
    if not (r["n"] and r["before"] and r["after"]):
        return None
    return {
        "resident_bytes_per_line": (r["after"] - r["before"]) / r["n"],
        "loaded_from": r["from"],
        "capacity_lines": r["capacity"],
    }


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat), for telling how
    much of a run's time other processes took."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    except (OSError, ValueError, IndexError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
