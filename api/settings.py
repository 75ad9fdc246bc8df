"""Service settings, from the environment (CHIP_LEDGER_*)."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SCOPES = ("read", "ingest", "admin")
# What each scope grants: ingest and admin include read (DESIGN.md section 4).
GRANTS = {"read": {"read"}, "ingest": {"read", "ingest"}, "admin": {"read", "admin"}}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHIP_LEDGER_")

    db: str = "chip-ledger.duckdb"
    api_keys: str = ""  # "token:scope,token:scope"; scopes read, ingest, admin
    backend: str = "auto"  # kernels: auto | cpu | cuda
    snapshot_dir: str | None = None
    demo: bool = False  # build the demo ledger at start when the ledger is empty
    demo_lines: int = 1_000_000
    max_body_bytes: int = 512 * 1024 * 1024  # feeds and reference data
    max_other_body_bytes: int = 1024 * 1024  # any other body (SQL): small, so never a burden
    max_rows_per_feed: int = 5_000_000
    sql_timeout_s: float = 5.0
    sql_max_rows: int = 100_000
    sql_max_answer_bytes: int = 64 * 1024 * 1024  # one SQL answer, encoded
    sql_memory_mb: int = 1024  # DuckDB's memory limit (its default is 80% of RAM)
    # fuzzy score (0-100) from which a party matches a restricted-party listing
    party_match_threshold: float = Field(90.0, ge=0, le=100)

    @field_validator("api_keys")
    @classmethod
    def _keys_parse(cls, value: str) -> str:
        parse_api_keys(value)  # refuse a malformed key list at start, not at the first request
        return value

    @property
    def grants(self) -> dict[str, frozenset[str]]:
        """token -> what it may do; empty when the service runs without keys."""
        return parse_api_keys(self.api_keys)


def parse_api_keys(value: str) -> dict[str, frozenset[str]]:
    """`token:scope,token:scope` -> token -> granted scopes. A token may be listed twice."""
    grants: dict[str, set[str]] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        token, sep, scope = item.rpartition(":")
        token, scope = token.strip(), scope.strip().lower()
        if not sep or not token:
            raise ValueError(f"API key entry {item[:4]}... is not token:scope")
        if scope not in SCOPES:
            raise ValueError(f"API key scope {scope!r} is not one of {', '.join(SCOPES)}")
        grants.setdefault(token, set()).update(GRANTS[scope])
    return {t: frozenset(g) for t, g in grants.items()}


def is_loopback(host: str | None) -> bool:
    """Whether an address (or None: a Unix socket) is reachable from this machine only."""
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
