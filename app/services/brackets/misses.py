"""When an order the venue never confirmed is gone for good: on a venue whose requests expire.

An order saved before it was sent, whose sender died or lost its answer, may never have reached
the venue, or may reach it late. Where the venue's requests expire (Binance's `recvWindow`,
Bybit's), a request older than the expiry is refused, so once the expiry has passed since the
order was last possibly sent, a "no such order" is final. The send time is not on record, so the
driver counts from what it saw itself: the first time IT found no such order (`first miss`).

Why that is late enough: a driver looks orders up only while it holds the account-and-symbol
lock. The worker that saved the order held that lock when it did; if this driver holds it now,
that worker is gone or its lease lapsed, and a holder whose lease may have lapsed sends nothing
(`app.ports.leases.lapsed`, asked right before each send, after the pre-send save). So every
request for the order was signed before this driver's first miss (or by this driver itself,
before it looked), and none can be executed after the first miss plus the expiry. A second miss
at least the expiry after the first settles the order as gone (`BracketDriver.settle_doubt`),
never re-sent: only the adapter's lost-create protocol re-sends.

The one case left: a holder that passed the lease check and stalled for longer than its lease
margin (a third of the lock's ttl) before ccxt signed the request. Its request would carry a
late timestamp. That stall would have to happen in a few lines of Python with no await between
them but the venue call itself.

Venues whose requests do not expire (`Exchange.request_expiry_seconds` None: the paper venues,
OKX, Kraken...) keep such an order in doubt until it is found or an operator settles it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.domain.brackets.bracket import Bracket
from app.ports.errors import LeaseLapsed
from app.ports.execution import lock_key
from app.ports.leases import lapsed

log = logging.getLogger("signalgate.brackets")


def refuse_lapsed(bracket: Bracket) -> None:
    """Right before a request for `bracket` goes to the venue: refuse it when the running
    task's lease of the bracket's lock may have lapsed.

    Raises:
        LeaseLapsed: as above; nothing is sent.
    """
    if lapsed(key := lock_key(bracket.account, bracket.symbol)):
        message = (f"the lease of {key} may have lapsed (not renewed in time): bracket"
                   f" {bracket.id} sends nothing more from this holder")  # fmt: skip
        log.error("STALE %s", message)
        raise LeaseLapsed(message)


@dataclass(eq=False)
class Misses:
    """The first miss this process saw of each order still missing, by client order id."""

    clock: Callable[[], float] = time.monotonic  # monotonic seconds
    _first: dict[str, float] = field(default_factory=dict)

    def missed(self, client_order_id: str) -> float:
        """Record a miss of the order now; the seconds since its first miss (0 for the first)."""
        now = self.clock()
        return now - self._first.setdefault(client_order_id, now)

    def forget(self, client_order_id: str) -> None:
        """The order was found or settled: a later miss starts over."""
        self._first.pop(client_order_id, None)
