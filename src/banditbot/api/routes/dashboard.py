"""The dashboard: one HTML page and its static files."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_STATIC = resources.files("banditbot.api") / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@router.get("/")
def dashboard() -> HTMLResponse:
    """The dashboard page."""
    return HTMLResponse((_STATIC / "index.html").read_text(encoding="utf-8"))


@router.get("/static/{name}")
def asset(name: str) -> Response:
    """A static file of the dashboard."""
    suffix = name[name.rfind("."):] if "." in name else ""
    target = _STATIC / name
    if suffix not in _TYPES or "/" in name or not target.is_file():
        raise HTTPException(404, "no such file")
    return Response(target.read_bytes(), media_type=_TYPES[suffix],
                    headers={"Cache-Control": "no-cache"})
