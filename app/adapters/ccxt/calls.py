"""Requests to a ccxt venue: through its circuit breaker, ccxt's errors translated into
`app.ports.errors`, reads retried with a backoff while the venue does not answer.

Order creation is never retried here: see `app.adapters.ccxt.lost_create`.
"""

from __future__ import annotations

import asyncio
import decimal
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from ccxt.base import errors as ccxt_errors

from app.adapters.ccxt.key_errors import key_at_fault
from app.adapters.circuit import BreakerState, CircuitBreaker
from app.adapters.error_table import ErrorTable, translated
from app.adapters.retry import RetryPolicy
from app.ports import errors as port_errors

log = logging.getLogger(__name__)
__all__ = ["RetryPolicy", "VenueCalls", "no_answer", "translate"]  # RetryPolicy: its old home

# OrderNotFound is a ccxt InvalidOrder: it stays above it
_ERRORS: ErrorTable = (
    (ccxt_errors.OrderNotFound, port_errors.OrderNotFound),
    (ccxt_errors.InsufficientFunds, port_errors.InsufficientFunds),
    (ccxt_errors.AuthenticationError, port_errors.AuthenticationFailed),  # PermissionDenied too
    (ccxt_errors.InvalidOrder, port_errors.InvalidOrder),
    (ccxt_errors.BadRequest, port_errors.InvalidOrder),  # BadSymbol too
    (ccxt_errors.OperationFailed, port_errors.Retryable),  # NetworkError family, bad responses
)


def no_answer(error: Exception) -> bool:
    """True when the venue gave no reliable answer: the request may or may not have acted."""
    if isinstance(error, ccxt_errors.OperationFailed) or _edge_page(error):
        return True
    return isinstance(error, ccxt_errors.BaseError) and isinstance(
        error.__cause__, aiohttp.ClientError | OSError | asyncio.TimeoutError
    )


def _edge_page(error: Exception) -> bool:
    """ccxt's bare ExchangeError over an HTML page: a 5xx from the venue's edge that the
    venue's own error handler read before ccxt's HTTP status table could (Crypto.com's raises
    on any body without `"code": 0`), not an answer of the venue's API."""
    if type(error) is not ccxt_errors.ExchangeError:
        return False
    body = str(error).partition(" ")[2].lstrip()  # ccxt's message: "<venue id> <body>"
    return body[:1] == "<"


def translate(error: Exception, exchange_id: str = "") -> port_errors.ExchangeError:
    """The port's error for a ccxt error, the venue's message kept; a refusal whose answer names
    the credential at fault (`key_errors`) is an AuthenticationFailed saying which."""
    otherwise = port_errors.Retryable if no_answer(error) else port_errors.Fatal
    ours = translated(error, _ERRORS, otherwise)
    key = key_at_fault(exchange_id, str(error)) if isinstance(ours, port_errors.Fatal) else None
    return ours if key is None else port_errors.AuthenticationFailed(str(error), key)


@dataclass(frozen=True, slots=True)
class VenueCalls:
    """The requests of one venue's adapter: its ccxt instance, breaker, retry policy and time."""

    name: str
    client: Any
    retry: RetryPolicy
    breaker: CircuitBreaker
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    errors: Counter[str] = field(default_factory=Counter)  # by the port's error class
    requests: Counter[str] = field(default_factory=Counter)  # sent, by ccxt method

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One request through the breaker, errors translated."""
        self.breaker.check(self.name)
        self.requests[method] += 1
        try:
            with decimal.localcontext():  # ccxt's decimal_to_precision changes the one it finds
                result = await getattr(self.client, method)(*args, **kwargs)
        except ccxt_errors.BaseError as error:
            if no_answer(error):
                self.breaker.record_failure()
            else:
                self.breaker.record_success()  # the venue answered, even if it refused
            translated_error = translate(error, self.name)
            self.errors[type(translated_error).__name__] += 1
            raise translated_error from error
        self.breaker.record_success()
        return result

    async def read(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A read: retried with a backoff while the venue does not answer."""
        delay = self.retry.backoff_seconds
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return await self.call(method, *args, **kwargs)
            except port_errors.Retryable as error:
                if attempt == self.retry.attempts or self.breaker.state is BreakerState.OPEN:
                    raise
                log.info("%s %s failed (%s); retry %d in %.2f s", self.name, method, error,
                         attempt, delay)  # fmt: skip
                await self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")
