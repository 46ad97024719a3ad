"""Requests to Pionex's REST API: signed, throttled, through the venue's circuit breaker, the
answer's envelope read and its error codes translated into `app.ports.errors`.

Pionex's documentation (https://pionex-doc.gitbook.io/apidocs, restful/general/basic and
authentication; the same at https://www.pionex.com/docs/api-docs/trade-api/general-info):
- a private request carries `timestamp` (ms) in its query and the headers `PIONEX-KEY` and
  `PIONEX-SIGNATURE`: the hex HMAC-SHA256, keyed by the API secret, of
  METHOD + PATH + "?" + the query's key=value pairs sorted by key and joined by "&" (values not
  URL-encoded) + the JSON body of a POST or DELETE;
- GET parameters go in the query, POST and DELETE parameters in a JSON body;
- every answer is `{"result": true, "data": ..., "timestamp": ...}` or `{"result": false,
  "code": "...", "message": "...", "timestamp": ...}`; the HTTP status of a refusal is not
  documented, so the envelope decides whatever the status (below 500 and not 429);
- a timestamp more than 20 s away from the venue's clock is refused (INVALID_TIMESTAMP);
- 10 units of request weight per second per IP and per account; over that, HTTP 429 and a ban
  of 60 s that grows while requests keep coming: the throttle below keeps under it.

A request that got no reliable answer (a network error, a timeout, 429, a 5xx, a body that is
not the envelope) raises `Retryable` whose `__cause__` is a `NoAnswer` saying when it was sent:
it may have acted. One refused before it was sent (the circuit is open, the connection could
not be opened) raises `Retryable` without a cause.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.adapters.circuit import BreakerState, CircuitBreaker
from app.adapters.retry import RetryPolicy
from app.ports import errors

log = logging.getLogger(__name__)

WEIGHT_PER_SECOND = 10  # Pionex: per IP and per account


class Duplicate(errors.InvalidOrder):
    """TRADE_REPEAT_CLIENT_ORDER_ID: the client order id was used (within 6 hours at least)."""


class Denied(errors.InvalidOrder):
    """TRADE_OPERATION_DENIED: e.g. a cancel of an order that is closed already."""


class NoAnswer(Exception):
    """The venue gave no reliable answer: the request may or may not have acted. `sent_at`:
    when it was stamped and sent (the clock's seconds), after any wait of the throttle."""

    def __init__(self, message: str, sent_at: float) -> None:
        super().__init__(message)
        self.sent_at = sent_at


_AUTH = errors.AuthenticationFailed
# Pionex's error codes (restful/general/basic, restful/orders/*, restful/markets/*);
# INVALIE_APIKEY is spelled so in the older documentation, INVALID_APIKEY in the newer.
ERRORS: dict[str, type[errors.ExchangeError]] = {
    "APIKEY_LOST": _AUTH,
    "SIGNATURE_LOST": _AUTH,
    "IP_NOT_WHITELISTED": _AUTH,
    "INVALIE_APIKEY": _AUTH,
    "INVALID_APIKEY": _AUTH,
    "INVALID_SIGNATURE": _AUTH,
    "APIKEY_EXPIRED": _AUTH,
    "PERMISSION_DENIED": _AUTH,
    "INVALID_TIMESTAMP": errors.Fatal,  # the machine's clock is off by more than 20 s
    "TRADE_INVALID_SYMBOL": errors.InvalidOrder,
    "TRADE_PARAMETER_ERROR": errors.InvalidOrder,
    "TRADE_NOT_ENOUGH_MONEY": errors.InsufficientFunds,
    "TRADE_PRICE_FILTER_DENIED": errors.InvalidOrder,
    "TRADE_SIZE_FILTER_DENIED": errors.InvalidOrder,
    "TRADE_AMOUNT_FILTER_DENIED": errors.InvalidOrder,
    "TRADE_REPEAT_CLIENT_ORDER_ID": Duplicate,
    "TRADE_OPEN_ORDER_EXCEED_LIMIT": errors.InvalidOrder,  # 200 open orders per symbol
    "TRADE_OPERATION_DENIED": Denied,
    "TRADE_ORDER_NOT_FOUND": errors.OrderNotFound,
    "TRADE_SYMBOL_MAINTAIN": errors.InvalidOrder,
    "MARKET_INVALID_SYMBOL": errors.InvalidOrder,
    "MARKET_PARAMETER_ERROR": errors.InvalidOrder,
}
# the refusals that name the credential at fault (`AuthenticationFailed.key`)
KEY_AT_FAULT = {
    "APIKEY_LOST": "api_key",
    "INVALIE_APIKEY": "api_key",
    "INVALID_APIKEY": "api_key",
    "APIKEY_EXPIRED": "api_key",
    "SIGNATURE_LOST": "api_secret",
    "INVALID_SIGNATURE": "api_secret",
}


def signature(secret: str, method: str, path: str, query: str, body: str = "") -> str:
    """PIONEX-SIGNATURE of a request whose query (sorted, not URL-encoded) and body are given."""
    message = f"{method}{path}?{query}{body}" if query else f"{method}{path}{body}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sorted_query(params: Mapping[str, object]) -> str:
    """key=value pairs sorted by key, joined by &: Pionex signs them so, and they are sent so
    (the values this adapter sends need no URL encoding: symbols, ids, numbers)."""
    return "&".join(f"{key}={params[key]}" for key in sorted(params))


@dataclass
class Throttle:
    """A weighted token bucket holding a second's worth of weight: a request waits until the
    bucket holds its weight (or is full, for a weight above a second's worth), then takes it."""

    per_second: float = WEIGHT_PER_SECOND  # 0: no throttle (tests)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _tokens: float = field(default=0.0, init=False)
    _at: float | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def __post_init__(self) -> None:
        self._tokens = self.per_second

    async def take(self, weight: int) -> None:
        if self.per_second <= 0:
            return
        async with self._lock:
            needed = min(float(weight), self.per_second)
            while True:
                now = self.clock()
                if self._at is not None:
                    gained = (now - self._at) * self.per_second
                    self._tokens = min(self.per_second, self._tokens + gained)
                self._at = now
                if self._tokens >= needed:
                    self._tokens -= weight  # below zero for a weight above a second's worth
                    return
                await self.sleep((needed - self._tokens) / self.per_second)


class PionexHttp:
    """One Pionex account's requests. Use one per event loop and `await close()` it."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        secret: str,
        timeout_seconds: float,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        throttle: Throttle,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        wall_ms: Callable[[], int],
    ) -> None:
        self._key = api_key
        self._secret = secret
        self.retry = retry
        self.breaker = breaker
        self.throttle = throttle
        self.clock = clock
        self.sleep = sleep
        self._wall_ms = wall_ms
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_seconds)
        self.errors: Counter[str] = Counter()  # by the port's error class (`/metrics`)

    def __repr__(self) -> str:  # never the secret
        return f"PionexHttp({str(self._client.base_url)!r})"

    async def close(self) -> None:
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        signed: bool = True,
        weight: int = 1,
        whole: bool = False,
    ) -> Any:
        """One request through the breaker and the throttle; the answer's `data` (its whole
        envelope when `whole`).

        Raises:
            ExchangeError: the venue refused (its code translated), or gave no answer
                (`Retryable` with a cause), or nothing was sent (`Retryable`, no cause).
        """
        self.breaker.check("Pionex")
        await self.throttle.take(weight)
        try:
            envelope = await self._send(method, path, dict(params or {}), signed=signed)
        except errors.ExchangeError as error:
            self.errors[type(error).__name__] += 1
            raise
        return envelope if whole else envelope.get("data")

    async def _send(
        self, method: str, path: str, params: dict[str, object], *, signed: bool
    ) -> dict[str, Any]:
        request = self._request(method, path, params, signed=signed)
        sent_at = self.clock()
        try:
            try:
                response = await self._client.send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                self.breaker.record_failure()  # the request never left: nothing was sent
                raise errors.Retryable(f"Pionex could not be reached: {error!r}.") from None
            except httpx.HTTPError as error:
                raise NoAnswer(f"Pionex did not answer {method} {path}: {error!r}.",
                               sent_at) from error  # fmt: skip
            return self._envelope(method, path, response, sent_at)
        except NoAnswer as error:
            self.breaker.record_failure()
            raise errors.Retryable(str(error)) from error

    async def read(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        signed: bool = True,
        weight: int = 1,
        whole: bool = False,
    ) -> Any:
        """A read: retried with a backoff while the venue does not answer."""
        delay = self.retry.backoff_seconds
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return await self.call(method, path, params, signed=signed, weight=weight,
                                       whole=whole)  # fmt: skip
            except errors.Retryable as error:
                if attempt == self.retry.attempts or self.breaker.state is BreakerState.OPEN:
                    raise
                log.info("Pionex %s %s failed (%s); retry %d in %.2f s", method, path, error,
                         attempt, delay)  # fmt: skip
                await self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _request(
        self, method: str, path: str, params: dict[str, object], *, signed: bool
    ) -> httpx.Request:
        body = ""
        query_params: dict[str, object] = {}
        if method in ("POST", "DELETE"):
            body = json.dumps(params, separators=(",", ":"))
        else:
            query_params = params
        headers = {"Content-Type": "application/json"} if body else {}
        if signed:
            query_params = {**query_params, "timestamp": self._wall_ms()}
        query = sorted_query(query_params)
        if signed:
            headers["PIONEX-KEY"] = self._key
            headers["PIONEX-SIGNATURE"] = signature(self._secret, method, path, query, body)
        url = f"{path}?{query}" if query else path
        return self._client.build_request(method, url, content=body or None, headers=headers)

    def _envelope(
        self, method: str, path: str, response: httpx.Response, sent_at: float
    ) -> dict[str, Any]:
        """The answer's envelope; a refusal raised as the port's error."""
        status, said = response.status_code, f"Pionex answered {method} {path} with HTTP"
        if status == 429:
            raise NoAnswer(f"{said} 429 (rate limited: the key is banned for a while).", sent_at)
        if status >= 500:
            raise NoAnswer(f"{said} {status}.", sent_at)
        try:
            envelope = response.json()
        except ValueError:
            raise NoAnswer(f"{said} {status} and a body that is not JSON.", sent_at) from None
        if not isinstance(envelope, dict) or "result" not in envelope:
            raise NoAnswer(f"{said} {status} and no result.", sent_at)
        self.breaker.record_success()  # the venue answered, even if it refused
        if envelope["result"] is True:
            return envelope
        code, message = str(envelope.get("code")), str(envelope.get("message") or "")
        refusal = f"Pionex refused {method} {path}: {code} ({message})."
        if code in KEY_AT_FAULT:
            raise errors.AuthenticationFailed(refusal, KEY_AT_FAULT[code])
        raise ERRORS.get(code, errors.Fatal)(refusal)
