"""The normalized trading signal and the intake rules that apply to it.

Pure code: no clock, no environment, no I/O. Times and ids are passed in.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import msgspec


class Action(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"
    CLOSE = "close"  # flatten the position (exit / flat)
    REVERSE = "reverse"  # close, then open the other side


class PositionSide(enum.StrEnum):
    """Which position a CLOSE/REVERSE refers to, when the alert says so."""

    LONG = "long"
    SHORT = "short"


class QtyMode(enum.StrEnum):
    BASE = "base"  # quantity of the base asset (coins, contracts)
    QUOTE = "quote"  # notional in the quote currency
    PERCENT_EQUITY = "percent_equity"  # percent of account equity
    RISK_PERCENT = "risk_percent"  # percent of equity lost if the stop is hit


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class StopKind(enum.StrEnum):
    PRICE = "price"  # absolute stop price
    PERCENT = "percent"  # percent away from the entry
    DISTANCE = "distance"  # price units away from the entry (PineConnector's sl=)
    TRAILING = "trailing"  # trailing distance in percent


class TakeProfit(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One take-profit target: an absolute price, a percent from the entry or a distance from it
    in price units, and its share. Percents and distances are measured from the fill.

    Defaults are left out when stored: a worker of the previous release (a deploy's overlap)
    still reads every target without a distance."""

    price: Decimal | None = None
    percent: Decimal | None = None
    share: Decimal = Decimal(1)  # fraction of the position this target closes
    distance: Decimal | None = None


