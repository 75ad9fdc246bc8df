"""GET /: the dashboard page, and /static: its assets (shipped in the package, no CDN).

The page reads only the public /v1 API with the same auth as any client; the
chart library (uPlot, MIT) is vendored under static/vendor with its licence.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard() -> FileResponse:
    # the page itself holds no data: every figure comes from /v1 with the user's token
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
