"""Paper venue benchmark: market orders filled per second, in process, against a 20-level book.

Alternates buys and sells of the same amount so balances hold; the book is built once.
Run with `python -m bench.paper [--orders N]`.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from decimal import Decimal

from app.domain.market import Level, Market, OrderBook
from app.domain.orders import OrderKind, OrderRequest, Side
from app.domain.paper import PaperVenue

TARGET = 20_000  # market orders per second
SYMBOL = "BTC/USDT"


def twenty_level_book() -> OrderBook:
    mid = Decimal(50_000)
    tick, size = Decimal("0.5"), Decimal("0.01")
    return OrderBook(
        SYMBOL,
        bids=tuple(Level(mid - tick * (i + 1), size) for i in range(20)),
        asks=tuple(Level(mid + tick * (i + 1), size) for i in range(20)),
    )


def run(orders: int, amount: Decimal) -> float:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    venue = PaperVenue(
        "paper",
        [Market(SYMBOL, "BTC", "USDT")],
        {"USDT": Decimal(10_000_000), "BTC": Decimal(100)},
    )
    venue.on_book(twenty_level_book(), now)
    requests = [
        OrderRequest(
            f"bench{i}", SYMBOL, Side.BUY if i % 2 == 0 else Side.SELL, OrderKind.MARKET, amount
        )
        for i in range(orders)
    ]
    create = venue.create_order
    started = time.perf_counter()
    for request in requests:
        create(request, now)
    elapsed = time.perf_counter() - started
    filled = sum(1 for o in (venue.order(str(i + 1)) for i in range(orders)) if o.filled == amount)
    assert filled == orders, f"only {filled} of {orders} filled"
    return orders / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    args = parser.parse_args()
    print(f"paper venue: {args.orders:,} market orders, 20-level book (target >= {TARGET:,}/s)")
    for label, amount in (("1 level each", Decimal("0.005")), ("3 levels each", Decimal("0.025"))):
        rate = run(args.orders, amount)
        verdict = "ok" if rate >= TARGET else "BELOW TARGET"
        print(f"  {label:>14}: {rate:>10,.0f} orders/s  [{verdict}]")


if __name__ == "__main__":
    main()