class StopLoss(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: StopKind
    value: Decimal  # a price (PRICE), a percent (PERCENT, TRAILING), price units (DISTANCE)


class Link(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One leg of a unit of linked signals (an arbitrage): execution trades every leg of the
    unit or none, in leg order, and unwinds the legs already filled when a later one fails."""

    unit: str  # the unit's id, shared by its legs
    leg: int  # 0, 1, ...: the order the legs are placed in
    legs: int  # how many legs the unit has


class StrategyPosition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a TradingView strategy stands, as its alert says: its market position after this
    order and before it (long, short or flat), and its size after it (`market_position_size`,
    in the alert's quantity units; None when flat or not given)."""

    after: str | None = None
    before: str | None = None
    size: Decimal | None = None


class Signal(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A trading intent in one shape, whatever dialect or strategy produced it."""

    symbol: str  # unified: BTC/USDT (spot), BTC/USDT:USDT (linear perpetual)
    action: Action
    source: str  # "tradingview:<dialect>" or "strategy:<name>"
    ticker: str = ""  # the ticker as the alert wrote it
    strategy: str | None = None
    account: str = "default"
    venue: str | None = None  # venue hint, lower-case ccxt id ("binance")
    position_side: PositionSide | None = None
    quantity: Decimal | None = None
    qty_mode: QtyMode = QtyMode.BASE
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None  # the alert's reference price (close, trigger price)
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profits: tuple[TakeProfit, ...] = ()
    stop_loss: StopLoss | None = None
    leverage: Decimal | None = None
    confidence: float | None = None
    alert_id: str | None = None
    fired_at: datetime | None = None
    max_lag_seconds: int | None = None
    comment: str | None = None
    link: Link | None = None  # set by the arbitrage strategy only; webhooks cannot link
    # a TradingView strategy's market position (POSITION_SYNC compares the account's with it)
    strategy_position: StrategyPosition | None = None


class Accepted(msgspec.Struct, frozen=True):
    pass


class Filtered(msgspec.Struct, frozen=True):
    reason: str


class Stale(msgspec.Struct, frozen=True):
    reason: str


Screening = Accepted | Filtered | Stale


def effective_confidence(signal: Signal, *, required: bool) -> float | None:
    """An alert without a confidence counts as 1.0 unless its strategy requires one."""
    if signal.confidence is not None:
        return signal.confidence
    return None if required else 1.0


def screen(
    signal: Signal,
    *,
    now: datetime,
    threshold: float,
    confidence_required: bool,
    max_age_seconds: int,
) -> Screening:
    """Apply the staleness and confidence rules, in that order, with a stated reason."""
    if signal.fired_at is not None:
        age = (now - signal.fired_at).total_seconds()
        limit = max_age_seconds
        if signal.max_lag_seconds is not None:
            limit = min(limit, signal.max_lag_seconds)
        if age > limit:
            return Stale(f"alert fired {age:.0f} s ago, older than the {limit} s allowed")
        if age < -max_age_seconds:
            return Stale(f"alert fire time is {-age:.0f} s in the future; check the sender's clock")
    confidence = effective_confidence(signal, required=confidence_required)
    if confidence is None:
        return Filtered("this strategy requires a confidence and the alert carries none")
    if confidence < threshold:
        return Filtered(f"confidence {confidence:g} is below the threshold {threshold:g}")
    return Accepted()


def execution_delay(received_at: datetime, now: datetime, *, max_delay_seconds: int) -> str | None:
    """Why an entry reaching execution at `now` must not trade, or None when it is in time.

    Intake screens an alert when it arrives; a queue backlog, a dead worker's job or a spool
    drained after an outage can still deliver it much later, at a price nobody asked for.
    """
    delay = (now - received_at).total_seconds()
    if delay <= max_delay_seconds:
        return None
    return (
        f"expired: received {delay:.0f} s before execution, more than the"
        f" {max_delay_seconds} s EXECUTION_MAX_DELAY_SECONDS allows; nothing is placed"
    )


_digest_encoder = msgspec.json.Encoder(order="deterministic")


def dedupe_key(signal: Signal) -> str:
    """The key two copies of one alert share.

    The alert's own id when it has one; otherwise a digest of the whole normalized signal (its fire
    time included, so two firings of one alert differ while two copies of one firing do not).
    """
    scope = f"{signal.account}:{signal.strategy or '-'}"
    if signal.alert_id:
        return f"id:{scope}:{signal.alert_id}"
    digest = hashlib.sha256(_digest_encoder.encode(signal)).hexdigest()[:32]
    return f"digest:{scope}:{digest}"


def dedupe_window(signal: Signal, *, window_seconds: int, id_window_seconds: int) -> int:
    """How long, in seconds, a copy of this signal counts as a duplicate."""
    return id_window_seconds if signal.alert_id else window_seconds


class SignalStatus(enum.StrEnum):
    QUEUED = "queued"  # kept in Redis and on its way to a worker
    SPOOLED = "spooled"  # kept in the database while Redis was unreachable; re-queued later
    FILTERED = "filtered"  # below the confidence threshold: recorded, not queued
    STALE = "stale"  # fired too long ago: recorded, not queued
    DUPLICATE = "duplicate"  # a copy of an earlier signal: recorded, not queued
    EXECUTED = "executed"  # the worker placed its orders (or closed what it asked to close)
    DENIED = "denied"  # refused by the risk gate or routing, every reason on its lineage
    EXPIRED = "expired"  # an entry that reached a worker too long after it was received
    FAILED = "failed"  # the venues refused or could not be reached; see its lineage


PENDING = frozenset({SignalStatus.QUEUED, SignalStatus.SPOOLED})
NOT_KEPT = frozenset({SignalStatus.FILTERED, SignalStatus.STALE, SignalStatus.DUPLICATE})


class SignalRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What intake keeps of one received signal: the audit row."""

    id: str
    received_at: datetime
    status: SignalStatus
    signal: Signal
    dialect: str
    dedupe_key: str
    reason: str | None = None
    duplicate_of: str | None = None
    payload: dict[str, object] | str | None = None  # as received, secrets removed
    client: str | None = None  # the sender's address


@dataclass(frozen=True, slots=True)
class IntakePolicy:
    """How the intake screens signals: confidence thresholds (per strategy), staleness, the
    dedupe windows and the rate limit per sender."""

    confidence_threshold: float = 0.6
    strategy_thresholds: dict[str, float] = field(default_factory=dict)
    confidence_required: frozenset[str] = frozenset()
    max_age_seconds: int = 120
    dedupe_window_seconds: int = 60
    dedupe_id_window_seconds: int = 86_400
    rate_limit_per_minute: int = 600

    def screen(self, signal: Signal, now: datetime) -> Screening:
        """Staleness and confidence, with this policy's thresholds (per strategy name)."""
        strategy = signal.strategy or ""
        return screen(
            signal,
            now=now,
            threshold=self.strategy_thresholds.get(strategy, self.confidence_threshold),
            confidence_required=strategy in self.confidence_required,
            max_age_seconds=self.max_age_seconds,
        )

    def dedupe_seconds(self, signal: Signal) -> int:
        return dedupe_window(
            signal,
            window_seconds=self.dedupe_window_seconds,
            id_window_seconds=self.dedupe_id_window_seconds,
        )
