"""The OpenAPI document at /schema, and Swagger UI at /schema and /schema/swagger with its assets
served by this app (the swagger-ui-py package ships them): the docs page works where the browser
has no internet. Litestar's other pages (ReDoc, RapiDoc, Elements) load their scripts from a CDN,
and are left out."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

from app.entrypoints.web.answers import COMPONENTS

SWAGGER_ASSETS = "/static/swagger-ui"
_DESCRIPTION = (
    "TradingView alerts and strategy signals to risk-checked, routed exchange orders. "
    "POST /webhook takes an alert in any supported dialect; the read API and /metrics take "
    "Authorization: Bearer <API_TOKEN>. Every 4xx/5xx body is the ErrorAnswer shape: "
    '{"status", "signal_id": null, "reason"}, the reason one sentence saying what to fix.'
)


def swagger_ui_directory() -> Path:
    """Where swagger-ui-py keeps Swagger UI's files, found without importing the package (it
    loads Jinja and its framework handlers)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise RuntimeError("swagger-ui-py is not installed: run `make setup`.")
    return Path(spec.origin).parent / "static"


def swagger_assets() -> Router:
    """Swagger UI's script, style sheet and icon (`GET /static/swagger-ui/{file}`)."""
    return create_static_files_router(
        SWAGGER_ASSETS,
        directories=[swagger_ui_directory()],
        include_in_schema=False,
        name="swagger-ui",
    )


def openapi_config() -> OpenAPIConfig:
    swagger = SwaggerRenderPlugin(
        js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
        path=["/", "/swagger"],
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_ASSETS}/favicon-32x32.png'>",
    )
    return OpenAPIConfig(
        title="signalgate",
        version="0.1.0",
        description=_DESCRIPTION,
        path="/schema",
        components=COMPONENTS,
        render_plugins=[
            swagger,
            JsonRenderPlugin(),
            YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"]),
        ],
    )
