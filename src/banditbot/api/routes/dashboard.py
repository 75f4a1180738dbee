"""The dashboard (one HTML page and its static files), the favicon, and the interactive API
docs at ``/docs``, served from the package: nothing is loaded from a CDN, so both work on a
machine without internet access."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_STATIC = resources.files("banditbot.api") / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_FOLDERS = ("", "swagger/")  # the dashboard's files; Swagger UI's (vendored, see its README)


@router.get("/")
def dashboard() -> HTMLResponse:
    """The dashboard page."""
    return HTMLResponse((_STATIC / "index.html").read_text(encoding="utf-8"),
                        headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico")
@router.get("/favicon.svg")
def favicon() -> Response:
    """The icon browsers ask for (an SVG; browsers accept it at either name)."""
    return Response((_STATIC / "favicon.svg").read_bytes(), media_type="image/svg+xml",
                    headers={"Cache-Control": "max-age=86400"})


@router.get("/static/{name:path}")
def asset(name: str) -> Response:
    """A static file of the dashboard or of Swagger UI."""
    folder, _, base = name.rpartition("/")
    folder = f"{folder}/" if folder else ""
    suffix = base[base.rfind("."):] if "." in base else ""
    target = _STATIC.joinpath(*name.split("/"))
    if folder not in _FOLDERS or suffix not in _TYPES or base.startswith(".") \
            or not target.is_file():
        raise HTTPException(404, "no such file")
    cache = "max-age=86400" if folder else "no-cache"  # vendored files change with releases
    return Response(target.read_bytes(), media_type=_TYPES[suffix],
                    headers={"Cache-Control": cache})


@router.get("/docs")
def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI for the OpenAPI document, with its assets served from the package."""
    from fastapi.openapi.docs import get_swagger_ui_html

    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} · API",
        swagger_js_url=f"{root}/static/swagger/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/static/swagger/swagger-ui.css",
        swagger_favicon_url=f"{root}/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True})
