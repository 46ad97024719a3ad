"""The `Exchange` port over a ccxt async exchange (testnet or live).

Everything ccxt raises is translated into `app.ports.errors` errors (`app.adapters.ccxt.calls`),
so nothing above imports ccxt. Venue quirks are rows of `profiles.VENUES`, not branches. Order
creation follows the lost-create protocol written down in `app.adapters.ccxt.lost_create`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, localcontext

from ccxt.base import errors as ccxt_errors

from app.adapters.ccxt import lost_create, parsing, probe
from app.adapters.ccxt.calls import RetryPolicy, VenueCalls
from app.adapters.ccxt.client import Mode, OwnsCcxtClient, ccxt_client, venue_profile
from app.adapters.ccxt.profiles import TRIGGER_MARK
from app.adapters.circuit import BreakerState, CircuitBreaker
from app.domain.market import Market, MarketKind, OrderBook
from app.domain.orders import Fill, OrderKind, OrderRequest, OrderState, OrderStatus
from app.ports.errors import ExchangeError, InvalidOrder
from app.ports.exchange import Balance, Position, Probe

log = logging.getLogger(__name__)


class CcxtExchange(OwnsCcxtClient):
    """Implements `app.ports.exchange.Exchange` over one ccxt async exchange instance.

    Use one instance per event loop (ccxt binds its session to the first loop that uses it) and
    `await close()` it (or `async with`). `rate_limit_ms` overrides ccxt's pause between
    requests (its throttle stays on), as for `CcxtMarketData`: the local fakes in tests.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        mode: Mode,
        api_key: str,
        secret: str,
        password: str | None = None,
        base_url: str | None = None,
        options: Mapping[str, object] | None = None,
        timeout_ms: int = 10_000,
        rate_limit_ms: int | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        markets_ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        profile = venue_profile(exchange_id, mode)
        self.name = exchange_id
        self.mode = mode
        self.profile = profile
        self.capabilities = profile.capabilities
        self._clock = clock
        self._markets_ttl = markets_ttl_seconds
        self._markets: dict[str, Market] = {}
        self._markets_at: float | None = None
        self._markets_lock = asyncio.Lock()
        credentials = {"apiKey": api_key, "secret": secret}
        if password:
            credentials["password"] = password
        self.client = ccxt_client(
            exchange_id,
            mode,
            profile,
            credentials=credentials,
            base_url=base_url,
            options=options,
            timeout_ms=timeout_ms,
            rate_limit_ms=rate_limit_ms,
        )
        self.calls = VenueCalls(
            name=exchange_id,
            client=self.client,
            retry=retry or RetryPolicy(),
            breaker=breaker or CircuitBreaker(clock=clock),
            clock=clock,
            sleep=sleep,
        )

    def __repr__(self) -> str:  # never the secret
        return f"CcxtExchange({self.name!r}, mode={self.mode!r})"

    @property
    def request_expiry_seconds(self) -> float | None:
        """The venue's request expiry as its options set it, with the retry policy's margin."""
        # None where some creates never expire (the venue's conditional orders): this one
        # figure serves every order, and a lost one that can still execute is not gone
        expiry = self.profile.expiry
        if expiry is not None and not expiry.conditional:
            return None
        return lost_create.request_expiry_seconds(self.calls, self.profile)

    @property
    def circuit_state(self) -> BreakerState:
        """Routing reads it to skip a venue that is not answering."""
        return self.calls.breaker.state

    @property
    def error_counts(self) -> dict[str, int]:
        """Request errors so far, by the port's error class (`/metrics`)."""
        return dict(self.calls.errors)

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests sent so far, by ccxt method (`/metrics`)."""
        return dict(self.calls.requests)

    # --- markets -----------------------------------------------------------------------------

    async def markets(self) -> dict[str, Market]:
        async with self._markets_lock:
            fresh = self._markets_at is not None and (
                self._clock() - self._markets_at < self._markets_ttl
            )
            if not fresh:
                try:
                    raw = await self.calls.read("load_markets", self._markets_at is not None)
                except ExchangeError as error:
                    if self._markets_at is None:
                        raise
                    # A venue's market list hardly changes: the last one read serves while
                    # the venue does not answer (tried again on the next call), so its
                    # listings stay known and a live route is not lost to a read failure.
                    log.warning("%s: markets unread (%s); the last ones read serve", self.name,
                                error)  # fmt: skip
                    return self._markets
                self._markets = {
                    symbol: parsing.market(m)
                    for symbol, m in raw.items()
                    if m.get("spot") or m.get("swap")
                }
                self._markets_at = self._clock()
        return self._markets

    async def _market(self, symbol: str) -> Market:
        market = (await self.markets()).get(symbol)
        if market is None:
            raise InvalidOrder(f"{self.name} has no market {symbol}.")
        return market

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        await self._market(symbol)
        raw = await self.calls.read("fetch_order_book", symbol, depth)
        return parsing.order_book(symbol, raw, depth)

    async def balances(self) -> dict[str, Balance]:
        raw = await self.calls.read("fetch_balance", dict(self.profile.balance_params))
        return parsing.balances(raw)

    # --- orders ------------------------------------------------------------------------------

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        market = await self._market(request.symbol)
        order_type, amount, price, params = self._prepared(request, market)
        if self.profile.market_buy_cost and order_type == "market" and request.side.value == "buy":
            amount = await self._cost(request, amount, params)
        args = (request.symbol, order_type, request.side.value, amount, price, params)
        status = await lost_create.create_order(
            self.calls, self.profile, request, args, self._order
        )
        if self.profile.acknowledged_status is None or status.state is not OrderState.ACCEPTED:
            return status
        # the venue's answer only acknowledged the order: read how it stands (a market order
        # filled) so that the caller acts on it now; the acknowledgement when the read fails
        try:
            return await self.fetch_order(request.symbol, status.order_id)
        except ExchangeError as error:
            log.info("%s: %s accepted, not read back (%s)", self.name, request.client_order_id,
                     error)  # fmt: skip
            return status

    async def _cost(self, request: OrderRequest, amount: str, params: dict[str, object]) -> str:
        """A market buy as the quote to spend: the amount at the best ask (ccxt's way for the
        venues that size a market buy by its cost)."""
        book = await self.order_book(request.symbol, 1)
        if not book.asks:
            raise InvalidOrder(f"{request.symbol} has no ask on {self.name} to price a market buy.")
        params["createMarketBuyOrderRequiresPrice"] = False
        cost = Decimal(amount) * book.asks[0].price
        return self._precise("cost_to_precision", request.symbol, cost, "cost")

    def _prepared(
        self, request: OrderRequest, market: Market
    ) -> tuple[str, str, str | None, dict[str, object]]:
        """ccxt's arguments, precision applied and minimums checked before anything is sent."""
        symbol, size = request.symbol, market.contract_size
        # the venue counts contracts on a swap whose contract is not one coin
        amount = self._precise("amount_to_precision", symbol, request.amount / size, "amount")
        price = (
            None
            if request.price is None
            else self._precise("price_to_precision", symbol, request.price, "price")
        )
        coins = Decimal(amount) * size
        if coins < market.min_amount:
            raise InvalidOrder(
                f"{symbol} amount {coins} is below {self.name}'s minimum of {market.min_amount}."
            )
        reference = request.price or request.trigger_price
        if reference is not None and coins * reference < market.min_cost:
            raise InvalidOrder(
                f"{symbol} order value {coins * reference} is below {self.name}'s"
                f" minimum of {market.min_cost} {market.quote}."
            )
        params: dict[str, object] = {self.profile.client_order_id_param: request.client_order_id}
        if request.reduce_only and market.kind is MarketKind.SWAP:
            # on spot there is no position to reduce: the flag has no meaning there
            if not self.capabilities.reduce_only:
                raise InvalidOrder(f"{self.name} cannot place reduce-only orders on {symbol}.")
            params["reduceOnly"] = True
        order_type = "limit" if request.kind is OrderKind.LIMIT else "market"
        if request.kind in (OrderKind.STOP_MARKET, OrderKind.TAKE_PROFIT_MARKET):
            if request.trigger_price is None:
                raise InvalidOrder(f"a {request.kind} order needs a trigger price.")
            key = self.profile.take_profit_param
            if request.kind is OrderKind.STOP_MARKET:
                swap = market.kind is MarketKind.SWAP and self.profile.swap_stop_loss_param
                key = swap or self.profile.stop_loss_param
            params[key] = self._precise("price_to_precision", symbol, request.trigger_price, key)
            if self.profile.conditional_paths:  # sent where the venue keeps them
                params.update(self.profile.conditional_params)
        if request.kind is OrderKind.LIMIT and price is None:
            raise InvalidOrder("a limit order needs a price.")
        return order_type, amount, price, params

    def _precise(self, method: str, symbol: str, value: Decimal, what: str) -> str:
        try:
            with localcontext():  # ccxt's decimal_to_precision changes the context it finds
                result: str = getattr(self.client, method)(symbol, str(value))
        except ccxt_errors.BaseError as error:
            raise InvalidOrder(
                f"{symbol} {what} {value} is too small for the venue: {error}"
            ) from error
        return result

    def _size(self, symbol: str | None) -> Decimal:
        """Coins per contract of `symbol` (1 off swaps, and before markets are read)."""
        market = self._markets.get(symbol or "")
        return market.contract_size if market else Decimal(1)

    def _order(
        self, raw: parsing.RawOrder, request: OrderRequest | None = None, marked: bool = False
    ) -> OrderStatus:
        """ccxt's order in the port's types; `marked`: a conditional order read apart."""
        symbol = raw.get("symbol") or (request.symbol if request else None)
        mark = TRIGGER_MARK if marked and self.profile.conditional_params else ""
        return parsing.order_status(raw, self.profile.client_id_prefix, request,
                                    size=self._size(symbol), mark=mark)  # fmt: skip

    def _venue_id(self, order_id: str) -> tuple[str, dict[str, object]]:
        """The venue's order id and the params its reads and cancels need."""
        if order_id.startswith(TRIGGER_MARK) and self.profile.conditional_params:
            return order_id[len(TRIGGER_MARK) :], dict(self.profile.conditional_params)
        return order_id, {}

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        # a cancel is idempotent enough to send once; its outcome is read back by the caller
        await self.markets()
        venue_id, params = self._venue_id(order_id)
        raw = await self.calls.call("cancel_order", venue_id, symbol, params)
        if not raw.get("id"):  # the venue answered a count, not the order (Kraken): read it
            return await self.fetch_order(symbol, order_id)
        return self._order(raw, marked=bool(params))

    async def fetch_order(self, symbol: str, order_id: str) -> OrderStatus:
        await self.markets()
        venue_id, params = self._venue_id(order_id)
        raw = await self.calls.read(
            "fetch_order", venue_id, symbol, {**self.profile.fetch_params, **params}
        )
        if params and self.profile.triggered_order_field:
            raw = await self._with_fills(raw, symbol, self.profile.triggered_order_field)
        return self._order(raw, marked=bool(params))

    async def _with_fills(self, raw: parsing.RawOrder, symbol: str, field: str) -> parsing.RawOrder:
        """A triggered conditional order with the fills of the order it placed (`field` of its
        `info` names it): where the venue keeps them on that order only."""
        placed = (raw.get("info") or {}).get(field)
        if isinstance(placed, list):
            placed = placed[-1] if placed else None
        if not placed or raw.get("status") == "open":
            return raw
        child = await self.calls.read("fetch_order", str(placed), symbol,
                                      dict(self.profile.fetch_params))  # fmt: skip
        taken = ("status", "filled", "remaining", "average", "cost", "fee", "fees")
        return {**raw, **{key: child.get(key) for key in taken}}

    async def fetch_order_by_client_id(
        self, symbol: str, client_order_id: str
    ) -> OrderStatus | None:
        await self.markets()
        return await lost_create.find_by_client_id(
            self.calls, self.profile, symbol, client_order_id, self._order, retried=True
        )

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        """The open orders, the conditional ones too where the venue lists them apart; without
        a symbol, those of every market type the profile lists."""
        await self.markets()
        types = self.profile.open_orders_types if symbol is None else ()
        found: list[OrderStatus] = []
        for scope in [{"type": kind} for kind in types] or [{}]:
            found += await self._open_orders(symbol, scope)
        return found

    async def _open_orders(
        self, symbol: str | None, scope: Mapping[str, object]
    ) -> list[OrderStatus]:
        plain = await self.calls.read("fetch_open_orders", symbol, None, None, dict(scope))
        if not self.profile.conditional_params:
            return [self._order(raw) for raw in plain]
        params = {**scope, **self.profile.conditional_params}
        conditional = await self.calls.read("fetch_open_orders", symbol, None, None, params)
        # a venue may list its conditional orders among the plain ones too: kept once, marked
        apart = {str(raw["id"]) for raw in conditional}
        return [self._order(raw) for raw in plain if str(raw["id"]) not in apart] + [
            self._order(raw, marked=True) for raw in conditional
        ]

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        size = (await self._market(symbol)).contract_size
        raw = await self.calls.read("fetch_my_trades", symbol, int(since.timestamp() * 1000))
        return [parsing.fill(trade, size) for trade in raw]

    async def probe(self) -> Probe:
        """Keys' permissions, the venue's clock and its position mode (`venues check`)."""
        return await probe.probe(self.calls, self.profile, await self.markets())

    # --- derivatives -------------------------------------------------------------------------

    async def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        if not self.profile.swaps:
            return []
        await self.markets()
        raw = await self.calls.read("fetch_positions", list(symbols) if symbols else None)
        found = (parsing.position(p, self._size(p.get("symbol"))) for p in raw)
        return [p for p in found if p.amount != 0]

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        market = await self._market(symbol)
        if market.kind is not MarketKind.SWAP:
            raise InvalidOrder(
                f"{symbol} on {self.name} is a spot market: leverage applies to perpetual swaps"
                " only."
            )
        if not leverage.is_finite() or leverage < 1:
            raise InvalidOrder(f"leverage {leverage} is not valid: use a number of at least 1.")
        # the venue's own type: Binance takes whole numbers only, others a decimal
        value = int(leverage) if leverage == leverage.to_integral_value() else float(leverage)
        try:
            await self.calls.read("set_leverage", value, symbol, dict(self.profile.leverage_params))
        except InvalidOrder as error:
            if not any(m in str(error) for m in self.profile.leverage_unchanged):
                raise
