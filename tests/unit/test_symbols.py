import pytest

from app.domain.symbols import SymbolError, normalize_symbol, venue_id


@pytest.mark.parametrize(
    ("ticker", "symbol", "venue"),
    [
        ("BTCUSDT", "BTC/USDT", None),
        ("BINANCE:BTCUSDT", "BTC/USDT", "binance"),
        ("BINANCE:BTCUSDT.P", "BTC/USDT:USDT", "binance"),
        ("BTCUSDT.P", "BTC/USDT:USDT", None),
        ("BTC/USDT", "BTC/USDT", None),
        ("BTC-USDT", "BTC/USDT", None),
        ("BTC_USDT", "BTC/USDT", None),
        ("btcusdt", "BTC/USDT", None),
        ("  BTCUSDT  ", "BTC/USDT", None),
        ("BTC/USDT:USDT", "BTC/USDT:USDT", None),
        ("BTC/USD:BTC", "BTC/USD:BTC", None),
        ("ETHUSDC", "ETH/USDC", None),
        ("SOLBTC", "SOL/BTC", None),
        ("BTCUSDTPERP", "BTC/USDT:USDT", None),
        ("BTC-USDT-SWAP", "BTC/USDT:USDT", None),
        ("BTC_USDT_PERP", "BTC/USDT:USDT", None),
        ("XBTUSD", "BTC/USD", None),
        ("BTCUSD.P", "BTC/USD:BTC", None),
        ("BTCUSD_PERP", "BTC/USD:BTC", None),
        ("BTC-USD-SWAP", "BTC/USD:BTC", None),
        ("BYBIT:ETHUSDT.P", "ETH/USDT:USDT", "bybit"),
        ("BINANCEUS:BTCUSD", "BTC/USD", "binanceus"),
        ("OKX:BTC-USDT-SWAP", "BTC/USDT:USDT", "okx"),
        ("COINBASE:BTCUSD", "BTC/USD", "coinbase"),
        ("KRAKEN:XBTUSD", "BTC/USD", "kraken"),
        ("BITFINEX:BTCUSD", "BTC/USD", "bitfinex"),
        ("KUCOIN:BTCUSDT", "BTC/USDT", "kucoin"),
        ("GATEIO:BTCUSDT", "BTC/USDT", "gate"),
        ("GATE:BTCUSDT", "BTC/USDT", "gate"),
        ("BINGX:BTCUSDT", "BTC/USDT", "bingx"),
        ("BITGET:BTCUSDT.P", "BTC/USDT:USDT", "bitget"),
        ("CRYPTOCOM:BTCUSDT", "BTC/USDT", "cryptocom"),
        ("MEXC:BTCUSDT", "BTC/USDT", "mexc"),  # unknown names are lower-cased
        ("binance:btcusdt.p", "BTC/USDT:USDT", "binance"),
        ("BINANCE:BTC/USDT:USDT", "BTC/USDT:USDT", "binance"),
        # The longest quote wins, unless it leaves a base under three characters.
        ("BTCFDUSD", "BTC/FDUSD", None),
        ("BTCTUSD", "BTC/TUSD", None),
        ("BTCBUSD", "BTC/BUSD", None),
        ("DOTUSD", "DOT/USD", None),
        ("BNBUSD", "BNB/USD", None),
        ("ETHEUR", "ETH/EUR", None),
        ("BTCTRY", "BTC/TRY", None),
        ("OPUSDT", "OP/USDT", None),
        ("WUSDT", "W/USDT", None),
        ("1INCHUSDT", "1INCH/USDT", None),
        ("ETHDAI", "ETH/DAI", None),
        ("BNBETH", "BNB/ETH", None),
    ],
)
def test_normalize_symbol(ticker: str, symbol: str, venue: str | None) -> None:
    assert normalize_symbol(ticker) == (symbol, venue)


@pytest.mark.parametrize(
    ("ticker", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("B" * 41, "longer than 40"),
        ("BTC" * 1000, "longer than 40"),
        ("USDT", "base from the quote"),
        ("BTCXYZ", "base from the quote"),
        ("BTC USDT", "characters"),
        ("BTC/USDT/EUR", "characters"),
        ("BTC--USDT", "characters"),
        ("BTC/", "characters"),
        ("/USDT", "characters"),
        (":BTCUSDT", "characters"),
        ("BTC::USDT", "characters"),
        ("BIN ANCE:BTCUSDT", "characters"),
        ("BTC/USDT:USDT.P", "characters"),
        ("{{ticker}}", "characters"),
        ("BTC\x00USDT", "characters"),
        ("BTC\nUSDT", "characters"),
        ("ßTCUSDT", "characters"),  # upper() would turn it into SSTCUSDT
        ("\uff22\uff34\uff23\uff35\uff33\uff34", "characters"),  # full-width letters
        ("BTC😀USDT", "characters"),
        ("BTCUSDT;DROP TABLE", "characters"),
        ("BTCUSD_240628", "not a spot or perpetual"),
        ("BTCBTC", "not a spot or perpetual"),
        ("BTC/BTC", "not a spot or perpetual"),
        ("A" * 21 + "/USDT", "characters"),
    ],
)
def test_junk_tickers_say_what_to_fix(ticker: str, says: str) -> None:
    with pytest.raises(SymbolError, match=says) as caught:
        normalize_symbol(ticker)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).endswith(".")
    assert len(str(caught.value)) < 200  # never echoes a huge input


def test_hostile_input_is_rejected_quickly() -> None:
    # Linear string work only: a megabyte of separators is refused by its length.
    with pytest.raises(SymbolError, match="longer"):
        normalize_symbol("-_/:" * 250_000)


@pytest.mark.parametrize(
    ("name", "ccxt_id"),
    [("BINANCE", "binance"), ("gateio", "gate"), (" Bybit ", "bybit"), ("PHEMEX", "phemex")],
)
def test_venue_id(name: str, ccxt_id: str) -> None:
    assert venue_id(name) == ccxt_id
