"""Shared fixtures: real DuckDB files in tmp dirs, small readable golden feeds."""

from __future__ import annotations

import json
import os
import re

# CUDA kernels run under the simulator in CI: set before numba is imported.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import pytest  # noqa: E402

from ledger.ledger import Ledger  # noqa: E402
from tests import strategies  # noqa: E402, F401  (registers the hypothesis profiles)

ENTITIES_CSV = b"""entity,hq_country,fy_start_month
ACME-CN,CN,1
ACME-SG,SG,4
"""
# Rates chosen so that some conversions land exactly on half a cent.
RATES = [
    {"rate_date": "2025-01-01", "currency": "CNY", "usd_per_unit": "0.125"},
    {"rate_date": "2025-03-01", "currency": "CNY", "usd_per_unit": "0.1375"},
    {"rate_date": "2025-01-01", "currency": "JPY", "usd_per_unit": "0.005"},
    {"rate_date": "2025-01-01", "currency": "EUR", "usd_per_unit": "1.0825"},
    {"rate_date": "2025-01-01", "currency": "KWD", "usd_per_unit": "3.2575"},
]

HEADER = (
    "order_id,line_no,revision,status,entity,order_date,supplier,chip_model,quantity,"
    "unit_price,currency,destination,budget_code,workload,acquisition,owner,operator,"
    "identity_reviewed,license_ref"
)
GOLDEN_CSV = f"""{HEADER}
PO-1,1,0,open,ACME-CN,2025-02-01,Huawei,Ascend 910B,100,120000.50,CNY,CN,DOM-2025,inference,purchase,,,false,
PO-1,2,0,open,ACME-CN,2025-02-03,Nvidia,H20,1,0.04,CNY,CN,DOM-2025,training,purchase,,,false,
PO-1,3,0,open,ACME-CN,2025-02-04,Nvidia,H20,1,0.12,CNY,CN,DOM-2025,training,purchase,,,false,
PO-1,4,0,open,ACME-CN,2025-02-05,Cambricon,MLU590,1,0.20,CNY,CN,DOM-2025,inference,purchase,,,false,
PO-2,1,0,open,ACME-SG,2025-05-01,Nvidia,H100,10,25000,USD,SG,OVS-2025,training,purchase,,,false,
PO-2,2,0,open,ACME-SG,2025-05-02,Nvidia,H200,8,3,JPY,MY,OVS-2025,training,lease,YTL Data Centres,YTL Data Centres,true,
PO-2,3,0,open,ACME-SG,2025-05-03,AMD,MI300X,1,1,JPY,MY,OVS-2025,training,lease,Equinix,Equinix,false,
PO-3,1,0,open,ACME-SG,2025-06-01,Nvidia,H100,2,1234.567,KWD,SG,OVS-2025,training,purchase,,,false,LIC-1
PO-3,2,0,open,ACME-CN,2025-03-15,Nvidia,H100,4,30000.99,EUR,CN,DOM-2025,training,purchase,,,false,
"""


def load_reference(ledger: Ledger) -> None:
    """The golden entities and rates (a new ledger has the shipped pack already)."""
    ledger.load_reference("entities", ENTITIES_CSV, "csv")
    ledger.load_reference("fx-rates", json.dumps(RATES).encode(), "json")


# Modules that start servers or processes, fuzz, or build demo ledgers: `make test-fast`
# (pytest -m "not slow") leaves them out; `make test` (what CI runs) runs everything.
SLOW_MODULES = {
    "test_api", "test_api_auth", "test_api_demo", "test_demo", "test_api_schema", "test_api_support",
    "test_bench", "test_cli_demo", "test_crash_loop", "test_disk_full", "test_durability",
    "test_fuzz_feeds", "test_one_ledger", "test_sql_sandbox", "test_stateful_ledger",
    "test_dashboard", "test_licences_api", "test_frames", "test_exports",
    "test_snapshot_service",
}  # fmt: skip


# fixtures that start a real server: a test that uses one is slow wherever it lives
SERVER_FIXTURES = {"server", "servers", "served", "live"}


def pytest_collection_modifyitems(items):
    for item in items:
        starts_server = SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
        # the CUDA twins under the simulator (NUMBA_ENABLE_CUDASIM=1) run in `make test`
        on_cudasim = re.search(r"[\[-]cuda[\]-]", item.nodeid) is not None
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES or starts_server or on_cudasim:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def warm_kernel_cache():
    """Compile every kernel once, before any test starts servers or CLI processes.

    They then load the kernels from numba's cache instead of each compiling them
    at once on a fresh checkout (slow, and concurrent cache writes can crash:
    warm the cache before fanning out).
    """
    from kernels import dispatch

    dispatch.warm_up()


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "ledger.duckdb")


@pytest.fixture
def ledger(db_path):
    opened = Ledger.open(db_path)
    load_reference(opened)
    yield opened
    opened.close()


@pytest.fixture
def store(ledger):
    return ledger.store
