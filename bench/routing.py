"""Smart routing benchmark: choose_route calls per second over 5 venues with 20-level books.

Each venue's book is shifted by a few basis points and has its own fee, so every call walks all
five books and compares them. Run with `python -m bench.routing [--calls N]`.
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

from app.domain.market import Level, Market, OrderBook
from app.domain.orders import Side
from app.domain.routing import Route, VenueQuote, choose_route

SYMBOL = "BTC/USDT"
VENUES = 5
LEVELS = 20


def venue_quote(index: int) -> VenueQuote:
    offset = Decimal(index) / 10  # quote units apart
    mid, tick, size = Decimal(50_000) + offset, Decimal("0.5"), Decimal("0.01")
    book = OrderBook(
        SYMBOL,
        bids=tuple(Level(mid - tick * (i + 1), size) for i in range(LEVELS)),
        asks=tuple(Level(mid + tick * (i + 1), size) for i in range(LEVELS)),
    )
    market = Market(SYMBOL, "BTC", "USDT", taker_fee=Decimal("0.001") - Decimal(index) / 10_000)
    return VenueQuote(
        f"venue{index}", "paper", market, book, True, Decimal(10_000_000), Decimal(100)
    )


def run(calls: int, amount: Decimal) -> float:
    quotes = [venue_quote(i) for i in range(VENUES)]
    sides = (Side.BUY, Side.SELL)
    started = time.perf_counter()
    for n in range(calls):
        result = choose_route(SYMBOL, sides[n & 1], amount, quotes)
    elapsed = time.perf_counter() - started
    assert isinstance(result, Route), result  # a benchmark of refusals would measure nothing
    return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    print(
        f"smart routing: {args.calls:,} choose_route calls, {VENUES} venues x {LEVELS}-level books"
    )
    for label, amount in (("1 level", Decimal("0.005")), ("15 levels", Decimal("0.15"))):
        rate = run(args.calls, amount)
        print(f"  {label:>9} walked per venue: {rate:>9,.0f} calls/s")


if __name__ == "__main__":
    main()
