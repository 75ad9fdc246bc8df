"""What every command needs: which ledger file, and opening it through `Ledger.open`."""

from __future__ import annotations

import os

DEFAULT_DB = "chip-ledger.duckdb"


def db_path(args) -> str:
    return getattr(args, "db", None) or os.environ.get("CHIP_LEDGER_DB") or DEFAULT_DB


def open_ledger(args, snapshot_dir: str | None = None):
    from ledger.ledger import Ledger

    # the service's setting, so that the CLI and the API flag the same parties
    threshold = float(os.environ.get("CHIP_LEDGER_PARTY_MATCH_THRESHOLD") or 90)
    return Ledger.open(db_path(args), snapshot_dir=snapshot_dir, party_match_threshold=threshold)
