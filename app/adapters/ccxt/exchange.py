"""The `Exchange` port over a ccxt async exchange (testnet or live).

Everything ccxt raises is translated here into `app.ports.errors` errors, so nothing above imports
ccxt. Venue quirks are rows of `ccxt_profiles.VENUES`, not branches.

Reads are retried with a backoff (ccxt's own retries stay off: they would retry POSTs too).
Order creation is never retried blindly. When a create gets no reliable answer (timeout,
network error, 429, 5xx, garbled body) the outcome is unknown and `create_order`:

1. looks the order up by its client order id (with read retries); found -> return it;
2. if the venue *answered* that no such order exists, waits until the lost request can no
   longer be executed (the venue's `recvWindow` after it was sent: Binance refuses a request
   older than that), looks it up once more, and only after a second confirmed "not found"
   re-submits it once, with the SAME client order id (an open order with that id makes the
   venue refuse the copy as a duplicate, which is then looked up too);
3. if any lookup fails (no answer either), raises `OutcomeUnknown`: the caller marks the order
   `unknown` and the reconciler resolves it later by client order id.

`Retryable` from `create_order` therefore always means "nothing was sent" (circuit open).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

import aiohttp
import ccxt.async_support as ccxt_async
import msgspec
from ccxt.base import errors as ccxt_errors

# re-exported: market_ccxt and older callers import them from here
from app.adapters.ccxt.profiles import VENUES as VENUES  # noqa: PLC0414
from app.adapters.ccxt.profiles import ClientIdLookup, overridden_urls
from app.adapters.ccxt.profiles import VenueProfile as VenueProfile  # noqa: PLC0414
from app.adapters.circuit import BreakerState, CircuitBreaker
from app.domain.market import Level, Market, MarketKind, OrderBook
from app.domain.orders import Fill, OrderKind, OrderRequest, OrderState, OrderStatus, Side
from app.ports.errors import (
    AuthenticationFailed,
    ExchangeError,
    Fatal,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    Retryable,
)
from app.ports.exchange import Balance as PortBalance
from app.ports.exchange import Position

log = logging.getLogger(__name__)

T = TypeVar("T")
Mode = Literal["testnet", "live"]
RawOrder = dict[str, Any]


# ccxt error -> port error, first match wins (OrderNotFound is a ccxt InvalidOrder: keep it first)
_ERRORS: tuple[tuple[type[Exception], type[ExchangeError]], ...] = (
    (ccxt_errors.OrderNotFound, OrderNotFound),
    (ccxt_errors.InsufficientFunds, InsufficientFunds),
    (ccxt_errors.AuthenticationError, AuthenticationFailed),  # PermissionDenied too
    (ccxt_errors.InvalidOrder, InvalidOrder),
    (ccxt_errors.BadRequest, InvalidOrder),  # BadSymbol too
    (ccxt_errors.OperationFailed, Retryable),  # NetworkError family, bad responses
)

_STATES: dict[str, OrderState] = {
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELLED,
    "canceling": OrderState.CANCEL_PENDING,
    "rejected": OrderState.REJECTED,
    "expired": OrderState.EXPIRED,
}


def _no_answer(error: Exception) -> bool:
    """True when the venue gave no reliable answer: the request may or may not have acted."""
    if isinstance(error, ccxt_errors.OperationFailed):
        return True
    return isinstance(error, ccxt_errors.BaseError) and isinstance(
        error.__cause__, aiohttp.ClientError | OSError | asyncio.TimeoutError
    )


def translate(error: Exception) -> ExchangeError:
    """The port's error for a ccxt error, the venue's message kept."""
    for library_error, port_error in _ERRORS:
        if isinstance(error, library_error):
            return port_error(str(error))
    if _no_answer(error):
        return Retryable(str(error))
    return Fatal(str(error))


def _dec(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _dec0(value: object) -> Decimal:
    return _dec(value) or Decimal(0)


def _at(milliseconds: object) -> datetime | None:
    if not isinstance(milliseconds, int | float):
        return None
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


class RetryPolicy(msgspec.Struct, frozen=True):
    attempts: int = 3  # tries of one read, the first included
    backoff_seconds: float = 0.5  # before the second try, doubled after each
    lookup_attempts: int = 4  # tries of the by-client-id lookup after a create got no answer
    expiry_margin_seconds: float = 1.0  # added to the venue's request expiry before re-sending


# --- the adapter ---------------------------------------------------------------------------


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
) -> Any:
    """A ccxt async instance as every adapter wants it: ccxt's own retries off (they would retry
    order creation too), its throttle on, the sandbox for testnet, the URL override applied."""
    config: dict[str, Any] = {
        **(credentials or {}),
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": {**profile.options, **(options or {}), "maxRetriesOnFailure": 0},
    }
    if rate_limit_ms is not None:
        config["rateLimit"] = rate_limit_ms
    client = getattr(ccxt_async, exchange_id)(config)
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


class CcxtExchange:
    """Implements `app.ports.exchange.Exchange` over one ccxt async exchange instance.

    Use one instance per event loop (ccxt binds its session to the first loop that uses it) and
    `await close()` it (or `async with`).
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
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        markets_ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        profile = VENUES.get(exchange_id)
        if profile is None:
            raise ValueError(f"there is no venue profile for {exchange_id!r} in VENUES")
        if mode not in ("testnet", "live"):
            raise ValueError(f"mode must be 'testnet' or 'live', not {mode!r}")
        self.name = exchange_id
        self.mode = mode
        self.profile = profile
        self.capabilities = profile.capabilities
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self._clock = clock
        self._sleep = sleep
        self._markets_ttl = markets_ttl_seconds
        self._markets: dict[str, Market] = {}
        self._markets_at: float | None = None
        self._markets_lock = asyncio.Lock()
        credentials = {"apiKey": api_key, "secret": secret}
        if password:
            credentials["password"] = password
        self.client: Any = ccxt_client(
            exchange_id,
            mode,
            profile,
            credentials=credentials,
            base_url=base_url,
            options=options,
            timeout_ms=timeout_ms,
        )

    def __repr__(self) -> str:  # never the secret
        return f"CcxtExchange({self.name!r}, mode={self.mode!r})"

    @property
    def circuit_state(self) -> BreakerState:
        """Routing reads it to skip a venue that is not answering."""
        return self.breaker.state

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> CcxtExchange:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- calls -----------------------------------------------------------------------------

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One request through the breaker, errors translated."""
        self.breaker.check(self.name)
        try:
            result = await getattr(self.client, method)(*args, **kwargs)
        except ccxt_errors.BaseError as error:
            if _no_answer(error):
                self.breaker.record_failure()
            else:
                self.breaker.record_success()  # the venue answered, even if it refused
            raise translate(error) from error
        self.breaker.record_success()
        return result

    async def _read(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A read: retried with a backoff while the venue does not answer."""
        delay = self.retry.backoff_seconds
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return await self._call(method, *args, **kwargs)
            except Retryable as error:
                if attempt == self.retry.attempts or self.breaker.state is BreakerState.OPEN:
                    raise
                log.info("%s %s failed (%s); retry %d in %.2f s", self.name, method, error,
                         attempt, delay)  # fmt: skip
                await self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    # --- markets -----------------------------------------------------------------------------

    async def markets(self) -> dict[str, Market]:
        async with self._markets_lock:
            fresh = self._markets_at is not None and (
                self._clock() - self._markets_at < self._markets_ttl
            )
            if not fresh:
                raw = await self._read("load_markets", self._markets_at is not None)
                self._markets = {
                    symbol: _market(m)
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
        raw = await self._read("fetch_order_book", symbol, depth)
        return OrderBook(
            symbol=symbol,
            bids=tuple(Level(_dec0(p), _dec0(a)) for p, a, *_ in raw["bids"][:depth]),
            asks=tuple(Level(_dec0(p), _dec0(a)) for p, a, *_ in raw["asks"][:depth]),
            at=_at(raw.get("timestamp")),
        )

    async def balances(self) -> dict[str, PortBalance]:
        raw = await self._read("fetch_balance")
        free: dict[str, object] = raw.get("free") or {}
        used: dict[str, object] = raw.get("used") or {}
        return {
            asset: PortBalance(asset, _dec0(amount), _dec0(used.get(asset)))
            for asset, amount in free.items()
        }

    # --- orders ------------------------------------------------------------------------------

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        market = await self._market(request.symbol)
        order_type, amount, price, params = self._prepared(request, market)
        args = (request.symbol, order_type, request.side.value, amount, price, params)
        sent_at = self._clock()
        try:
            raw = await self._call("create_order", *args)
        except (Retryable, OutcomeUnknown) as error:
            if not isinstance(error.__cause__, ccxt_errors.BaseError):
                raise  # refused by our own breaker: nothing was sent
            log.warning("%s create %s got no answer (%s): looking it up", self.name,
                        request.client_order_id, error)  # fmt: skip
            return await self._resolve_lost_create(request, args, sent_at, error)
        return self._order(raw, request)

    def _prepared(
        self, request: OrderRequest, market: Market
    ) -> tuple[str, str, str | None, dict[str, object]]:
        """ccxt's arguments, precision applied and minimums checked before anything is sent."""
        symbol = request.symbol
        amount = self._precise("amount_to_precision", symbol, request.amount, "amount")
        price = (
            None
            if request.price is None
            else self._precise("price_to_precision", symbol, request.price, "price")
        )
        if Decimal(amount) < market.min_amount:
            raise InvalidOrder(
                f"{symbol} amount {amount} is below {self.name}'s minimum of {market.min_amount}."
            )
        reference = request.price or request.trigger_price
        if reference is not None and Decimal(amount) * reference < market.min_cost:
            raise InvalidOrder(
                f"{symbol} order value {Decimal(amount) * reference} is below {self.name}'s"
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
            key = "triggerPrice" if request.kind is OrderKind.STOP_MARKET else "takeProfitPrice"
            params[key] = self._precise("price_to_precision", symbol, request.trigger_price, key)
        if request.kind is OrderKind.LIMIT and price is None:
            raise InvalidOrder("a limit order needs a price.")
        return order_type, amount, price, params

    def _precise(self, method: str, symbol: str, value: Decimal, what: str) -> str:
        try:
            result: str = getattr(self.client, method)(symbol, str(value))
        except ccxt_errors.BaseError as error:
            raise InvalidOrder(
                f"{symbol} {what} {value} is too small for the venue: {error}"
            ) from error
        return result

    async def _resolve_lost_create(
        self,
        request: OrderRequest,
        args: tuple[Any, ...],
        sent_at: float,
        cause: ExchangeError,
    ) -> OrderStatus:
        cid = request.client_order_id
        found = await self._lookup_after_lost_create(request, cause)
        if found is not None:
            return found
        # Not found. The lost request may still be in flight: wait until the venue would refuse
        # it (its expiry after it was sent), then ask again before sending the copy.
        expiry_ms = self._request_expiry_ms()
        if expiry_ms is None:
            raise OutcomeUnknown(
                f"{self.name} did not answer for order {cid} and its requests do not expire, so"
                " it is not sent again; reconcile it by client order id."
            ) from cause
        ready_at = sent_at + float(expiry_ms) / 1000 + self.retry.expiry_margin_seconds
        if (wait := ready_at - self._clock()) > 0:
            await self._sleep(wait)
        found = await self._lookup_after_lost_create(request, cause)
        if found is not None:
            return found
        log.warning("%s has no order %s after its expiry: sending it again", self.name, cid)
        try:
            raw = await self._call("create_order", *args)
        except InvalidOrder as error:
            if not self._duplicate(error):
                raise
            found = await self._lookup_after_lost_create(request, error)
        except (Retryable, OutcomeUnknown) as error:
            found = await self._lookup_after_lost_create(request, error)
        else:
            return self._order(raw, request)
        if found is None:
            raise OutcomeUnknown(
                f"{self.name} did not confirm order {cid}; reconcile it by client order id."
            )
        return found

    async def _lookup_after_lost_create(
        self, request: OrderRequest, cause: Exception
    ) -> OrderStatus | None:
        """The order by client id; None only when the venue answered that it has none."""
        cid = request.client_order_id
        delay = self.retry.backoff_seconds
        for attempt in range(1, self.retry.lookup_attempts + 1):
            try:
                return await self._by_client_id(request.symbol, cid, request)
            except Retryable as error:
                log.warning("%s lookup of %s failed (%s), try %d", self.name, cid, error, attempt)
                if attempt < self.retry.lookup_attempts:
                    await self._sleep(delay)
                    delay *= 2
        raise OutcomeUnknown(
            f"{self.name} did not answer for order {cid} and could not be asked whether it"
            f" exists ({cause}); reconcile it by client order id."
        ) from cause

    def _request_expiry_ms(self) -> float | None:
        option = self.profile.expiry_option
        value = self.client.options.get(option) if option else None
        return float(value) if value else self.profile.expiry_ms

    def _duplicate(self, error: InvalidOrder) -> bool:
        """The venue refused a client order id it already has."""
        return isinstance(error.__cause__, ccxt_errors.DuplicateOrderId) or any(
            m in str(error) for m in self.profile.duplicate_messages
        )

    async def _by_client_id(
        self,
        symbol: str,
        client_order_id: str,
        request: OrderRequest | None = None,
        *,
        retried: bool = False,
    ) -> OrderStatus | None:
        """The order by client id, as the profile says the venue can find it."""
        ask = self._read if retried else self._call
        if self.profile.lookup is ClientIdLookup.FETCH_ORDER:
            params = {self.profile.lookup_client_id_param: client_order_id}
            try:
                raw = await ask("fetch_order", None, symbol, params)
            except OrderNotFound:
                return None
            return self._order(raw, request)
        # SCAN: the venue cannot be asked by client id; look among its open and recent orders
        methods = ["fetch_open_orders", self.profile.recent_orders_method]
        for method in filter(None, methods):
            for raw in await ask(method, symbol):
                if self._client_id(raw) == client_order_id:
                    return self._order(raw, request)
        return None

    def _client_id(self, raw: RawOrder) -> str:
        found = str(raw.get("clientOrderId") or "")
        prefix = self.profile.client_id_prefix
        return found[len(prefix) :] if prefix and found.startswith(prefix) else found

    def _order(self, raw: RawOrder, request: OrderRequest | None = None) -> OrderStatus:
        """ccxt's order in the port's types, our client id without the venue's prefix."""
        if self.profile.client_id_prefix and raw.get("clientOrderId"):
            raw = {**raw, "clientOrderId": self._client_id(raw)}
        return _status(raw, request)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        # a cancel is idempotent enough to send once; its outcome is read back by the caller
        return self._order(await self._call("cancel_order", order_id, symbol))

    async def fetch_order(self, symbol: str, order_id: str) -> OrderStatus:
        return self._order(await self._read("fetch_order", order_id, symbol))

    async def fetch_order_by_client_id(
        self, symbol: str, client_order_id: str
    ) -> OrderStatus | None:
        return await self._by_client_id(symbol, client_order_id, retried=True)

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        return [self._order(raw) for raw in await self._read("fetch_open_orders", symbol)]

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        raw = await self._read("fetch_my_trades", symbol, int(since.timestamp() * 1000))
        return [_fill(trade) for trade in raw]

    # --- derivatives -------------------------------------------------------------------------

    async def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        if not self.profile.swaps:
            return []
        raw = await self._read("fetch_positions", list(symbols) if symbols else None)
        found = (_position(p) for p in raw)
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
        await self._read("set_leverage", value, symbol)


# --- ccxt structures -> domain ------------------------------------------------------------


def _market(raw: Mapping[str, Any]) -> Market:
    precision = raw.get("precision") or {}
    limits = raw.get("limits") or {}
    return Market(
        symbol=raw["symbol"],
        base=raw["base"],
        quote=raw["quote"],
        kind=MarketKind.SWAP if raw.get("swap") else MarketKind.SPOT,
        settle=raw.get("settle"),
        active=raw.get("active") is not False,
        amount_step=_dec(precision.get("amount")) or Decimal("0.00000001"),
        price_step=_dec(precision.get("price")) or Decimal("0.01"),
        min_amount=_dec0((limits.get("amount") or {}).get("min")),
        min_cost=_dec0((limits.get("cost") or {}).get("min")),
        taker_fee=_dec(raw.get("taker")) or Decimal("0.001"),
        maker_fee=_dec(raw.get("maker")) or Decimal("0.001"),
    )


def _kind(raw: RawOrder) -> OrderKind:
    if raw.get("type") == "limit":
        return OrderKind.LIMIT
    if raw.get("takeProfitPrice") is not None:
        return OrderKind.TAKE_PROFIT_MARKET
    if raw.get("triggerPrice") is not None or raw.get("stopLossPrice") is not None:
        return OrderKind.STOP_MARKET
    return OrderKind.MARKET


def _state(raw: RawOrder) -> OrderState:
    status = raw.get("status")
    if status == "open":
        return OrderState.PARTIALLY_FILLED if _dec0(raw.get("filled")) > 0 else OrderState.ACCEPTED
    return _STATES.get(str(status), OrderState.UNKNOWN)


def _status(raw: RawOrder, request: OrderRequest | None = None) -> OrderStatus:
    fee = raw.get("fee") or {}
    amount = _dec(raw.get("amount"))
    return OrderStatus(
        order_id=str(raw["id"]),
        client_order_id=raw.get("clientOrderId") or (request.client_order_id if request else ""),
        symbol=raw.get("symbol") or (request.symbol if request else ""),
        side=Side(raw["side"]) if raw.get("side") else (request.side if request else Side.BUY),
        kind=request.kind if request else _kind(raw),
        state=_state(raw),
        amount=amount if amount is not None else (request.amount if request else Decimal(0)),
        filled=_dec0(raw.get("filled")),
        average_price=_dec(raw.get("average")),
        price=_dec(raw.get("price")) or None,
        trigger_price=_dec(raw.get("triggerPrice")),
        fee=_dec0(fee.get("cost")),
        fee_currency=fee.get("currency"),
        reduce_only=bool(raw.get("reduceOnly")) or (request.reduce_only if request else False),
        updated_at=_at(raw.get("lastUpdateTimestamp") or raw.get("timestamp")),
    )


def _position(raw: Mapping[str, Any]) -> Position:
    """ccxt's position; the amount in the unit orders use (contracts), signed by side."""
    contracts = _dec0(raw.get("contracts"))
    return Position(
        symbol=raw["symbol"],
        amount=-contracts if raw.get("side") == "short" else contracts,
        entry_price=_dec0(raw.get("entryPrice")),
        mark_price=_dec(raw.get("markPrice")),
        leverage=_dec(raw.get("leverage")),
        unrealized_pnl=_dec(raw.get("unrealizedPnl")),
        liquidation_price=_dec(raw.get("liquidationPrice")) or None,
    )


def _fill(raw: Mapping[str, Any]) -> Fill:
    fee = raw.get("fee") or {}
    at = _at(raw.get("timestamp"))
    return Fill(
        order_id=str(raw.get("order") or ""),
        client_order_id=str(raw.get("clientOrderId") or ""),  # Binance's trades do not carry it
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        price=_dec0(raw.get("price")),
        amount=_dec0(raw.get("amount")),
        fee=_dec0(fee.get("cost")),
        fee_currency=str(fee.get("currency") or ""),
        at=at or datetime.now(UTC),
        maker=raw.get("takerOrMaker") == "maker",
    )
