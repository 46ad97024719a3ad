"""What the routes and guards read from a connection: the wired services, one header, the sender."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.domain.auth import client_address

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

    from app.bootstrap.web import Services
    from app.config.settings import Settings


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    """The services the app's lifespan wired."""
    wired: Services = connection.app.state.services
    return wired


def header(connection: ASGIConnection[Any, Any, Any, Any], name: bytes) -> str | None:
    """One header, read without building Litestar's header map (the webhook's hot path).

    Args:
        connection: the request.
        name: the header's name in lower case, as ASGI servers give it.
    """
    for key, value in connection.scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def sender(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> str | None:
    """The sender's address as seen through TRUSTED_PROXIES (X-Forwarded-For only from them)."""
    peer = connection.client.host if connection.client else None
    forwarded = header(connection, b"x-forwarded-for") if settings.trusted_proxies else None
    return client_address(peer, forwarded, settings.trusted_proxies)
