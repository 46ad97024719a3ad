"""What the risk gate reads -- the account's limits, the account now, the order -- and what each
check returns: a result with its reason."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.market import Market
from app.domain.orders import Side
from app.domain.reservations import Committed

NOT_AN_ENTRY = "not an entry"


class TradingState(enum.StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing_only"  # exits only
    HALTED = "halted"  # nothing at all


class RiskLimits(msgspec.Struct, frozen=True):
    """The account's limits; money in the account currency (quote, USD-like)."""

    allow_symbols: frozenset[str] = frozenset()  # empty: every symbol allowed
    deny_symbols: frozenset[str] = frozenset()
    max_order_notional: Decimal = Decimal(1000)
    max_total_exposure: Decimal = Decimal(5000)
    max_open_positions: int = 5
    max_daily_loss: Decimal = Decimal(500)  # today's loss at/over it blocks entries
    # the loss counts open positions at their marks too, not only what was realized today
    daily_loss_counts_unrealized: bool = True
    currency: str = "USDT"  # the daily loss is counted in it (ACCOUNT_CURRENCY)
    stop_loss_cooldown_seconds: int = 900  # per symbol after a stop-loss fill
    max_orders_per_minute: int = 30
    price_band_percent: Decimal = Decimal(2)  # alert price vs market mid
    # an entry must carry a stop-loss (settings make it true under TRADING_MODE=live)
    require_stop_loss: bool = False
    # the stop-loss of an entry whose alert gave none, in percent of the entry; None: none
    default_stop_loss_percent: Decimal | None = None


class OpenPosition(msgspec.Struct, frozen=True):
    venue: str
    symbol: str
    amount: Decimal  # signed: + long, - short
    entry_price: Decimal
    mark_price: Decimal

    @property
    def notional(self) -> Decimal:
        return abs(self.amount) * self.mark_price


class AccountSnapshot(msgspec.Struct, frozen=True):
    """What the gate needs to know of the account at the moment of the check."""

    account: str
    trading_state: TradingState
    positions: tuple[OpenPosition, ...] = ()
    own_trading_state: bool = False  # the account's own state is stricter than the global one
    # entries that hold nothing yet: resting on their venue, or approved and on their way
    committed: tuple[Committed, ...] = ()
    realized_pnl_today: Decimal = Decimal(0)  # in `currency`, every quote converted
    orders_last_minute: int = 0
    last_stop_loss_at: Mapping[str, datetime] = {}  # by symbol
    equity: Decimal = Decimal(0)  # for sizing
    currency: str = "USDT"  # the currency of equity, PnL and the limits, for the reasons' text
    unrealized_pnl: Decimal = Decimal(0)  # open positions at their marks, in `currency`
    unpriced: tuple[str, ...] = ()  # open positions without a mark (not in unrealized_pnl)
    # quote currencies of today's P&L, open positions or the entry that no venue converts
    unconverted: tuple[str, ...] = ()


class RiskRequest(msgspec.Struct, frozen=True):
    """The order the pipeline wants to place, sized and routed."""

    symbol: str
    side: Side
    amount: Decimal
    price: Decimal  # expected average entry price
    reduces: bool  # an exit: close, or the closing half of a reverse
    market: Market  # the chosen venue's market
    venue: str
    free_quote: Decimal  # free quote (spot) or settle (swap) balance on the venue
    free_base: Decimal
    alert_price: Decimal | None = None  # the price the alert quoted, if any
    market_price: Decimal | None = None  # mid on the venue now; None: no data, the check fails
    take_profits: tuple[Decimal, ...] = ()
    stop_loss: Decimal | None = None
    leverage: Decimal = Decimal(1)  # swaps: margin is notional / leverage
    # False for a leg of a linked unit, which is closed with the unit and holds no position
    holds_position: bool = True


class CheckName(enum.StrEnum):
    TRADING_STATE = "trading_state"
    SYMBOL_LIST = "symbol_list"
    MAX_DAILY_LOSS = "max_daily_loss"
    STOP_LOSS_COOLDOWN = "stop_loss_cooldown"
    ORDERS_PER_MINUTE = "orders_per_minute"
    ORDER_VALUES = "order_values"  # amount and prices are finite numbers above 0
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_TOTAL_EXPOSURE = "max_total_exposure"
    MAX_OPEN_POSITIONS = "max_open_positions"
    PRICE_BAND = "price_band"
    VENUE_MINIMUMS = "venue_minimums"
    FREE_BALANCE = "free_balance"
    REDUCE_ONLY = "reduce_only"
    TP_SL_SANITY = "tp_sl_sanity"
    STOP_LOSS_REQUIRED = "stop_loss_required"


class CheckResult(msgspec.Struct, frozen=True):
    name: str
    passed: bool
    detail: str  # one sentence with the numbers


def exits_pass(*names: CheckName) -> list[CheckResult]:
    """The results of checks that limit entries only, for an exit (a close, or the closing half
    of a reverse): an exit takes risk off."""
    return [CheckResult(name, True, NOT_AN_ENTRY) for name in names]
