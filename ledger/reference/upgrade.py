"""Bring an existing ledger's shipped reference rows up to date with this program's pack.

The pack (chips, suppliers, export rules beside this file) changes between releases: new
parts, corrected figures, new rule texts. A ledger made by an earlier release keeps the
rows it was seeded with until `chip-ledger init --upgrade` (or POST /v1/reference/upgrade)
compares each shipped row with the stored row of the same key and writes the ones that
are new or differ, all tables in one transaction. Rows whose key the pack does not hold
(the user's own chips, suppliers, rules) are never read for writing, never touched.
A stored row with a shipped key follows the pack: the listing names it as changed.
"""

from __future__ import annotations

import pyarrow as pa

from ledger.reference import pack_tables, registry


def _key(spec: registry.Table, row: dict) -> str:
    return "/".join(str(row[k]) for k in spec.keys)


def plan(store) -> tuple[dict[str, dict], dict[str, pa.Table]]:
    """(the listing per table, the rows to write per table) without writing anything."""
    listing: dict[str, dict] = {}
    writes: dict[str, pa.Table] = {}
    for table, shipped in pack_tables().items():
        spec = registry.BY_NAME[table]
        names = [c.name for c in spec.columns]
        stored = {_key(spec, r): r for r in store.reference(table).to_pylist()}
        added, changed, unchanged, take = [], [], 0, []
        for i, row in enumerate(shipped.to_pylist()):
            key = _key(spec, row)
            old = stored.get(key)
            if old is None:
                added.append(key)
                take.append(i)
                continue
            fields = [n for n in names if old.get(n) != row[n]]
            if fields:
                changed.append({"key": key, "fields": fields})
                take.append(i)
            else:
                unchanged += 1
        shipped_keys = {_key(spec, r) for r in shipped.to_pylist()}
        listing[spec.api_name] = {
            "added": added, "changed": changed, "unchanged": unchanged,
            "kept": sum(1 for k in stored if k not in shipped_keys),  # user rows, untouched
        }  # fmt: skip
        if take:
            writes[table] = shipped.take(pa.array(take, pa.int64()))
    return listing, writes


def upgrade(store, dry_run: bool = False) -> dict[str, dict]:
    """Write the new and changed shipped rows (unless `dry_run`); the listing per table."""
    listing, writes = plan(store)
    if writes and not dry_run:
        store.replace_references(writes)
    return listing
