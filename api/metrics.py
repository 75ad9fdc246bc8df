"""Prometheus metrics of the service, on the default registry (one set per process).

`KERNEL_SECONDS` is here for the ledger's kernels to observe (labels: kernel);
the service only exposes it.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("chip_ledger_requests", "HTTP requests answered", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "chip_ledger_request_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LINES_INGESTED = Counter("chip_ledger_lines_ingested", "Feed lines accepted into the ledger")
FEEDS = Counter("chip_ledger_feeds", "Feeds answered, by outcome", ["outcome"])
KERNEL_SECONDS = Histogram(
    "chip_ledger_kernel_seconds",
    "Time spent in one kernel call",
    ["kernel"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "FEEDS",
    "KERNEL_SECONDS",
    "LINES_INGESTED",
    "REQUESTS",
    "REQUEST_SECONDS",
    "MetricsMiddleware",
    "exposition",
]


def exposition() -> bytes:
    return generate_latest()


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"  # the one label value of every unknown method and every unmatched route


def _method(scope: Scope) -> str:
    method = str(scope.get("method", "")).upper()
    return method if method in KNOWN_METHODS else OTHER


def _template(scope: Scope) -> str:
    """The matched route's path template; routes that do not say (the docs) are looked up."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return path
    app = scope.get("app")
    for candidate in getattr(app, "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return getattr(candidate, "path", OTHER)
    return OTHER


class MetricsMiddleware:
    """Counts and times each request by its route template (never the raw path) and method;
    unknown methods and unmatched routes share the label `other`, so no client can add
    series."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = _template(scope)
            method = _method(scope)
            REQUESTS.labels(method, template, str(status)).inc()
            REQUEST_SECONDS.labels(method, template).observe(time.perf_counter() - start)
