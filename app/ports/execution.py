"""What execution needs from the outside world besides the venues (`app.ports.exchange`)."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, nullcontext
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from app.domain.accounts import stricter
from app.domain.brackets.bracket import Bracket
from app.domain.orders import Side
from app.domain.reservations import Reserved, RestingEntry
from app.domain.risk_values import TradingState
from app.domain.signals import Signal, SignalStatus


class PendingSignal(msgspec.Struct, frozen=True):
    id: str
    received_at: datetime
    status: SignalStatus
    signal: Signal
    started: bool = False  # a bracket exists: an earlier run began it (resume, place nothing twice)


class LineageStep(msgspec.Struct, frozen=True):
    """One step of a signal's lineage (the signal id of a bracket's own steps is the bracket's)."""

    signal_id: str
    at: datetime
    step: str  # what happened: sizing, route, decision, order, fill, close...
    detail: str | None = None  # one sentence for people
    data: dict[str, Any] | None = None  # the figures behind it, for machines


class SignalState(msgspec.Struct, frozen=True):
    """What a job needs to know of its signals before it takes their locks."""

    id: str
    account: str
    symbol: str
    status: SignalStatus


class Activity(msgspec.Struct, frozen=True):
    """An account's recent trading, for the risk gate."""

    # today's realized P&L by quote currency: every change of a bracket's realized P&L (a
    # partial take-profit as it fills, a stop-loss, a close), on the day it was seen
    realized_today: dict[str, Decimal] = {}
    orders_last_minute: int = 0  # replacements of a stop-loss (trailed, resized) not counted
    last_stop_loss_at: dict[str, datetime] = {}


class Holding(msgspec.Struct, frozen=True):
    """What the open brackets of one venue, symbol and side hold, as the risk gate sees it."""

    venue: str
    symbol: str
    side: Side  # the entries' side
    position: Decimal  # held now, base units (0 while no entry has filled)
    entry_price: Decimal | None  # the average over the filled entries
    brackets: int = 1

    @classmethod
    def summed(
        cls, venue: str, symbol: str, side: str, position: Decimal, cost: Decimal, brackets: int
    ) -> Holding:
        """From sums over brackets: `cost` is the sum of position x entry price (no price while
        nothing is held or no entry price is known)."""
        price = cost / position if position and cost else None
        return cls(venue, symbol, Side(side), position, price, brackets)


def leg_number(pending: PendingSignal) -> int:
    """Where a linked signal's leg comes in its unit (0 for a signal without a link)."""
    return pending.signal.link.leg if pending.signal.link is not None else 0


class AccountState(msgspec.Struct, frozen=True):
    """What the risk gate reads of an account for one signal, read together."""

    holdings: list[Holding]
    activity: Activity
    trading_state: TradingState  # the global one (the kill switch)
    resting: tuple[RestingEntry, ...] = ()  # the open brackets' entry orders not filled yet
    on_record: frozenset[str] = frozenset()  # the reservations asked about with an open bracket
    reserved: Reserved = Reserved()  # the approved entries on their way (read before the rest)
    # the symbol's open brackets with an order in doubt (sent, never confirmed; read in the same
    # view): no new entry on the symbol while there is one
    in_doubt: tuple[Bracket, ...] = ()
    account_trading_state: TradingState = TradingState.ACTIVE  # the account's own

    @property
    def strictest_state(self) -> TradingState:
        """The state its signals obey: the stricter of the global one and the account's."""
        return stricter(self.trading_state, self.account_trading_state)


class OrderQuery(msgspec.Struct, frozen=True):
    signal_id: str | None = None
    account: str | None = None
    symbol: str | None = None
    venue: str | None = None
    state: str | None = None
    open_only: bool = False
    before: int | None = None  # cursor: the last row id of the previous page
    limit: int = 100


class OrderView(msgspec.Struct, frozen=True):
    """One order as the API lists it."""

    id: int
    signal_id: str
    account: str
    venue: str
    symbol: str
    leg: str
    client_order_id: str
    order_id: str | None
    side: str
    kind: str
    state: str
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    price: Decimal | None
    trigger_price: Decimal | None
    fee: Decimal
    fee_currency: str | None
    reduce_only: bool
    created_at: datetime
    updated_at: datetime


