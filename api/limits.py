"""The request body limit, for every route, answered as problem+json (413).

Feeds and reference data may be large (`max_body_bytes`); every other body
(SQL, mostly) is small (`max_other_body_bytes`), so no route reads an
unbounded body, authenticated or not. A declared Content-Length over the
limit is refused before a byte is read; a body without one (chunked), or
longer than it said, is counted as it streams and refused at the limit.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from api.settings import Settings

LARGE_BODY_PREFIXES = ("/v1/orders", "/v1/reference/")


class BodyTooLarge(HTTPException):
    """Raised from `receive` while streaming; an HTTPException so FastAPI re-raises it."""

    def __init__(self, limit: int, seen: str):
        super().__init__(413, f"{seen}; the limit is {limit} bytes")


def too_large_response(detail: str):
    return problem_response(413, "body-too-large", "Request body too large", detail)


def limit_for(settings: Settings, path: str) -> int:
    if path.startswith(LARGE_BODY_PREFIXES):
        return settings.max_body_bytes
    return settings.max_other_body_bytes


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(self.settings, scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length < 0:
                    response = problem_response(
                        400, "bad-request", "Bad Content-Length",
                        f"{value[:40].decode('latin-1')!r} is not a length",
                    )  # fmt: skip
                    await response(scope, receive, send)
                    return
                if length > limit:
                    detail = f"Content-Length is {length} bytes; the limit is {limit} bytes"
                    await too_large_response(detail)(scope, receive, send)
                    return
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, f"more than {limit} bytes sent")
            return message

        await self.app(scope, counted_receive, send)
