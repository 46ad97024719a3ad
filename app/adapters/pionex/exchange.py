"""The `Exchange` port over Pionex's spot REST API (https://pionex-doc.gitbook.io/apidocs).

What Pionex's API offers, and so what this adapter does (its `CAPABILITIES`):
- LIMIT and MARKET orders only (`POST /api/v1/trade/order`, `type` LIMIT / MARKET): no stop,
  take-profit or OCO order at all, so both legs of a bracket are watched by signalgate
  (`stop_market=False`: the bracket monitor sells at market when the price reaches a leg). A
  stop-loss protects the position only while the monitor runs.
- a market buy is sized by its quote `amount`, a market sell and a limit order by their `size`:
  a market buy of N coins is sent as N x the best ask, in the market's `amountPrecision`;
- `clientOrderId`: letters, digits and hyphens, up to 64; a reused one is refused
  (TRADE_REPEAT_CLIENT_ORDER_ID, for 6 hours at least) and an order is found by it
  (`GET /api/v1/trade/orderByClientOrderId`);
- a request's timestamp is accepted within 20 s either side of the venue's clock.

Order creation follows the lost-create protocol (`app.adapters.lost_create`): without an answer,
the order is looked up by its client order id; when the venue answers it has none, the adapter
waits until the lost request can no longer execute (twice the timestamp window: the venue
accepts a timestamp up to 20 s ahead of its clock as well as 20 s behind it), asks again, and
only then sends the order once more with the same client order id (a copy the venue has is
refused as a duplicate and looked up). A lookup that gets no answer either raises
`OutcomeUnknown`: the caller reconciles by client order id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

import msgspec

from app.adapters.circuit import BreakerState, CircuitBreaker
from app.adapters.lost_create import LostCreate
from app.adapters.pionex import parsing
from app.adapters.pionex.http import Denied, Duplicate, NoAnswer, PionexHttp, Throttle
from app.adapters.pionex.orders import order_body, priced_by_ask
from app.adapters.retry import RetryPolicy
from app.domain.market import Market, OrderBook
from app.domain.orders import TERMINAL, Fill, OrderRequest, OrderState, OrderStatus
from app.ports.errors import ExchangeError, InvalidOrder, OrderNotFound, Retryable
from app.ports.exchange import Balance, Capabilities, Position, Probe

log = logging.getLogger(__name__)

URL = "https://api.pionex.com"
ORDER = "/api/v1/trade/order"
BY_CLIENT_ID = "/api/v1/trade/orderByClientOrderId"
TIMESTAMP_WINDOW_SECONDS = 20.0
CAPABILITIES = Capabilities(
    native_oco=False,
    attached_tp_sl=False,
    stop_market=False,
    reduce_only=False,
    client_order_id_max_length=64,
    spot_locks_resting_sells=True,
)


def _wall_ms() -> int:
    return int(time.time() * 1000)


class PionexExchange:
    """Implements `app.ports.exchange.Exchange` over Pionex's REST API (live only: Pionex has no
    testnet). Use one instance per event loop and `await close()` it (or `async with`)."""

    name = "pionex"
    capabilities = CAPABILITIES

    def __init__(
        self,
        *,
        api_key: str,
        secret: str,
        base_url: str | None = None,
        timeout_seconds: float = 10.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        markets_ttl_seconds: float = 3600.0,
        timestamp_window_seconds: float = TIMESTAMP_WINDOW_SECONDS,
        weight_per_second: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self._clock = clock
        self._window = timestamp_window_seconds
        self._markets_ttl = markets_ttl_seconds
        self._markets: dict[str, parsing.PionexMarket] = {}
        self._markets_at: float | None = None
        self._markets_lock = asyncio.Lock()
        self.http = PionexHttp(
            base_url=base_url or URL,
            api_key=api_key,
            secret=secret,
            timeout_seconds=timeout_seconds,
            retry=retry or RetryPolicy(),
            breaker=breaker or CircuitBreaker(clock=clock),
            throttle=Throttle(weight_per_second, clock, sleep),
            clock=clock,
            sleep=sleep,
            wall_ms=wall_ms,
        )

    def __repr__(self) -> str:  # never the secret
        return "PionexExchange()"

    async def close(self) -> None:
        await self.http.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def request_expiry_seconds(self) -> float:
        """Twice the timestamp window (a timestamp up to the window ahead of the venue's clock is
        accepted too), with the retry policy's margin."""
        return 2 * self._window + self.http.retry.expiry_margin_seconds

    @property
    def circuit_state(self) -> BreakerState:
        """Routing reads it to skip a venue that is not answering."""
        return self.http.breaker.state

    @property
    def error_counts(self) -> dict[str, int]:
        """Request errors so far, by the port's error class (`/metrics`)."""
        return dict(self.http.errors)

    # --- markets -------------------------------------------------------------------------------

    async def markets(self) -> dict[str, Market]:
        return {symbol: spec.market for symbol, spec in (await self._specs()).items()}

    async def _specs(self) -> dict[str, parsing.PionexMarket]:
        async with self._markets_lock:
            at = self._markets_at
            if at is not None and self._clock() - at < self._markets_ttl:
                return self._markets
            try:
                data = await self.http.read("GET", "/api/v1/common/symbols", signed=False,
                                            weight=5)  # fmt: skip
            except ExchangeError as error:
                if at is None:
                    raise
                log.warning("pionex: markets unread (%s); the last ones read serve", error)
                return self._markets
            self._markets = parsing.markets(data.get("symbols") or [])
            self._markets_at = self._clock()
            return self._markets

    async def _spec(self, symbol: str) -> parsing.PionexMarket:
        spec = (await self._specs()).get(symbol)
        if spec is None:
            raise InvalidOrder(f"pionex has no spot market {symbol}.")
        return spec

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        spec = await self._spec(symbol)
        params = {"symbol": spec.id, "limit": min(max(depth, 1), 1000)}
        data = await self.http.read("GET", "/api/v1/market/depth", params, signed=False)
        return parsing.order_book(symbol, data, depth)

    async def balances(self) -> dict[str, Balance]:
        return parsing.balances(await self.http.read("GET", "/api/v1/account/balances"))

    async def probe(self) -> Probe:
        """The venue's clock, from an answer's `timestamp`; Pionex tells nothing of a key's
        permissions, and its spot account has no position mode."""
        spec = next(iter((await self._specs()).values()), None)
        if spec is None:
            return Probe()
        params = {"symbol": spec.id, "limit": 1}
        answer = await self.http.read("GET", "/api/v1/market/depth", params, signed=False,
                                      whole=True)  # fmt: skip
        return Probe(server_time=parsing.utc(answer.get("timestamp")))

    # --- orders --------------------------------------------------------------------------------

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        spec = await self._spec(request.symbol)
        body = await self._body(request, spec)
        try:
            data = await self.http.call("POST", ORDER, body)
        except Retryable as error:
            lost = error.__cause__
            if not isinstance(lost, NoAnswer):
                raise  # nothing was sent
            log.warning("pionex create %s got no answer (%s): looking it up",
                        request.client_order_id, error)  # fmt: skip
            expires_at = lost.sent_at + self.request_expiry_seconds
            return await self._lost(request, spec, body).resolve(expires_at, error)
        return await self._placed(request, spec, data)

    async def _body(self, request: OrderRequest, spec: parsing.PionexMarket) -> dict[str, object]:
        ask = None
        if priced_by_ask(request):
            book = await self.order_book(request.symbol, 1)
            ask = book.best_ask
        return order_body(request, spec, ask)

    async def _placed(
        self, request: OrderRequest, spec: parsing.PionexMarket, data: Any
    ) -> OrderStatus:
        """The order just accepted, as read back (the create's answer holds its id only)."""
        order_id = str(data["orderId"])
        try:
            return await self._read(request.symbol, spec, order_id, request)
        except ExchangeError as error:
            log.warning("pionex order %s accepted, not read back yet (%s)", order_id, error)
            return OrderStatus(order_id, request.client_order_id, request.symbol,
                               request.side, request.kind, OrderState.ACCEPTED, request.amount,
                               price=request.price)  # fmt: skip

    async def _read(
        self,
        symbol: str,
        spec: parsing.PionexMarket,
        order_id: str,
        request: OrderRequest | None = None,
    ) -> OrderStatus:
        params = {"symbol": spec.id, "orderId": order_id}
        raw = await self.http.read("GET", ORDER, params)
        return parsing.order_status(raw, symbol, request)

    def _lost(
        self, request: OrderRequest, spec: parsing.PionexMarket, body: dict[str, object]
    ) -> LostCreate:
        """The shared protocol (`app.adapters.lost_create`) over this create."""

        async def find() -> OrderStatus | None:
            return await self._by_client_id(request.symbol, spec, request.client_order_id, request)

        async def send_again() -> OrderStatus:
            return await self._placed(request, spec, await self.http.call("POST", ORDER, body))

        return LostCreate("pionex", request.client_order_id, find, send_again,
                          lambda error: isinstance(error, Duplicate), self.http.retry,
                          self._clock, self.http.sleep)  # fmt: skip

    async def _by_client_id(
        self,
        symbol: str,
        spec: parsing.PionexMarket,
        client_order_id: str,
        request: OrderRequest | None = None,
    ) -> OrderStatus | None:
        params = {"symbol": spec.id, "clientOrderId": client_order_id}
        try:
            raw = await self.http.call("GET", BY_CLIENT_ID, params)
        except OrderNotFound:
            return None
        return parsing.order_status(raw, symbol, request)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        """Cancel, then read the order back: filled when the cancel lost the race to a fill,
        cancel-pending while the venue still shows it open."""
        spec = await self._spec(symbol)
        try:
            await self.http.call("DELETE", ORDER, {"symbol": spec.id, "orderId": int(order_id)})
        except (Denied, OrderNotFound):
            status = await self._read(symbol, spec, order_id)  # OrderNotFound: none such
            if status.state in TERMINAL:
                return status
            raise
        status = await self._read(symbol, spec, order_id)
        if status.state in TERMINAL:
            return status
        return msgspec.structs.replace(status, state=OrderState.CANCEL_PENDING)

    async def fetch_order(self, symbol: str, order_id: str) -> OrderStatus:
        return await self._read(symbol, await self._spec(symbol), order_id)

    async def fetch_order_by_client_id(
        self, symbol: str, client_order_id: str
    ) -> OrderStatus | None:
        spec = await self._spec(symbol)
        delay = self.http.retry.backoff_seconds
        for attempt in range(1, self.http.retry.attempts + 1):
            try:
                return await self._by_client_id(symbol, spec, client_order_id)
            except Retryable:
                if attempt == self.http.retry.attempts:
                    raise
                await self.http.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        if symbol is None:
            raise InvalidOrder("pionex lists open orders one symbol at a time: name the symbol.")
        spec = await self._spec(symbol)
        data = await self.http.read("GET", "/api/v1/trade/openOrders", {"symbol": spec.id},
                                    weight=5)  # fmt: skip
        return [parsing.order_status(raw, symbol) for raw in data.get("orders") or []]

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        spec = await self._spec(symbol)
        params = {"symbol": spec.id, "startTime": int(since.timestamp() * 1000)}
        data = await self.http.read("GET", "/api/v1/trade/fills", params, weight=5)
        return [parsing.fill(raw, symbol) for raw in data.get("fills") or []]

    # --- derivatives: none here ----------------------------------------------------------------

    async def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        return []

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        raise InvalidOrder(
            f"{symbol} on pionex is a spot market: leverage applies to perpetual swaps only."
        )
