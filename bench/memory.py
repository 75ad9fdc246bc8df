"""Memory of a process, from /proc (Linux); None where that is not available."""

from __future__ import annotations

import resource
from pathlib import Path


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
