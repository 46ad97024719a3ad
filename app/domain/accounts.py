"""Accounts and subscriptions: one strategy's alert trades every account subscribed to it.

An account groups venues (connections, by name), and has its own risk limits (each one it sets
replaces the global one), its own sizing (a quantity mode and size of its own, or the alert's
quantity, times a multiplier) and its own trading state (halted or reducing only, on top of the
global kill switch). A subscription ties a strategy name to an account, enabled or not.

Pure code: the rules of a new account, the rules execution applies to an account's signals, and
the copies of one alert for its subscribed accounts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.account_channels import AccountChannels
from app.domain.connections import NAME_PATTERN
from app.domain.risk_values import RiskLimits, TradingState
from app.domain.signals import QtyMode, Signal
from app.domain.sizing import SizingPolicy, number_text

IMPLICIT = "default"  # the account of a signal that names none and whose strategy has no subscriber
STRATEGY_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$"  # as `/webhook/{strategy}` takes it
MAX_MULTIPLIER = Decimal(1000)
MOST = Decimal(10**12)  # the largest limit or size an account may set
_NAME = re.compile(NAME_PATTERN)
_STRATEGY = re.compile(STRATEGY_PATTERN)
_PERCENT_MODES = frozenset({QtyMode.PERCENT_EQUITY, QtyMode.RISK_PERCENT})
_STRICTNESS = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class AccountLimits(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """The limits an account sets for itself; None keeps the global one (the settings')."""

    max_order_notional: Decimal | None = None
    max_total_exposure: Decimal | None = None
    max_open_positions: int | None = None
    max_daily_loss: Decimal | None = None
    max_orders_per_minute: int | None = None

    def over(self, limits: RiskLimits) -> RiskLimits:
        """`limits` with this account's own in their place."""
        own = {k: v for k, v in msgspec.structs.asdict(self).items() if v is not None}
        return msgspec.structs.replace(limits, **own) if own else limits


class AccountSizing(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """How an account sizes its entries: `qty_mode` and `quantity` set, every entry is that size
    whatever the alert says; unset, the alert's own quantity (or the default sizing). Either
    way the quantity is multiplied by `multiplier`."""

    qty_mode: QtyMode | None = None
    quantity: Decimal | None = None
    multiplier: Decimal = Decimal(1)


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """An account as kept and shown. `connections`: the venues (connection names) it trades
    on; none: every configured venue. `notify`: its own notification channels (None: none),
    their URLs never shown."""

    name: str
    connections: tuple[str, ...] = ()
    limits: AccountLimits = AccountLimits()
    sizing: AccountSizing = AccountSizing()
    trading_state: TradingState = TradingState.ACTIVE
    state_reason: str | None = None
    notify: AccountChannels | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """A strategy's alerts trade `account` while `enabled`."""

    strategy: str
    account: str
    enabled: bool = True
    created_at: datetime | None = None


class InvalidAccount(ValueError):
    """A field of an account or subscription breaks a rule; the message says what to change."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def check_account_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidAccount(
            "name", "an account name must be letters, digits and _, starting with a letter, at"
            " most 31 characters, in lower case, like main or fund_b",
        )  # fmt: skip
    return name


def check_strategy_name(strategy: str) -> str:
    if not _STRATEGY.match(strategy):
        raise InvalidAccount(
            "strategy", "a strategy name is 1 to 100 letters, digits, '.', '_' or '-', as in"
            " /webhook/{strategy}",
        )  # fmt: skip
    return strategy


def _positive(field_name: str, value: Decimal | int | None, most: Decimal | None = None) -> None:
    if value is None:
        return
    number = Decimal(value)
    if not number.is_finite() or number <= 0 or (most is not None and number > most):
        bound = f" and at most {number_text(most)}" if most is not None else ""
        raise InvalidAccount(field_name, f"{field_name} must be a number above 0{bound}")


def checked_account(account: Account) -> Account:
    """`account` once it keeps every rule.

    Raises:
        InvalidAccount: the first rule broken, its field named.
    """
    check_account_name(account.name)
    for connection in account.connections:
        if not _NAME.match(connection):
            raise InvalidAccount("connections", f"{connection[:40]!r} is not a connection name")
    for name, value in msgspec.structs.asdict(account.limits).items():
        _positive(name, value, MOST)
    sizing = account.sizing
    _positive("multiplier", sizing.multiplier, MAX_MULTIPLIER)
    if (sizing.qty_mode is None) != (sizing.quantity is None):
        raise InvalidAccount(
            "qty_mode", "qty_mode and quantity go together: set both (the account's own size)"
            " or neither (the alert's quantity)",
        )  # fmt: skip
    most = Decimal(100) if sizing.qty_mode in _PERCENT_MODES else MOST
    _positive("quantity", sizing.quantity, most)
    return account


def stricter(one: TradingState, other: TradingState) -> TradingState:
    """The trading state that allows less: halted over reducing only over active."""
    return one if _STRICTNESS[one] >= _STRICTNESS[other] else other


@dataclass(frozen=True, slots=True)
class AccountRules:
    """What execution applies to one account's signals."""

    account: str
    limits: RiskLimits
    sizing: SizingPolicy
    own_sizing: AccountSizing = AccountSizing()  # noqa: RUF009 - frozen: one shared is safe
    venues: frozenset[str] | None = None  # None: every configured venue
    # why venues the account names take no new entries (disabled, unknown), one sentence each
    unavailable: tuple[str, ...] = ()
    refused: str | None = None  # why no signal of this account may run (it is not kept)

    def sizing_terms(
        self, mode: QtyMode, quantity: Decimal | None
    ) -> tuple[QtyMode, Decimal | None, str | None]:
        """The mode and quantity an entry of the alert's `mode` and `quantity` is sized with
        for this account, and a sentence for the lineage when the account changed them."""
        own = self.own_sizing
        notes = []
        if own.qty_mode is not None and own.quantity is not None:
            mode, quantity = own.qty_mode, own.quantity
            notes.append(f"account {self.account} sizes every entry {number_text(quantity)}"
                         f" {mode.value}")  # fmt: skip
        if own.multiplier != 1:
            if quantity is None:
                mode, quantity = self.sizing.default_mode, self.sizing.default_quantity
            quantity *= own.multiplier
            notes.append(f"account {self.account} multiplies it by {number_text(own.multiplier)}"
                         f" ({number_text(quantity)} {mode.value})")  # fmt: skip
        return mode, quantity, "; ".join(notes) or None


def rules_for(
    name: str, account: Account | None, limits: RiskLimits, sizing: SizingPolicy
) -> AccountRules:
    """The rules of account `name` (`account`: as kept, None when it is not): the global limits
    and sizing with the account's own in their place. An account that is not kept, other than
    the implicit one, is refused and trades no venue: it was removed (its halt with it) or never
    added, and the global limits on every venue are not what it was given."""
    if account is None:
        if name != IMPLICIT:
            return AccountRules(
                name, limits, sizing, venues=frozenset(), refused=unknown_text(name)
            )
        return AccountRules(name, limits, sizing)
    own = account.limits.over(limits)
    cap = account.limits.max_order_notional
    policy = sizing if cap is None else msgspec.structs.replace(sizing, max_order_notional=cap)
    venues = frozenset(account.connections) or None
    return AccountRules(name, own, policy, account.sizing, venues)


@dataclass(frozen=True, slots=True)
class VenueAccess:
    """Which venues take new entries: an account that names no connection trades on `shared`
    (the venues of VENUES); a stored connection trades only for the accounts that name it, and
    only while it is enabled. A closed venue keeps driving its open brackets."""

    shared: frozenset[str]
    known: frozenset[str]  # every venue this process has built, closed or not
    closed: Mapping[str, str]  # venue -> why it takes no new entries, a clause

    def applied(self, rules: AccountRules) -> AccountRules:
        """`rules` with only the venues that take the account's new entries, and why the others
        it names do not."""
        if rules.venues is None:
            return replace(rules, venues=self.shared)
        why = []
        for name in sorted(rules.venues):
            if name in self.closed:
                why.append(f"connection {name} {self.closed[name]}")
            elif name not in self.known:
                why.append(f"no connection named {name} is known to this worker (removed, or"
                           " added in the last seconds)")  # fmt: skip
        open_venues = rules.venues & (self.known - self.closed.keys())
        return replace(rules, venues=open_venues, unavailable=tuple(why))


def no_venue_left(rules: AccountRules) -> str | None:
    """Why an account that names connections has none that takes a new entry, or None."""
    if rules.venues is None or rules.venues or not rules.unavailable:
        return None
    return f"account {rules.account} has no venue taking entries: " + "; ".join(rules.unavailable)


def unknown_text(name: str) -> str:
    """The sentence that refuses a signal or an alert for an account that is not kept."""
    return (
        f"no account is named {name[:40]}: add it (`signalgate accounts add {name[:40]}`) or send"
        " the alert without `account`, or with one that `signalgate accounts list` shows"
    )


def subscribers(subscriptions: Sequence[Subscription], strategy: str | None) -> tuple[str, ...]:
    """The accounts `strategy`'s alerts trade: its enabled subscriptions', by name."""
    if strategy is None:
        return ()
    return tuple(sorted({s.account for s in subscriptions if s.strategy == strategy and s.enabled}))


class AccountRefused(msgspec.Struct, frozen=True):
    """An alert that names an account it may not trade: `reason` says what to fix."""

    reason: str


def destinations(
    subscriptions: Sequence[Subscription],
    kept: Collection[str],
    strategy: str | None,
    account: str,
) -> tuple[str, ...] | AccountRefused:
    """The accounts an alert of `strategy` that names `account` trades: the strategy's enabled
    subscribers when it names none (the implicit account; none subscribed: it trades that),
    else () for its own account, which must be kept (`kept`: the accounts' names) and, when the
    strategy has subscriptions, hold an enabled one (an alert cannot name its way past them)."""
    if account == IMPLICIT:
        return subscribers(subscriptions, strategy)
    if account not in kept:
        return AccountRefused(unknown_text(account))
    own = [s for s in subscriptions if s.strategy == strategy]
    if own and not any(s.account == account and s.enabled for s in own):
        return AccountRefused(
            f"account {account} has no enabled subscription to {strategy}: subscribe it"
            f" (`signalgate subscriptions add {strategy} {account}`), or send the alert without"
            " `account` to trade the strategy's subscribers"
        )
    return ()


def fan_out(signal: Signal, accounts: Sequence[str]) -> list[Signal]:
    """One copy of `signal` per account in `accounts`, each on its account. A linked signal's
    unit gets an id per account, so that each account's legs make a unit of their own."""
    copies = []
    for account in accounts:
        link = signal.link
        if link is not None:
            digest = hashlib.sha256(account.encode()).hexdigest()[:8]
            link = msgspec.structs.replace(link, unit=f"{link.unit[:31]}.{digest}")
        copies.append(msgspec.structs.replace(signal, account=account, link=link))
    return copies
