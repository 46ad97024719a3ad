"""Each ccxt venue's default request budget for the bracket monitor and the reconciliation, a
minute, below the venue's documented rate limit (`<VENUE>_REQUEST_BUDGET` overrides it). A venue
not listed has no budget unless one is set. The documented limits, as read from each venue's API
docs, with the weight of the reads the monitor sends:

- binance (spot): 6,000 request weight a minute per IP; an order query weighs 4 (GET
  /api/v3/order), a depth of 5 weighs 5: about 1,300 such reads a minute. Budget: 600.
- binanceusdm: 2,400 request weight a minute per IP; an order query weighs 1, an algo order
  query 1, a depth of 5 weighs 2. Budget: 1,200.
- bybit (v5): 10 requests a second per UID on the order and execution queries (600 a minute).
  Budget: 300.
- okx: 60 requests per 2 seconds per UID on order details, 20 per 2 seconds on algo order
  details (600 a minute). Budget: 300.
"""

from __future__ import annotations

DEFAULT_BUDGETS: dict[str, int] = {
    "binance": 600,
    "binanceusdm": 1200,
    "bybit": 300,
    "okx": 300,
}