class ExecutionStore(Protocol):
    """Brackets, their orders and each signal's lineage, in SQL."""

    def signal(self, signal_id: str) -> PendingSignal | None: ...

    def states(self, signal_ids: Sequence[str]) -> dict[str, SignalState]:
        """The signals found among `signal_ids`, by id (without the signal itself)."""
        ...

    def pending(self, account: str, symbol: str, up_to: str) -> list[PendingSignal]:
        """Queued signals of one account and symbol up to `up_to` (included), oldest first."""
        ...

    # whether `pending_and_account` saves a round trip (PostgreSQL): else the account is read
    # when a signal needs it
    reads_together: bool

    def pending_and_account(
        self, account: str, symbol: str, up_to: str, now: datetime, reserved: Collection[str]
    ) -> tuple[list[PendingSignal], AccountState]:
        """`pending`, and the account as `account_state` reads it, together."""
        ...

    def unit(self, unit_id: str) -> list[PendingSignal]:
        """Every signal kept for the unit of linked signals `unit_id`, whatever its status,
        in leg order."""
        ...

    def record(self, step: LineageStep, *, status: SignalStatus | None = None) -> None:
        """Add one step to its signal's lineage; with `status`, the signal's status changes too
        (written at once, with everything kept back)."""
        ...

    def save_bracket(self, bracket: Bracket, at: datetime) -> None:
        """Insert or update the bracket and its orders (unique per venue and client order id)."""
        ...

    def batch(self, *fences: Fence) -> AbstractContextManager[None]:
        """A unit of work: the lineage steps and bracket saves made inside the block are kept back
        and written together when the block exits, whether it ends or raises (a status change,
        or a read that needs the saves, writes them earlier). Outside any batch, a step or a
        save is written at once.

        Batches nest, and leaving any of them writes everything kept back so far, the enclosing
        batches' too. That is how an order is on record before it is sent: its bracket is saved
        in a batch of its own right before the request (`with store.batch(): store.save_bracket(
        ...)`, then `create_order`). A batch is held around everything done under an
        account-and-symbol lock, so that what it keeps back is written before the lock is let go.

        A plain context manager, not an async one: the store is synchronous (each call blocks
        the loop for its round trips), and entering or leaving a batch awaits nothing.

        `fences`: the locks held around the block (`KeyLocks.hold`), given to the outermost batch
        under them. The block is then their holder's, and every bracket save in it is a
        compare-and-swap: it is written only if the bracket is still as the holder last read or
        wrote it in the block (a bracket it never read there must be new) and no holder with a
        newer fencing token of its key saved it since. A save that fails raises `StaleBracket`
        where it is written (the save itself, or the flush of a batch, the one right before a
        send included), and every later save of that bracket in the block raises at once: the
        stale holder sends nothing more for it. Outside such a block a save is written as it is.

        Raises:
            StaleBracket: as above.
        """
        ...

    def bracket(self, bracket_id: str) -> Bracket | None: ...

    def open_brackets(
        self, account: str | None = None, symbol: str | None = None
    ) -> list[Bracket]: ...

    def open_bracket_versions(self) -> dict[str, object]:
        """Every open bracket's id and a value that changes whenever the bracket is saved."""
        ...

    def brackets_by_id(self, bracket_ids: Sequence[str]) -> list[Bracket]: ...

    def account_state(
        self, account: str, symbol: str, now: datetime, reserved: Collection[str] = ()
    ) -> AccountState:
        """What the account's open brackets hold (per venue, symbol and side), their entry
        orders not filled yet, its recent activity and the trading state, in one read; which
        of the `reserved` entry ids have an open bracket (`on_record`), and the symbol's open
        brackets with an order in doubt (`in_doubt`)."""
        ...

    def trading_state(self, account: str | None = None) -> TradingState:
        """The global trading state; with `account`, the stricter of it and the account's."""
        ...

    def set_trading_state(self, state: TradingState, at: datetime, reason: str) -> None:
        """Set the global trading state (an account's is set with the account)."""
        ...

    def orders(self, query: OrderQuery) -> list[OrderView]: ...


class Fence(msgspec.Struct, frozen=True):
    """What a holder of an account-and-symbol lock holds: the key, and its fencing token, larger
    than the token of every earlier holder of the key. A save made under the lock carries the
    token (`ExecutionStore.batch`), so that a holder whose lease lapsed cannot overwrite what a
    newer holder saved."""

    key: str
    token: int


class KeyLocks(Protocol):
    """Mutual exclusion per account and symbol across every worker and the monitor."""

    def hold(self, key: str) -> AbstractAsyncContextManager[Fence]:
        """Wait for the key and hold it for the block; yields the holder's fence.

        Raises:
            Busy: the key could not be had in time; the job is retried later.
        """
        ...

    def try_hold(self, key: str) -> AbstractAsyncContextManager[Fence | None]:
        """Hold the key for the block if it is free now; yields the fence, or None if it is not
        held."""
        ...


class Busy(Exception):
    """A lock could not be taken in time."""


def lock_key(account: str, symbol: str) -> str:
    return f"{account}:{symbol}"


def next_token(last: int, now_us: int) -> int:
    """A fencing token after `last`: the time in microseconds since the epoch, or one more than
    `last` when that is not later. Time-based, so that tokens keep growing when the record of
    the last one is lost (a Redis restarted without its data)."""
    return max(last + 1, now_us)


class NoLocks:
    """`KeyLocks` for a single process (tests, backtests): every key is always free, and each
    hold gets a fencing token larger than every earlier one in the process."""

    _last = 0  # shared by every instance: a process's tokens only grow

    def hold(self, key: str) -> AbstractAsyncContextManager[Fence]:
        return nullcontext(self._fence(key))

    def try_hold(self, key: str) -> AbstractAsyncContextManager[Fence | None]:
        return nullcontext(self._fence(key))

    def _fence(self, key: str) -> Fence:
        NoLocks._last = next_token(NoLocks._last, time.time_ns() // 1000)
        return Fence(key, NoLocks._last)
