"""The service's start path stays lean: what only some requests need is imported on first use.

Each check runs in a fresh interpreter (this one has imported everything already). A
module named here came back onto the start path if one of these fails: import it inside
the function that needs it instead (issue 14: service start under 2 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# not needed to answer the first request; each costs import time (pandas ~0.4 s when the
# dev extra has it, numba + llvmlite ~0.3 s, now imported by the kernel warm-up thread)
OFF_THE_START_PATH = [
    "pandas",
    "polars",
    "matplotlib",
    "numba",
    "llvmlite",
    "rapidfuzz",  # party matching (ledger.domain.parties' scorer)
    "xlsxwriter",  # the xlsx export
    "rich",  # the CLI's tables; `chip-ledger serve` prints plain lines
    "pycountry",  # no longer a dependency: ledger.domain.iso3166
    "ledger.store.snapshots",
    "ledger.demo",
    "bench",
    "uvicorn",
]


def loaded_after(statement: str) -> set[str]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.slow
@pytest.mark.parametrize("statement", ["import api.main", "import cli.main"])
def test_start_path_leaves_the_rest_unimported(statement):
    loaded = loaded_after(statement)
    assert "api.main" in loaded or "cli.main" in loaded  # the import itself happened
    back = sorted(
        name
        for name in OFF_THE_START_PATH
        if name in loaded or any(m.startswith(name + ".") for m in loaded)
    )
    assert back == [], f"{statement} imports {back} at start"


@pytest.mark.slow
def test_numba_imported_later_still_uses_the_digest_cache():
    """kernels/__init__ names the cache folder without importing numba: a numba imported
    afterwards must still cache into the digest-named folder (stale kernels otherwise)."""
    code = (
        "import os; os.environ.pop('NUMBA_CACHE_DIR', None)\n"
        "import kernels, numba\n"
        "print(numba.config.CACHE_DIR)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    cache_dir = Path(done.stdout.strip())
    assert cache_dir.parent == ROOT / "kernels" / "__pycache__"
    assert cache_dir.name.startswith("numba-")


def test_country_codes_are_iso_3166_alpha_2():
    from kernels import layout
    from ledger.domain.iso3166 import COUNTRY_CODES

    assert len(COUNTRY_CODES) == layout.N_COUNTRIES == 249
    assert all(len(c) == 2 and c.isupper() for c in COUNTRY_CODES)
    # assigned: South Sudan (2011), Curacao and Sint Maarten (2010); withdrawn: the
    # Netherlands Antilles (AN, 2010); Kosovo's XK is user-assigned, not ISO's
    assert {"SS", "CW", "SX", "US", "CN", "TW"} <= COUNTRY_CODES
    assert not {"AN", "XK", "EU", "UK"} & COUNTRY_CODES
