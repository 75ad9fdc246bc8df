"""Auth by scope (read / ingest / admin) against a live server with API keys set."""

from __future__ import annotations

import logging

import pytest

from api.settings import Settings, parse_api_keys
from tests.test_api_support import LiveServer, encode

KEYS = "r-token:read,i-token:ingest,a-token:admin,both-token:ingest,both-token:admin"
ENTITY = [{"entity": "ACME-JP", "hq_country": "JP", "fy_start_month": 4}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("auth"), {"CHIP_LEDGER_API_KEYS": KEYS})
    srv.wait_ready()
    yield srv
    srv.stop()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def status_of(server, method: str, path: str, token: str | None, **kw) -> int:
    headers = {**kw.pop("headers", {}), **(bearer(token) if token else {})}
    return server.client.request(method, path, headers=headers, **kw).status_code


def feed_kw(key: str) -> dict:
    return {
        "content": encode("csv"),
        "headers": {"Content-Type": "text/csv", "Idempotency-Key": key},
    }


def test_no_or_unknown_token_is_401(server):
    before = rows_as(server, "r-token", "SELECT count(*) FROM feeds")
    for method, path, kw in [
        ("GET", "/v1/reference/chips", {}),
        ("GET", "/v1/totals", {}),
        ("POST", "/v1/sql", {"json": {"sql": "SELECT 1"}}),
        ("POST", "/v1/orders", feed_kw("no-token")),
        ("PUT", "/v1/reference/entities", {"json": ENTITY}),
    ]:
        r = server.client.request(method, path, **kw)
        assert r.status_code == 401, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"] == "Bearer"
        assert status_of(server, method, path, "wrong-token", **kw) == 401
    r = server.client.get("/v1/reference/chips", headers={"Authorization": "Basic cjpy"})
    assert r.status_code == 401
    assert rows_as(server, "r-token", "SELECT count(*) FROM feeds") == before


def test_read_scope(server):
    assert status_of(server, "GET", "/v1/reference/chips", "r-token") == 200
    assert status_of(server, "GET", "/v1/totals", "r-token") == 200
    assert status_of(server, "GET", "/v1/budgets", "r-token") == 200
    assert status_of(server, "POST", "/v1/sql", "r-token", json={"sql": "SELECT 1"}) == 200
    r = server.client.post("/v1/orders", **_with(feed_kw("read-feed"), "r-token"))
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "ingest" in r.json()["detail"]
    assert status_of(server, "PUT", "/v1/reference/entities", "r-token", json=ENTITY) == 403


def test_ingest_scope(server):
    assert status_of(server, "POST", "/v1/orders", "i-token", **feed_kw("ingest-feed")) == 201
    assert status_of(server, "GET", "/v1/reference/chips", "i-token") == 200
    assert status_of(server, "POST", "/v1/sql", "i-token", json={"sql": "SELECT 1"}) == 200
    assert status_of(server, "PUT", "/v1/reference/entities", "i-token", json=ENTITY) == 403


def test_admin_scope(server):
    assert status_of(server, "PUT", "/v1/reference/entities", "a-token", json=ENTITY) == 200
    assert status_of(server, "GET", "/v1/reference/entities", "a-token") == 200
    assert status_of(server, "POST", "/v1/orders", "a-token", **feed_kw("admin-feed")) == 403
    # a token listed with both scopes has both
    assert status_of(server, "POST", "/v1/orders", "both-token", **feed_kw("both-feed")) == 201
    assert status_of(server, "PUT", "/v1/reference/entities", "both-token", json=ENTITY) == 200


def test_health_metrics_and_docs_need_no_token(server):
    assert server.client.get("/healthz").status_code == 200
    assert server.client.get("/metrics").status_code == 200
    doc = server.client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert doc["paths"]["/v1/orders"]["post"]["security"] == [{"HTTPBearer": []}]


def _with(kw: dict, token: str) -> dict:
    return {**kw, "headers": {**kw["headers"], **bearer(token)}}


def rows_as(server: LiveServer, token: str, sql: str) -> list:
    r = server.client.post("/v1/sql", json={"sql": sql}, headers=bearer(token))
    assert r.status_code == 200, r.text
    return r.json()["rows"]


# -- settings and the loopback rule -----------------------------------------


def test_api_keys_parse():
    grants = parse_api_keys(" a:read , b:INGEST,c:admin,c:ingest ")
    assert grants == {
        "a": {"read"},
        "b": {"read", "ingest"},
        "c": {"read", "ingest", "admin"},
    }
    for bad in ("a:root", "nocolon", ":read"):
        with pytest.raises(ValueError):
            parse_api_keys(bad)
    with pytest.raises(ValueError):
        Settings(api_keys="a:superuser")


