"""Read commands through a running service's API, when that service holds the ledger file."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

from ledger.domain.errors import LedgerError, RowError
from ledger.service import ServiceRecord

TIMEOUT_S = 60


def get(record: ServiceRecord, path: str, params: list[tuple[str, str]]) -> dict:
    query = urllib.parse.urlencode([(k, v) for k, v in params if v is not None])
    return _call(urllib.request.Request(f"{record.url}{path}?{query}"))


def post_sql(record: ServiceRecord, sql: str, max_rows: int) -> dict:
    body = json.dumps({"sql": sql, "max_rows": max_rows}).encode()
    request = urllib.request.Request(
        f"{record.url}/v1/sql", data=body, headers={"Content-Type": "application/json"}
    )
    return _call(request)


def post_json(record: ServiceRecord, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{record.url}{path}", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    return _call(request)


def _call(request: urllib.request.Request) -> dict:
    token = os.environ.get("CHIP_LEDGER_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        raise _problem(e) from None
    except (urllib.error.URLError, OSError) as e:
        raise LedgerError(
            "service-unreachable", "The service holding the ledger does not answer",
            f"{request.full_url}: {e}", 503,
        ) from None  # fmt: skip


def _problem(e: urllib.error.HTTPError) -> LedgerError:
    try:
        doc = json.loads(e.read())
    except ValueError:
        doc = {}
    errors = [RowError(f.get("row"), f.get("field"), f.get("message", "")) for f in doc.get(
        "errors", [])]  # fmt: skip
    needed = "an admin" if "/v1/snapshots" in e.url else "a read"
    hint = f" (set CHIP_LEDGER_TOKEN to {needed} token)" if e.code in (401, 403) else ""
    return LedgerError(
        doc.get("type", "http-error").rsplit("/", 1)[-1], doc.get("title", f"HTTP {e.code}"),
        str(doc.get("detail", e.reason)) + hint, e.code, errors=errors,
    )  # fmt: skip
