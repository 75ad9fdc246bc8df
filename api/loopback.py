"""Without API keys the service answers this machine's own clients only, on every route.

`serve()` already binds loopback only; this holds also behind a proxy on the
same host (uvicorn takes the client from `X-Forwarded-For` sent by a trusted
local proxy; `Forwarded` and `X-Real-IP` naming another host are refused here)
and for `/healthz`, `/metrics`, `/openapi.json` and `/docs`, which need no token.

A loopback socket is not enough when any web page the user visits can reach it:
  * DNS rebinding: a page on attacker.example re-resolves its name to 127.0.0.1
    and its requests arrive from loopback with `Host: attacker.example`; so the
    Host must name this machine (localhost, 127.0.0.0/8, ::1);
  * cross-site requests: a page may POST a `text/plain` form body to localhost
    without asking first (no CORS preflight); so a request that can change
    anything (not GET, HEAD or OPTIONS) with an `Origin` of another site is refused.
With API keys, the bearer token (which a browser never attaches by itself) guards both.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem_response
from api.settings import Settings, is_loopback

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _host_of(authority: str) -> str | None:
    """The host name of a Host header value or an origin (None when it has none)."""
    try:
        return urlsplit(authority if "//" in authority else "//" + authority).hostname
    except ValueError:
        return None


def _names_this_machine(authority: str) -> bool:
    """Whether a Host value or an origin names this machine (a missing name does not)."""
    name = _host_of(authority)
    return name is not None and is_loopback(name)


def _forwarded_hosts(headers: dict[bytes, bytes]) -> list[str]:
    """Client addresses a proxy named in `Forwarded` (RFC 7239 for=) or `X-Real-IP`."""
    hosts = []
    for part in headers.get(b"forwarded", b"").decode("latin-1").replace(";", ",").split(","):
        key, _, value = part.strip().partition("=")
        if key.lower() == "for":
            value = value.strip('"')
            hosts.append(value[1:].split("]")[0] if value.startswith("[") else value.split(":")[0])
    real_ip = headers.get(b"x-real-ip", b"").decode("latin-1").strip()
    return hosts + ([real_ip] if real_ip else [])


def refusal(scope: Scope) -> tuple[str, str] | None:
    """(title, detail) when an unauthenticated service must not answer this request."""
    client = scope.get("client")
    if not is_loopback(client[0] if client else None):
        return ("Unauthenticated service answers loopback only",
                "set CHIP_LEDGER_API_KEYS to serve other hosts")  # fmt: skip
    headers = dict(scope.get("headers") or [])
    if any(not is_loopback(h) for h in _forwarded_hosts(headers)):
        return ("Unauthenticated service answers loopback only",
                "a proxy forwarded a client from another host")  # fmt: skip
    host = headers.get(b"host")
    if host is not None and not _names_this_machine(host.decode("latin-1")):
        return ("Unauthenticated service answers its own host names only",
                "the Host header names another host (a DNS-rebinding page, say); "
                "use localhost or 127.0.0.1, or set CHIP_LEDGER_API_KEYS")  # fmt: skip
    origin = headers.get(b"origin")
    if origin is not None and scope.get("method", "GET") not in SAFE_METHODS:
        if not _names_this_machine(origin.decode("latin-1")):
            return ("Cross-site request refused",
                    "an unauthenticated service takes changes from its own pages only "
                    "(Origin names another site)")  # fmt: skip
    return None


class LoopbackOnlyMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.open = not settings.grants  # no keys: an unauthenticated service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.open and scope["type"] in ("http", "websocket"):
            refused = refusal(scope)
            if refused is not None:
                await problem_response(403, "forbidden", *refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)
