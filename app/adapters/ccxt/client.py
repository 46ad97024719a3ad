"""The ccxt async instance behind every adapter of this package, set up one way.

ccxt's own retries stay off (its `maxRetriesOnFailure` would retry order creation too), its
throttle stays on, testnet means ccxt's sandbox, and a base URL override (a proxy, the local
fakes in tests) is applied as the venue's profile says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any, Literal, Self

import ccxt.async_support as ccxt_async

from app.adapters.ccxt.profiles import ROUTE_PARAM, VENUES, VenueProfile, overridden_urls

Mode = Literal["testnet", "live"]
# headers for the requests of one call only (see `request_headers`)
_REQUEST_HEADERS: ContextVar[Mapping[str, str] | None] = ContextVar("request_headers", default=None)


@contextmanager
def request_headers(headers: Mapping[str, str]) -> Iterator[None]:
    """`headers` on the requests ccxt sends inside this block, from this task only: ccxt's
    instance is shared by the keys the executor runs at once, so a header set on its `headers`
    (read only once ccxt's throttle lets the request go) could be another call's."""
    token = _REQUEST_HEADERS.set(headers or None)
    try:
        yield
    finally:
        _REQUEST_HEADERS.reset(token)


def venue_profile(exchange_id: str, mode: str) -> VenueProfile:
    """The profile of `exchange_id`, once the mode is known to be one ccxt can serve.

    Raises:
        ValueError: no profile for the venue, or a mode other than testnet and live.
    """
    profile = VENUES.get(exchange_id)
    if profile is None:
        raise ValueError(f"there is no venue profile for {exchange_id!r} in VENUES")
    if mode not in ("testnet", "live"):
        raise ValueError(f"mode must be 'testnet' or 'live', not {mode!r}")
    return profile


def ccxt_client(
    exchange_id: str,
    mode: Mode,
    profile: VenueProfile,
    *,
    credentials: Mapping[str, str] | None = None,
    base_url: str | None = None,
    options: Mapping[str, object] | None = None,
    timeout_ms: int = 10_000,
    rate_limit_ms: int | None = None,
    module: ModuleType = ccxt_async,
) -> Any:
    """A ccxt async instance as every adapter wants it: ccxt's own retries off (they would retry
    order creation too), its throttle on, the sandbox for testnet, the URL override applied.
    `module`: `ccxt.pro` for an instance that speaks the venue's websockets too."""
    config: dict[str, Any] = {
        **(credentials or {}),
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": {**profile.options, **(options or {}), "maxRetriesOnFailure": 0},
    }
    if rate_limit_ms is not None:
        config["rateLimit"] = rate_limit_ms
    venue_class = _headed(getattr(module, exchange_id))
    if profile.conditional_paths:
        venue_class = _routed(venue_class, profile.conditional_paths)
    client = venue_class(config)
    if mode == "testnet":
        if not client.urls.get("test"):
            raise ValueError(f"ccxt has no testnet for {exchange_id}: use live or another venue.")
        client.set_sandbox_mode(True)
    if base_url is not None:
        client.urls["api"] = overridden_urls(client.urls["api"], base_url, profile)
        if profile.override_exceptions is not None:
            for table in ("exact", "broad"):
                extra = client.exceptions.get(profile.override_exceptions, {}).get(table, {})
                client.exceptions[table] = {**client.exceptions.get(table, {}), **extra}
    return client


def _headed(venue_class: type) -> type:
    """ccxt's class for the venue, sending `request_headers`' headers too."""

    class Headed(venue_class):  # type: ignore[misc]
        def prepare_request_headers(self, headers: Any = None) -> Any:
            prepared = super().prepare_request_headers(headers)
            extra = _REQUEST_HEADERS.get()
            return prepared if extra is None else {**prepared, **extra}

    Headed.__name__ = venue_class.__name__
    return Headed


def _routed(venue_class: type, paths: dict[str, str]) -> type:
    """ccxt's class for the venue, its requests unchanged except that one carrying
    `ROUTE_PARAM` (a conditional order's) goes to the venue's own path for conditional orders:
    ccxt builds, signs and parses it as it does for the plain endpoint it knows."""

    class Routed(venue_class):  # type: ignore[misc]
        async def request(self, path: str, api: Any = "public", method: str = "GET",
                          params: Any = None, config: Any = None) -> Any:  # fmt: skip
            if isinstance(params, dict) and params.get(ROUTE_PARAM):
                params = {k: v for k, v in params.items() if k != ROUTE_PARAM}
                path = paths.get(path, path)
            return await super().request(path, api, method, params or {}, config or {})

    Routed.__name__ = venue_class.__name__
    return Routed


class OwnsCcxtClient:
    """An adapter holding a ccxt instance: `await close()` it, or use it with `async with`."""

    client: Any

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
