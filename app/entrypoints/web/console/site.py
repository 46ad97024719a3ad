"""The console's Litestar app: its pages, its login, its assets and its templates (Jinja, with the
filters the pages use), built once per web process on the console's first request."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from app.bootstrap.web import Services
from app.domain.sizing import number_text
from app.entrypoints.web.console.access import ACCESS_ROUTES, admit
from app.entrypoints.web.console.accounts import ACCOUNT_PAGE_ROUTES
from app.entrypoints.web.console.notify import NOTIFY_ROUTES
from app.entrypoints.web.console.pages import NAVIGATION, PAGE_ROUTES
from app.entrypoints.web.console.trading import TRADING_ROUTES
from app.entrypoints.web.lean import MsgspecLitestar

log = logging.getLogger("signalgate.web")
HERE = Path(__file__).parent


def number(value: Decimal | float | None, places: int | None = None) -> str:
    """A figure as people read it (`sizing.number_text`); "—" when unknown."""
    if value is None:
        return "—"
    return number_text(value if isinstance(value, Decimal) else Decimal(str(value)), places)


def moment(value: datetime | None) -> str:
    """A time in UTC to the second, as the API gives it but readable."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def figure(value: Any) -> str:
    """A lineage step's figure: a scalar as it reads, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal | float):
        return number(value)
    return msgspec.json.encode(value, order="sorted").decode()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails the page, in tests first
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = number
    env.filters["moment"] = moment
    env.filters["figure"] = figure
    env.globals["navigation"] = NAVIGATION
    return env


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every refusal as a page with its one sentence (the API's errors are JSON; these are read
    by people)."""
    if isinstance(exc, HTTPException):
        status, sentence = exc.status_code, str(exc.detail)
    else:
        log.exception("the console failed on %s", request.url.path)
        status, sentence = 500, "the console failed on this page: the web process's log says why."
    return Template("error.html", context={"sentence": sentence}, status_code=status)


def build_site(services: Services) -> Litestar:
    """The console as a Litestar app of its own, over the web process's services."""
    return MsgspecLitestar(
        route_handlers=[
            *PAGE_ROUTES,
            *TRADING_ROUTES,
            *ACCOUNT_PAGE_ROUTES,
            *NOTIFY_ROUTES,
            *ACCESS_ROUTES,
            create_static_files_router("/static", directories=[HERE / "static"]),
        ],
        before_request=admit,
        template_config=TemplateConfig(
            instance=JinjaTemplateEngine(engine_instance=_environment())
        ),
        exception_handlers={Exception: error_page},
        state=State({"services": services}),
        openapi_config=None,
        logging_config=None,
    )
