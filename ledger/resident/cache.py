"""The column cache: the resident arrays and dictionaries beside the ledger file.

A restart maps them back instead of re-encoding every entry. The cache is only
ever trusted as a prefix: its last feed must still be in the ledger with the
same digest and own exactly its entries; later entries are read from the store
(the tail). Delete it at will: the DuckDB file stays the source of truth.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kernels.layout import N_SOURCES
from ledger.resident.dictionary import Dictionary

CACHE_VERSION = 1
ARRAYS = ("amount", "quantity", "lines", "flags")


def save(cols, store, directory: Path) -> None:
    """Write the arrays and dictionaries, if they end at a feed boundary (else nothing)."""
    with cols.lock:
        n = cols.n
        last = store.feed_boundary(n)
        if last is None:
            return  # entries of a feed not yet fully resident: nothing safe to save
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "codes.npy", cols.codes[:, :n])
        for name in ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(cols, name)[:n])
        np.save(tmp / "seen.npy", cols.seen)
        meta = {
            "version": CACHE_VERSION, "n": n, "feed_seq": last[0], "feed_sha256": last[1],
            "min_day": cols.min_day, "max_day": cols.max_day,
            "dicts": {k: d.values for k, d in cols.dicts.items()},
        }  # fmt: skip
        (tmp / "meta.json").write_text(json.dumps(meta))
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)  # a reader sees the old cache or the new one, never half


def _trusted_meta(fresh, store, directory: Path) -> dict | None:
    """The cache's metadata when it is a prefix of this ledger, else None."""
    try:
        meta = json.loads((directory / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("version") != CACHE_VERSION:
        return None
    for name, d in fresh.dicts.items():  # fixed dictionaries must not have moved
        if d.frozen and meta["dicts"].get(name) != d.values:
            return None
    if store.feed_boundary(int(meta["n"])) != (meta["feed_seq"], meta["feed_sha256"]):
        return None
    return meta


def _mapped(directory: Path, n0: int) -> tuple | None:
    """The cached arrays, mapped (each is copied once, straight into its resident home)."""
    try:
        codes = np.load(directory / "codes.npy", mmap_mode="r")
        arrays = {k: np.load(directory / f"{k}.npy", mmap_mode="r") for k in ARRAYS}
        seen = np.load(directory / "seen.npy")
    except (OSError, ValueError):
        return None
    if codes.shape != (N_SOURCES, n0) or any(a.shape != (n0,) for a in arrays.values()):
        return None
    return codes, arrays, seen


def load(cls, store, directory: Path, batch_rows: int):
    """A `cls` (ResidentColumns) from the cache plus the store's tail, or None."""
    fresh = cls()
    meta = _trusted_meta(fresh, store, directory)
    if meta is None:
        return None
    n0 = int(meta["n"])
    mapped = _mapped(directory, n0)
    if mapped is None:
        return None
    codes, arrays, seen = mapped
    cols = fresh
    for name, values in meta["dicts"].items():
        if not cols.dicts[name].frozen:
            cols.dicts[name] = Dictionary(values, name=name)
    n = store.count("line_entries")
    cols._grow(n)
    _copy_in_parallel(cols.codes[:, :n0], codes)
    for name, a in arrays.items():
        _copy_in_parallel(getattr(cols, name)[:n0], a)
    cols.seen[:] = seen
    cols.n = n0
    cols.min_day, cols.max_day = int(meta["min_day"]), int(meta["max_day"])
    cols.reload_reference(store)
    cols.catch_up(store, batch_rows)
    assert cols.n == n, (cols.n, n)
    cols._rates(store, cols.lookups)
    cols.loaded_from = "cache+tail" if n > n0 else "cache"
    return cols


def _copy_in_parallel(dst: np.ndarray, src: np.ndarray, parts: int = 4) -> None:
    """dst[...] = src in slices on a few threads: numpy copies without the GIL, and page
    faults on fresh memory and on a mapped file are taken on every core, not one."""
    n = dst.shape[-1]
    bounds = [n * k // parts for k in range(parts + 1)]
    with ThreadPoolExecutor(max_workers=parts) as pool:
        for done in [
            pool.submit(np.copyto, dst[..., lo:hi], src[..., lo:hi])
            for lo, hi in zip(bounds, bounds[1:], strict=False)
        ]:
            done.result()
