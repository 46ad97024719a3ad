"""Tickers as alerts write them -> unified ccxt-style symbols and a venue hint.

Accepted forms: ``BTCUSDT``, ``BINANCE:BTCUSDT``, ``BTCUSDT.P``, ``BTCUSDTPERP``, ``BTC/USDT``,
``BTC-USDT``, ``BTC_USDT``, ``BTC-USDT-SWAP``, ``BTC/USDT:USDT``. A perpetual settles in its quote
currency (linear), except a USD-quoted one, which settles in its base (inverse): ``BTC/USD:BTC``.
A concatenated ticker is split at the longest known quote currency that leaves a base of at
least three characters (DOTUSD is DOT/USD, not DO/TUSD), else at the longest leaving any (OPUSDT).
"""

from __future__ import annotations

from functools import lru_cache

MAX_TICKER_LENGTH = 40

# TradingView exchange names -> ccxt ids; any other name is lower-cased.
VENUE_IDS: dict[str, str] = {
    "BINANCE": "binance",
    "BINANCEUS": "binanceus",
    "BYBIT": "bybit",
    "OKX": "okx",
    "COINBASE": "coinbase",
    "KRAKEN": "kraken",
    "BITFINEX": "bitfinex",
    "KUCOIN": "kucoin",
    "GATEIO": "gate",
    "GATE": "gate",
    "BINGX": "bingx",
    "BITGET": "bitget",
    "CRYPTOCOM": "cryptocom",
}

# Quote currencies a concatenated ticker may end with, longest first.
_QUOTE_LIST = ["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "TRY", "BRL"]
_QUOTE_LIST += ["JPY", "BTC", "ETH", "BNB"]
QUOTES: tuple[str, ...] = tuple(sorted(_QUOTE_LIST, key=len, reverse=True))

# Suffixes that mark a perpetual swap, longest first so "_PERP" is not read as "PERP".
PERPETUAL_SUFFIXES: tuple[str, ...] = (".PERP", "-PERP", "_PERP", "-SWAP", "_SWAP", "PERP", ".P")

CURRENCY_ALIASES: dict[str, str] = {"XBT": "BTC"}  # Kraken and BitMEX spell bitcoin XBT

_INVERSE_QUOTES = frozenset({"USD"})


class SymbolError(ValueError):
    """A ticker that cannot be read as a market; the message says what to fix."""


def venue_id(name: str) -> str:
    """The ccxt id for a TradingView exchange name (``BINANCE`` -> ``binance``)."""
    upper = name.strip().upper()
    return VENUE_IDS.get(upper, upper.lower())


def quote_currency(symbol: str) -> str:
    """The quote currency of a unified symbol: USDT of BTC/USDT and of BTC/USDT:USDT."""
    return symbol.partition("/")[2].partition(":")[0]


def normalize_symbol(ticker: str) -> tuple[str, str | None]:
    """Read a ticker as an alert wrote it.

    Args:
        ticker: ``BTCUSDT``, ``BINANCE:BTCUSDT.P``, ``BTC/USDT``, ``BTC-USDT-SWAP`` and the like.

    Returns:
        The unified symbol (``BTC/USDT``, ``BTC/USDT:USDT``) and the venue hint as a ccxt id, or
        None when the ticker names no exchange.

    Raises:
        SymbolError: the ticker is empty, too long, junk, or cannot be split into base and quote.
    """
    return _normalize(ticker.strip())


@lru_cache(maxsize=4096)
def _normalize(text: str) -> tuple[str, str | None]:
    if not text:
        raise SymbolError("The symbol is empty; send a ticker such as BTCUSDT or BINANCE:BTCUSDT.")
    if len(text) > MAX_TICKER_LENGTH:
        raise SymbolError(
            f"The symbol is longer than {MAX_TICKER_LENGTH} characters; "
            "send a ticker such as BTCUSDT."
        )
    if not text.isascii():  # before upper(): "ß".upper() is "SS"
        raise _junk(text)
    ticker = text.upper()
    market, venue = ticker, None
    prefix, colon, rest = ticker.partition(":")
    if colon and "/" not in prefix:  # "BINANCE:..."; in "BTC/USDT:USDT" the colon marks the settle
        if not _is_code(prefix):
            raise _junk(ticker)
        market, venue = rest, venue_id(prefix)
    return _market(market, ticker), venue


def _market(text: str, ticker: str) -> str:
    perpetual = False
    for suffix in PERPETUAL_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text, perpetual = text[: -len(suffix)], True
            break
    pair, colon, settle = text.partition(":")
    if colon and (perpetual or not _is_code(settle)):
        raise _junk(ticker)
    base, quote = _split(pair, ticker)
    if colon:
        return f"{base}/{quote}:{CURRENCY_ALIASES.get(settle, settle)}"
    if perpetual:
        return f"{base}/{quote}:{base if quote in _INVERSE_QUOTES else quote}"
    return f"{base}/{quote}"


def _split(pair: str, ticker: str) -> tuple[str, str]:
    for separator in "/-_":
        if separator in pair:
            parts = pair.split(separator)
            if len(parts) != 2 or not all(_is_code(part) for part in parts):
                raise _junk(ticker)
            return _pair(parts[0], parts[1], ticker)
    if not _is_code(pair):
        raise _junk(ticker)
    # Longest quote first, but one that leaves a base of 3+ characters wins over one that leaves
    # less: DOTUSD is DOT/USD, not DO/TUSD; BNBUSD is BNB/USD, not BN/BUSD; OPUSDT is still OP/USDT.
    matches = [quote for quote in QUOTES if pair.endswith(quote) and len(pair) > len(quote)]
    if not matches:
        raise SymbolError(
            f"Cannot tell the base from the quote currency in {ticker!r}; write it as BASE/QUOTE, "
            "such as BTC/USDT."
        )
    quote = next((q for q in matches if len(pair) - len(q) >= 3), matches[0])
    return _pair(pair[: -len(quote)], quote, ticker)


def _pair(base: str, quote: str, ticker: str) -> tuple[str, str]:
    base, quote = CURRENCY_ALIASES.get(base, base), CURRENCY_ALIASES.get(quote, quote)
    # A quote starting with a digit is a futures expiry (BTCUSD_240628), which is not supported.
    if base == quote or not quote[0].isalpha():
        raise SymbolError(
            f"{ticker!r} is not a spot or perpetual market; send one such as BTC/USDT."
        )
    return base, quote


def _is_code(text: str) -> bool:
    return 0 < len(text) <= 20 and text.isascii() and text.isalnum()


def _junk(text: str) -> SymbolError:
    return SymbolError(
        f"The symbol {text!r} has characters a ticker cannot have; send letters and digits such as "
        "BTCUSDT, BTC/USDT or BINANCE:BTCUSDT.P."
    )
