"""The contract pages in docs/ are what the code that enforces the contract generates."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import docs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(docs.PAGES))
def test_committed_page_is_current(name):
    committed = (ROOT / "docs" / name).read_text()
    assert committed == docs.PAGES[name](), f"docs/{name} is stale: run `chip-ledger docs`"


def test_every_registry_table_and_field_is_documented():
    from ledger.domain.schema import FEED_FIELDS
    from ledger.reference import registry

    tables = docs.reference_tables()
    for t in registry.TABLES:
        assert f"`{t.api_name}`" in tables
        assert all(f"`{c.field_name}`" in tables for c in t.columns)
    assert all(f"`{f}`" in docs.line_fields() for f in FEED_FIELDS)
