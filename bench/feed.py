"""Synthetic feed benchmark: ticks generated per second on one core.

Run with `python -m bench.feed [--ticks N] [--symbols K]`.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from decimal import Decimal

from app.domain.synthetic import SymbolSpec, SyntheticMarket

TARGET = 200_000  # ticks/s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    specs = [
        SymbolSpec(f"S{i:02d}/USDT", Decimal(10 + 97 * i), volatility=0.001)
        for i in range(args.symbols)
    ]
    market = SyntheticMarket(specs, seed=args.seed, start=datetime(2024, 1, 1, tzinfo=UTC))
    began = time.perf_counter()
    count = sum(1 for _ in market.ticks(args.ticks))
    elapsed = time.perf_counter() - began
    book_began = time.perf_counter()
    books = 1_000
    for n in range(books):
        market.order_book(specs[n % len(specs)].symbol)
    book_elapsed = time.perf_counter() - book_began
    rate = count / elapsed
    verdict = "ok" if rate >= TARGET else "BELOW TARGET"
    print(
        f"synthetic feed: {count:,} ticks over {args.symbols} symbols in {elapsed:.2f} s = "
        f"{rate:,.0f} ticks/s (target >= {TARGET:,}/s: {verdict})"
    )
    print(f"order books (20 levels a side): {books / book_elapsed:,.0f}/s")


if __name__ == "__main__":
    main()
