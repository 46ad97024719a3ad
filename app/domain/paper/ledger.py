"""A paper venue's records -- wallets, orders, fills -- and what changed in them since the
last save, so a store writes only those rows.

Closed orders and fills older than a given time can be pruned from memory (`prune`): a long
run stays bounded, and the store keeps the full history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from itertools import islice

import msgspec

from app.domain.market import Market
from app.domain.orders import Fill, Side
from app.domain.paper.state import OPEN_STATES, PaperBalance, PaperChanges, PaperOrder

_ZERO = Decimal(0)
_BUY = Side.BUY
_copy = msgspec.structs.replace  # with no changes: a shallow copy, enough for immutable fields


class PaperLedger:
    """The records of one venue, with change tracking. Used by `PaperVenue` only."""

    def __init__(
        self,
        wallets: Iterable[PaperBalance],
        next_order_number: int = 1,
        *,
        saved: bool = False,
        history_since: datetime | None = None,
    ) -> None:
        self.wallets = {wallet.asset: wallet for wallet in wallets}
        self.orders: dict[str, PaperOrder] = {}
        self.by_client_id: dict[str, PaperOrder] = {}
        self.resting: dict[str, dict[str, PaperOrder]] = {}  # symbol -> id -> order, by time
        self.fills: list[Fill] = []
        self.next_order_number = next_order_number
        # None: memory holds every order and fill the venue ever had; else only the closed
        # orders and fills from this time on (older ones are in the store, if anywhere).
        self.history_since = history_since
        self._closed: dict[str, PaperOrder] = {}  # in closing order, for pruning
        self._dirty_orders: dict[str, PaperOrder] = {}
        self._dirty_wallets: dict[str, PaperBalance] = {} if saved else dict(self.wallets)
        self._new_fills: list[Fill] = []
        self._unsaved_markets = not saved
        self._saved_next_order_number = next_order_number if saved else 0

    # --- records ---------------------------------------------------------------------------

    def wallet(self, asset: str) -> PaperBalance:
        """The wallet of `asset`, to change: created when missing, saved with the next changes."""
        wallet = self.wallets.get(asset)
        if wallet is None:
            wallet = self.wallets[asset] = PaperBalance(asset)
        self._dirty_wallets[asset] = wallet
        return wallet

    def peek(self, asset: str) -> PaperBalance:
        """The wallet of `asset`, to read only (an empty one, not kept, when missing)."""
        wallet = self.wallets.get(asset)
        return PaperBalance(asset) if wallet is None else wallet

    def keep(self, order: PaperOrder) -> None:
        """Record a new order under the next order number (already its id)."""
        self.next_order_number += 1
        self.orders[order.order_id] = order
        self.by_client_id[order.client_order_id] = order
        self._dirty_orders[order.order_id] = order

    def touch(self, order: PaperOrder) -> None:
        """Mark `order` as changed."""
        self._dirty_orders[order.order_id] = order

    def rest(self, order: PaperOrder) -> None:
        self.resting.setdefault(order.symbol, {})[order.order_id] = order

    def closed(self, order: PaperOrder) -> None:
        """`order` was just filled, cancelled or expired: off the book, in line for pruning."""
        resting = self.resting.get(order.symbol)
        if resting:
            resting.pop(order.order_id, None)
        self._closed[order.order_id] = order

    # --- accounting ----------------------------------------------------------------------

    def take(
        self,
        order: PaperOrder,
        market: Market,
        matches: list[tuple[Decimal, Decimal]],
        now: datetime,
    ) -> None:
        """Taker fills of `order`, one per (price, size) match, balances moved from free."""
        if not matches:
            return
        filled, cost, fee = self._record(order, market, matches, market.taker_fee, now, False)
        base, quote = self.wallet(market.base), self.wallet(market.quote)
        if order.side is _BUY:
            quote.free -= cost + fee
            base.free += filled
        else:
            base.free -= filled
            quote.free += cost - fee

    def make(self, order: PaperOrder, market: Market, size: Decimal, now: datetime) -> None:
        """A maker fill of resting `order` at its own price, paid from its hold."""
        price = order.price
        assert price is not None
        filled, cost, fee = self._record(
            order, market, [(price, size)], market.maker_fee, now, True
        )
        base, quote = self.wallet(market.base), self.wallet(market.quote)
        if order.side is _BUY:
            spent = cost + fee
            quote.reserved -= spent
            order.reserved -= spent
            base.free += filled
        else:
            base.reserved -= filled
            order.reserved -= filled
            quote.free += cost - fee

    def hold(self, order: PaperOrder, asset: str, amount: Decimal) -> None:
        """Reserve `amount` of `asset` for resting `order`, and put it on the book."""
        wallet = self.wallet(asset)
        wallet.free -= amount
        wallet.reserved += amount
        order.reserved = amount
        self.rest(order)

    def release(self, order: PaperOrder, market: Market) -> None:
        """Give what `order` still holds back to free."""
        if not order.reserved:
            return
        wallet = self.wallet(market.quote if order.side is _BUY else market.base)
        wallet.reserved -= order.reserved
        wallet.free += order.reserved
        order.reserved = _ZERO

    def _record(
        self,
        order: PaperOrder,
        market: Market,
        matches: list[tuple[Decimal, Decimal]],
        fee_rate: Decimal,
        now: datetime,
        maker: bool,
    ) -> tuple[Decimal, Decimal, Decimal]:
        filled = cost = fee = _ZERO
        fills, new_fills = self.fills, self._new_fills
        for price, size in matches:
            notional = price * size
            charge = notional * fee_rate
            fill = Fill(
                order.order_id,
                order.client_order_id,
                order.symbol,
                order.side,
                price,
                size,
                charge,
                market.quote,
                now,
                maker,
            )
            fills.append(fill)
            new_fills.append(fill)
            filled += size
            cost += notional
            fee += charge
        order.filled += filled
        order.cost += cost
        order.fee += fee
        order.updated_at = now
        return filled, cost, fee

    def restore(self, orders: Iterable[PaperOrder], fills: Iterable[Fill]) -> None:
        """Take saved orders (by order number) and fills (by time), marking nothing changed."""
        closed = []
        for order in orders:
            self.orders[order.order_id] = order
            self.by_client_id[order.client_order_id] = order
            if order.state in OPEN_STATES:
                self.rest(order)
            else:
                closed.append(order)
        closed.sort(key=lambda order: order.updated_at)
        self._closed = {order.order_id: order for order in closed}
        self.fills = list(fills)

    # --- saving ----------------------------------------------------------------------------

    def changes(self, markets: Iterable[Market]) -> PaperChanges:
        """What changed since the last call, as copies; the tracking starts afresh."""
        changes = PaperChanges(
            orders=tuple(_copy(order) for order in self._dirty_orders.values()),
            balances=tuple(_copy(wallet) for wallet in self._dirty_wallets.values()),
            fills=tuple(self._new_fills),
            next_order_number=(
                None
                if self.next_order_number == self._saved_next_order_number
                else self.next_order_number
            ),
            markets=tuple(markets) if self._unsaved_markets else None,
        )
        self._dirty_orders = {}
        self._dirty_wallets = {}
        self._new_fills = []
        self._unsaved_markets = False
        self._saved_next_order_number = self.next_order_number
        return changes

    def requeue(self, changes: PaperChanges) -> None:
        """Take back `changes` a failed save did not keep: the next `changes()` has them again
        (with the records as they are by then)."""
        for order in changes.orders:
            self._dirty_orders.setdefault(order.order_id, self.orders.get(order.order_id, order))
        for wallet in changes.balances:
            self._dirty_wallets.setdefault(wallet.asset, self.wallets[wallet.asset])
        self._new_fills[:0] = changes.fills
        if changes.markets is not None:
            self._unsaved_markets = True
        if changes.next_order_number is not None:
            self._saved_next_order_number = 0

    # --- pruning ---------------------------------------------------------------------------

    @property
    def history_size(self) -> int:
        """Closed orders and fills in memory."""
        return len(self._closed) + len(self.fills)

    def cut_keeping(self, keep: int) -> datetime | None:
        """The time before which `prune` leaves at most `keep` closed orders and `keep` fills
        (more when several share the cut's time); None when there are no more than that."""
        cuts = []
        if len(self._closed) > keep:
            oldest_kept = next(islice(self._closed.values(), len(self._closed) - keep, None))
            cuts.append(oldest_kept.updated_at)
        if len(self.fills) > keep:
            cuts.append(self.fills[len(self.fills) - keep].at)
        return max(cuts, default=None)

    def prune(self, before: datetime) -> int:
        """Forget closed orders last changed, and fills made, before `before`; the count of
        orders and fills forgotten."""
        pruned_orders = []
        for order in self._closed.values():
            if order.updated_at >= before:
                break  # closed in time order; a rare late straggler waits for the next prune
            pruned_orders.append(order)
        for order in pruned_orders:
            del self._closed[order.order_id]
            self.orders.pop(order.order_id, None)
            self.by_client_id.pop(order.client_order_id, None)
        fills = self.fills
        old = 0
        while old < len(fills) and fills[old].at < before:
            old += 1
        del fills[:old]
        pruned = len(pruned_orders) + old
        if pruned and (self.history_since is None or self.history_since < before):
            self.history_since = before
        return pruned
