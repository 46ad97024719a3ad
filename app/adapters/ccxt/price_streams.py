"""The venues whose public book stream a test proves against their fake
(tests/venues/binance_market.py, tests/integration/test_price_streams.py), without importing
ccxt.pro (every process reads this; only those that stream load the websocket layer).

ccxt's `urls['api']['ws']` keys (dotted) -> paths under a stream URL override
(`<VENUE>_STREAM_URL`, the fakes in tests).
"""

from __future__ import annotations

PRICE_STREAM_PATHS: dict[str, dict[str, str]] = {
    "binance": {"spot": "/ws"},
    "binanceusdm": {"linear": "/ws"},  # ccxt turns it into /public/ws for the depth stream
}
