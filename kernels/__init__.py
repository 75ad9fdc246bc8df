"""Numba kernels: loops over typed arrays that fill `out`. numpy and numba only.

Call them through `kernels.dispatch`, which picks CUDA or CPU once.

numba's on-disk cache checks only the file that defines a cached function, not
the files it inlines from (`scalar.py`, `rules.py`): edit one of those alone and
a stale compiled kernel would be loaded. So, unless NUMBA_CACHE_DIR says
otherwise, the cache lives in a folder named after a digest of every kernel
source file: any edit here starts a fresh cache.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


def _cache_dir() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted(here.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return str(here / "__pycache__" / f"numba-{digest.hexdigest()[:16]}")


if not os.environ.get("NUMBA_CACHE_DIR"):
    # numba reads NUMBA_CACHE_DIR when it is first imported: setting the variable keeps
    # numba (~0.3 s) off the import path of whoever needs only kernels.layout; a numba
    # imported already gets its config set (child processes inherit the same digest)
    os.environ["NUMBA_CACHE_DIR"] = _cache_dir()
    if "numba" in sys.modules:
        sys.modules["numba"].config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
