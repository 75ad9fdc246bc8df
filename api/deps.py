"""Dependencies of the routes: the ledger, the use cases, the settings, auth, request bodies."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.settings import Settings, is_loopback
from ledger.domain.errors import LedgerError
from ledger.ledger import Ledger
from ledger.store.store import Store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


def get_store(request: Request) -> Store:
    return request.app.state.ledger.store


def get_queries(request: Request) -> Ledger:
    """The ledger once its read use cases are ready (None only while starting or stopping)."""
    queries = getattr(request.app.state, "queries", None)
    if queries is None:
        raise LedgerError("not-ready", "Not ready", "the service is starting or stopping", 503)
    return queries


SettingsDep = Annotated[Settings, Depends(get_settings)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
StoreDep = Annotated[Store, Depends(get_store)]
QueriesDep = Annotated[Ledger, Depends(get_queries)]

# -- auth ------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    description="`Authorization: Bearer <token>`; tokens and scopes from CHIP_LEDGER_API_KEYS",
)


def require(scope: str):
    """A dependency that lets a request through only with a token granting `scope`."""

    def check(
        request: Request,
        settings: SettingsDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> str | None:
        grants = settings.grants
        if not grants:
            # Unauthenticated service: serve() binds loopback only; refuse anyone else anyway.
            client = request.client.host if request.client else None
            if not is_loopback(client):
                raise LedgerError(
                    "forbidden", "Unauthenticated service answers loopback only",
                    "set CHIP_LEDGER_API_KEYS to serve other hosts", 403,
                )  # fmt: skip
            return None
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise LedgerError(
                "unauthorized", "Authentication required", "send Authorization: Bearer <token>", 401
            )
        granted = None
        for token, scopes in grants.items():
            if hmac.compare_digest(token.encode(), credentials.credentials.encode()):
                granted = scopes
        if granted is None:
            raise LedgerError("unauthorized", "Unknown token", "the bearer token is not known", 401)
        if scope not in granted:
            raise LedgerError(
                "forbidden", "Scope not allowed",
                f"this route needs the {scope!r} scope; the token has {', '.join(sorted(granted))}",
                403,
            )  # fmt: skip
        return scope

    check.__name__ = f"require_{scope}"
    return Depends(check)


ReadScope = require("read")
IngestScope = require("ingest")
AdminScope = require("admin")

# -- bodies ----------------------------------------------------------------


async def request_body(request: Request) -> bytes:
    """The whole body, read once. `api.limits.BodyLimitMiddleware` has already refused a
    Content-Length over the limit and stops the stream with 413 as soon as it passes it."""
    chunks = [chunk async for chunk in request.stream()]
    return b"".join(chunks)


BodyDep = Annotated[bytes, Depends(request_body)]