def test_serve_without_keys_refuses_a_public_host(monkeypatch, tmp_path, caplog):
    from api import main

    monkeypatch.delenv("CHIP_LEDGER_API_KEYS", raising=False)
    ran = []
    # serve runs a uvicorn.Server (its own start-up hook prints the serving line)
    monkeypatch.setattr("uvicorn.Server.run", lambda self, *a, **k: ran.append(self.config))
    with caplog.at_level(logging.ERROR, logger="chip_ledger.api"):
        assert main.serve(str(tmp_path / "x.duckdb"), "0.0.0.0", 8000, False, 0) == 2
    assert ran == []
    assert "loopback" in caplog.text
    assert main.serve(str(tmp_path / "x.duckdb"), "127.0.0.1", 8000, False, 0) == 0
    assert ran and ran[0].host == "127.0.0.1"
    monkeypatch.setenv("CHIP_LEDGER_API_KEYS", "t:read")
    ran.clear()
    assert main.serve(str(tmp_path / "x.duckdb"), "0.0.0.0", 8000, False, 0) == 0
    assert ran and ran[0].host == "0.0.0.0"


def test_unauthenticated_server_warns_at_start(tmp_path):
    srv = LiveServer(tmp_path / "open", {"CHIP_LEDGER_API_KEYS": ""}, reference=False)
    try:
        srv.wait_ready()
        assert "UNAUTHENTICATED" in srv.log()
    finally:
        srv.stop()


def test_unauthenticated_app_refuses_other_hosts(tmp_path, monkeypatch):
    # In-process over ASGI (no traffic leaves the test): requests that claim a client address.
    import asyncio

    import httpx

    from api.main import create_app, open_ledger

    monkeypatch.delenv("CHIP_LEDGER_API_KEYS", raising=False)
    settings = Settings(db=str(tmp_path / "t.duckdb"))
    app = create_app(settings)
    app.state.ledger = open_ledger(settings)

    async def get(client_host: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            return await c.get("/v1/reference/chips")

    try:
        r = asyncio.run(get("203.0.113.9"))
        assert r.status_code == 403, r.text
        assert "loopback" in r.json()["title"]
        assert asyncio.run(get("127.0.0.1")).status_code == 200
        assert asyncio.run(get("::1")).status_code == 200
    finally:
        app.state.ledger.store.close()


def test_unauthenticated_app_refuses_rebinding_cross_site_and_proxied_requests(
    tmp_path, monkeypatch
):
    """A loopback socket is not enough: a page elsewhere reaches it through DNS rebinding
    (another Host) or a cross-site POST (text/plain needs no preflight), a proxy through
    Forwarded / X-Real-IP. Each is a 403 and nothing is stored; the service's own pages and
    plain local clients still work."""
    import asyncio

    import httpx

    from api.main import create_app, open_ledger

    monkeypatch.delenv("CHIP_LEDGER_API_KEYS", raising=False)
    settings = Settings(db=str(tmp_path / "t.duckdb"))
    app = create_app(settings)
    app.state.ledger = open_ledger(settings)
    rate = b"date,JPY\n2026-01-01,1\n"
    importer = "/v1/reference/fx-rates/import?format=wide&base=USD"

    async def send(method: str, path: str, headers: dict, body: bytes | None = None):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            return await c.request(method, path, headers=headers, content=body)

    def status(method, path, headers, body=None) -> int:
        return asyncio.run(send(method, path, headers, body)).status_code

    try:
        before = app.state.ledger.store.content_hash()
        plain = {"Content-Type": "text/plain;charset=UTF-8"}
        assert status("POST", importer, {**plain, "Origin": "http://evil.example"}, rate) == 403
        assert status("POST", importer, {**plain, "Origin": "null"}, rate) == 403
        assert status("GET", "/v1/reference/chips", {"Host": "attacker.example:8000"}) == 403
        assert status("PUT", "/v1/reference/budgets", {"Host": "attacker.example:8000",
                      "Content-Type": "application/json"}, b"[]") == 403  # fmt: skip
        for proxied in ({"Forwarded": "for=203.0.113.9;proto=http"}, {"X-Real-IP": "203.0.113.9"},
                        {"Forwarded": 'for="[2001:db8::1]:4711"'}):  # fmt: skip
            assert status("GET", "/healthz", proxied) == 403
        assert app.state.ledger.store.content_hash() == before  # nothing of it was stored
        # the service's own origin and host names, and clients that send no Origin
        assert status("GET", "/v1/reference/chips", {"Host": "localhost:8000"}) == 200
        assert status("GET", "/v1/reference/chips", {"Host": "[::1]:8000"}) == 200
        assert (
            status("GET", "/v1/reference/chips", {"Origin": "http://evil.example"}) == 200
        )  # a read
        assert status("POST", importer, {**plain, "Origin": "http://127.0.0.1:8000"}, rate) == 200
        assert status("POST", importer, {"Content-Type": "text/csv"}, rate) == 200
    finally:
        app.state.ledger.store.close()
