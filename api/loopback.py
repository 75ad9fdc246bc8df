"""Without API keys the service answers loopback clients only, on every route.

`serve()` already binds loopback only; this holds also behind a proxy on the
same host (uvicorn takes the client from `X-Forwarded-For` sent by a trusted
local proxy) and for `/healthz`, `/metrics`, `/openapi.json` and `/docs`,
which need no token.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem_response
from api.settings import Settings, is_loopback


class LoopbackOnlyMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.open = not settings.grants  # no keys: an unauthenticated service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.open and scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if not is_loopback(client[0] if client else None):
                response = problem_response(
                    403, "forbidden", "Unauthenticated service answers loopback only",
                    "set CHIP_LEDGER_API_KEYS to serve other hosts",
                )  # fmt: skip
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
