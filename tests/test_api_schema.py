"""Schemathesis over the live server's OpenAPI document: no 5xx, no answer off its schema.

Bounded: a few examples per operation. NDJSON, Arrow IPC and Parquet bodies
are generated as the schema says (text, or arbitrary bytes for the binary
formats) and sent as they are, so the server meets malformed binary feeds too.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_api_support import LiveServer, encode

# Examples per operation in positive mode (half as many negative); raise it for a longer hunt.
EXAMPLES = int(os.environ.get("API_SCHEMA_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schemathesis.serializer(
    "application/x-ndjson",
    "application/vnd.apache.arrow.stream",
    "application/vnd.apache.parquet",
)
def _raw(ctx, value) -> bytes:
    """Text as UTF-8, bytes as they are: the server must refuse them cleanly."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("schema"), {"CHIP_LEDGER_SQL_TIMEOUT_S": "2"})
    srv.wait_ready()
    assert srv.post_feed(encode("csv"), "csv", key="golden").status_code == 201
    yield srv
    srv.stop()


def test_openapi_conformance(live):
    doc = live.client.get("/openapi.json").json()
    api = schemathesis.openapi.from_dict(doc)
    api.config.update(base_url=live.url)
    # One hypothesis run per operation (schemathesis' pytest loader needs a pytest < 9 API).
    failures: dict[str, str] = {}
    operations = 0
    for result, mode, examples in (
        (r, m, n)
        for r in api.get_all_operations()
        for m, n in ((GenerationMode.POSITIVE, EXAMPLES), (GenerationMode.NEGATIVE, EXAMPLES // 2))
    ):
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(checks=CHECKS, timeout=30)

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing to negate: no parameters, no body
        except Exception as e:  # collect all operations' faults, then report them together
            failures[f"{operation.label} ({mode.value})"] = f"{type(e).__name__}: {e}"[:3000]
    assert operations >= 20
    # every operation was really called: the server counted the requests per route
    metrics = live.client.get("/metrics").text
    called = {
        line.split('route="')[1].split('"')[0]
        for line in metrics.splitlines()
        if line.startswith("chip_ledger_requests_total{")
    }
    assert {"/v1/orders", "/v1/sql", "/v1/totals", "/v1/reference/{table}"} <= called, called
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
