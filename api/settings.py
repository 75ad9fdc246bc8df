"""Service settings, from the environment (CHIP_LEDGER_*)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHIP_LEDGER_")

    db: str = "chip-ledger.duckdb"
    api_keys: str = ""  # "token:scope,token:scope"; scopes read, ingest, admin
    backend: str = "auto"  # kernels: auto | cpu | cuda
    snapshot_dir: str | None = None
    demo: bool = False  # build the demo ledger at start when the ledger is empty
    demo_lines: int = 1_000_000
    max_body_bytes: int = 512 * 1024 * 1024
    max_rows_per_feed: int = 5_000_000
    sql_timeout_s: float = 5.0
    sql_max_rows: int = 100_000
