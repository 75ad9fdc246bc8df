"""The request body limit, for every route, answered as problem+json (413).

Feeds and reference data may be large (`max_body_bytes`); every other body
(SQL, mostly) is small (`max_other_body_bytes`), so no route reads an
unbounded body, authenticated or not. A declared Content-Length over the
limit is refused before a byte is read; a body without one (chunked), or
longer than it said, is counted as it streams and refused at the limit.
"""

from __future__ import annotations

import zlib

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem_response
from api.settings import Settings
from ledger.domain.errors import LedgerError

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


# -- Content-Encoding: decoded here, the body limit counted after decoding ----

CODINGS = {"identity": "identity", "gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}
_DECODE_CHUNK_BYTES = 1 << 20


def body_coding(request: Request) -> str:
    """The body's Content-Encoding, before a byte is read: gzip, deflate or none (else 415)."""
    given = request.headers.get("content-encoding", "").strip().lower()
    coding = CODINGS.get(given or "identity")
    if coding is None:
        raise LedgerError(
            "unsupported-content-encoding", "Unsupported Content-Encoding",
            f"{given[:40]!r}; send gzip, deflate or an unencoded body", 415,
        )  # fmt: skip
    return coding


def decode_body(body: bytes, coding: str, limit: int) -> bytes:
    """The decoded body; 413 as soon as it passes `limit` (a gzip bomb stops there),
    400 for a body that is not what its Content-Encoding says."""
    if coding == "identity":
        return body
    out: list[bytes] = []
    size = 0
    rest = body
    while True:  # gzip may hold several members, one after another
        d = _decompressor(coding, rest)
        try:
            chunk = d.decompress(rest, _DECODE_CHUNK_BYTES)
            while True:
                size += len(chunk)
                if size > limit:
                    raise _too_large_decoded(limit)
                out.append(chunk)
                if not d.unconsumed_tail:
                    break
                chunk = d.decompress(d.unconsumed_tail, _DECODE_CHUNK_BYTES)
        except zlib.error as e:
            raise _not_encoded(coding, str(e)) from None
        if not d.eof:
            raise _not_encoded(coding, "the compressed stream is truncated")
        rest = d.unused_data
        if coding != "gzip" or not rest:
            break
    if rest:
        raise _not_encoded(coding, f"{len(rest)} bytes after the compressed stream")
    return b"".join(out)


def _decompressor(coding: str, data: bytes):
    if coding == "gzip":
        return zlib.decompressobj(wbits=31)
    # HTTP "deflate" is zlib-wrapped (RFC 9110); some clients send raw deflate
    zlib_header = len(data) >= 2 and (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
    return zlib.decompressobj(wbits=15 if zlib_header else -15)


def _too_large_decoded(limit: int) -> LedgerError:
    return LedgerError(
        "body-too-large", "Request body too large",
        f"the decoded body is over the limit of {limit} bytes", 413,
    )  # fmt: skip


def _not_encoded(coding: str, why: str) -> LedgerError:
    return LedgerError(
        "bad-content-encoding", "The body is not what its Content-Encoding says",
        f"Content-Encoding {coding}: {why}", 400,
    )  # fmt: skip
