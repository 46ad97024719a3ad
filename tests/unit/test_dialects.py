import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.dialects import (
    DIALECTS,
    AlertError,
    InvalidAlert,
    ParsedAlert,
    UnparseableAlert,
    parse_alert,
)
from app.domain.signals import (
    Action,
    OrderType,
    PositionSide,
    QtyMode,
    Signal,
    StopKind,
    StopLoss,
    StrategyPosition,
    TakeProfit,
    dedupe_key,
)

FIRED = datetime(2024, 5, 1, 12, tzinfo=UTC)
SECRET = "S3cr3t-Token-42"
LICENSE = "60123456789"


def body(alert: dict[str, Any] | str | bytes) -> bytes:
    if isinstance(alert, bytes):
        return alert
    return (json.dumps(alert) if isinstance(alert, dict) else alert).encode()


def parse(alert: dict[str, Any] | str | bytes, strategy: str | None = None) -> ParsedAlert:
    return parse_alert(body(alert), strategy=strategy)


def expect(dialect: str, **fields: Any) -> Signal:
    defaults: dict[str, Any] = {"symbol": "BTC/USDT", "ticker": "BTCUSDT", "action": Action.BUY}
    return Signal(**{**defaults, "source": f"tradingview:{dialect}", **fields})


def tp(
    price: str | None = None,
    percent: str | None = None,
    share: str = "1",
    distance: str | None = None,
) -> TakeProfit:
    return TakeProfit(
        price=None if price is None else Decimal(price),
        percent=None if percent is None else Decimal(percent),
        share=Decimal(share),
        distance=None if distance is None else Decimal(distance),
    )


def sl(kind: StopKind, value: str) -> StopLoss:
    return StopLoss(kind=kind, value=Decimal(value))


# --- one trade in every dialect -----------------------------------------------------------------

# Buy 0.5 BTC/USDT on Binance at 65000, market, TP 67000, SL 64000, alert a1, strategy s1.
TRADE = Signal(
    symbol="BTC/USDT",
    action=Action.BUY,
    source="any",
    ticker="BTCUSDT",
    strategy="s1",
    venue="binance",
    quantity=Decimal("0.5"),
    price=Decimal(65000),
    take_profits=(tp("67000"),),
    stop_loss=sl(StopKind.PRICE, "64000"),
    alert_id="a1",
    fired_at=FIRED,
)

# (dialect, alert, URL strategy, the fields the dialect cannot express, at their defaults)
ROUND_TRIP = [
    (
        "native",
        {
            "symbol": "BTCUSDT",
            "exchange": "BINANCE",
            "action": "buy",
            "qty": 0.5,
            "order_type": "market",
            "price": 65000,
            "take_profit": 67000,
            "stop_loss": 64000,
            "id": "a1",
            "time": "2024-05-01T12:00:00Z",
            "strategy": "s1",
            "secret": SECRET,
        },
        None,
        {},
    ),
    (
        "tradingview",
        {
            "ticker": "BTCUSDT",
            "exchange": "BINANCE",
            "action": "buy",
            "contracts": "0.5",
            "price": "65000",
            "market_position": "long",
            "market_position_size": "0.5",
            "prev_market_position": "flat",
            "order_id": "Long",
            "id": "a1",
            "timenow": "2024-05-01T12:00:00Z",
            "tp": "67000",
            "sl": "64000",
            "strategy": "s1",
            "secret": SECRET,
        },
        None,
        # where the strategy stands, for POSITION_SYNC: only TradingView's own placeholders say
        {"strategy_position": StrategyPosition(after="long", before="flat", size=Decimal("0.5"))},
    ),
    (
        # TradersPost routes by its own strategy and broker: no venue, no alert id.
        "traderspost",
        {
            "ticker": "BTCUSDT",
            "action": "buy",
            "sentiment": "bullish",
            "quantity": "0.5",
            "quantityType": "fixed_quantity",
            "orderType": "market",
            "signalPrice": 65000,
            "takeProfit": {"limitPrice": 67000},
            "stopLoss": {"type": "stop", "stopPrice": 64000},
            "time": "2024-05-01T12:00:00Z",
            "passphrase": SECRET,
        },
        "s1",
        {"venue": None, "alert_id": None},
    ),
    (
        # A 3Commas signal bot sets its own TP/SL; the alert has no id.
        "3commas",
        {
            "secret": SECRET,
            "timestamp": "2024-05-01T12:00:00Z",
            "trigger_price": "65000",
            "tv_exchange": "BINANCE",
            "tv_instrument": "BTCUSDT",
            "action": "enter_long",
            "bot_uuid": "0b3c1f5e-8a2d-4c1e-9f7a-2d5e6b7c8d9e",
            "order": {"amount": "0.5", "currency_type": "base", "order_type": "market"},
        },
        "s1",
        {"take_profits": (), "stop_loss": None, "alert_id": None},
    ),
    (
        # OctoBot text has no fire time and no strategy field.
        "octobot",
        "EXCHANGE=BINANCE\nSYMBOL=BTCUSDT\nSIGNAL=BUY\nORDER_TYPE=MARKET\nVOLUME=0.5\n"
        f"PRICE=65000\nSTOP_PRICE=64000\nTAKE_PROFIT_PRICE=67000\nTAG=a1\nSECRET={SECRET}",
        "s1",
        {"fired_at": None},
    ),
    (
        # PineConnector has no venue, alert id or time; sl=/tp= are distances from the fill.
        "pineconnector",
        f"{LICENSE},buy,BTCUSDT,risk=0.5,price=65000,sl=1000,tp=2000",
        "s1",
        {
            "venue": None,
            "alert_id": None,
            "fired_at": None,
            "take_profits": (tp(distance="2000"),),
            "stop_loss": sl(StopKind.DISTANCE, "1000"),
        },
    ),
]


@pytest.mark.parametrize(
    ("dialect", "alert", "strategy", "unsaid"), ROUND_TRIP, ids=[r[0] for r in ROUND_TRIP]
)
def test_one_trade_reads_the_same_in_every_dialect(
    dialect: str, alert: Any, strategy: str | None, unsaid: dict[str, Any]
) -> None:
    parsed = parse(alert, strategy=strategy)
    assert parsed.dialect == dialect
    assert parsed.signal.source == f"tradingview:{dialect}"
    assert msgspec.structs.replace(parsed.signal, source="any") == msgspec.structs.replace(
        TRADE, **unsaid
    )


def test_round_trip_covers_every_dialect() -> None:
    assert {row[0] for row in ROUND_TRIP} == set(DIALECTS)


# --- each dialect, real-looking alerts ------------------------------------------------------------

NATIVE = [
    (
        {
            "symbol": "BYBIT:ETHUSDT.P",
            "side": "short",
            "quantity": "2",
            "qty_mode": "percent_equity",
            "order_type": "limit",
            "limit_price": "3100.5",
            "take_profit": {"percent": "4"},
            "stop_loss": {"percent": 1.5},
            "leverage": 5,
            "confidence": "75%",
            "account": "main",
            "alert_id": "eth-short-1",
            "timestamp": 1714564800000,
            "comment": "fade the pump",
        },
        expect(
            "native",
            symbol="ETH/USDT:USDT",
            ticker="BYBIT:ETHUSDT.P",
            action=Action.SELL,
            venue="bybit",
            account="main",
            quantity=Decimal(2),
            qty_mode=QtyMode.PERCENT_EQUITY,
            order_type=OrderType.LIMIT,
            limit_price=Decimal("3100.5"),
            take_profits=(tp(percent="4"),),
            stop_loss=sl(StopKind.PERCENT, "1.5"),
            leverage=Decimal(5),
            confidence=0.75,
            alert_id="eth-short-1",
            fired_at=FIRED,
            comment="fade the pump",
        ),
    ),
    (
        {
            "symbol": "BTC/USDT",
            "action": "buy",
            "qty": 100,
            "qty_mode": "quote",
            "take_profit": [
                {"price": 66000, "share": 0.5},
                {"price": 67000},
                {"percent": 10},
            ],
            "stop_loss": {"trailing_percent": "2"},
            "time": 1714564800,
            "confidence": 0.9,
        },
        expect(
            "native",
            ticker="BTC/USDT",
            quantity=Decimal(100),
            qty_mode=QtyMode.QUOTE,
            take_profits=(
                tp("66000", share="0.5"),
                tp("67000", share="0.25"),
                tp(percent="10", share="0.25"),
            ),
            stop_loss=sl(StopKind.TRAILING, "2"),
            fired_at=FIRED,
            confidence=0.9,
        ),
    ),
    (
        {
            "symbol": "BTCUSDT",
            "action": "sell",
            "take_profit": [{"distance": 500, "share": 0.5}, {"percent": 2}],
            "stop_loss": {"distance": "250.5"},
        },
        expect(
            "native",
            action=Action.SELL,
            take_profits=(tp(distance="500", share="0.5"), tp(percent="2", share="0.5")),
            stop_loss=sl(StopKind.DISTANCE, "250.5"),
        ),
    ),
    (
        {"symbol": "btc-usdt", "action": "exit", "position_side": "long", "time": "2024-05-01"},
        expect(
            "native",
            ticker="btc-usdt",
            action=Action.CLOSE,
            position_side=PositionSide.LONG,
            fired_at=datetime(2024, 5, 1, tzinfo=UTC),
        ),
    ),
    (
        {"symbol": "SOLUSDT", "action": "reverse", "time": "2024-05-01T14:00:00+02:00"},
        expect(
            "native", symbol="SOL/USDT", ticker="SOLUSDT", action=Action.REVERSE, fired_at=FIRED
        ),
    ),
    (
        {
            "symbol": "BTCUSDT",
            "action": "long",
            "limit_price": "64000",
            "stop_price": "64500",
            "time": "2024-05-01T12:00:00",
            "risk": "ignored",
            "qty_mode": "risk_percent",
            "qty": "1",
            "stop_loss": {"price": "63000"},
            "max_lag": "30",
        },
        expect(
            "native",
            order_type=OrderType.STOP_LIMIT,
            limit_price=Decimal(64000),
            stop_price=Decimal(64500),
            quantity=Decimal(1),
            qty_mode=QtyMode.RISK_PERCENT,
            stop_loss=sl(StopKind.PRICE, "63000"),
            fired_at=FIRED,
            max_lag_seconds=30,
        ),
    ),
    (
        # Unicode in free text is kept; newlines in a comment become spaces.
        {"symbol": "BTCUSDT", "action": "flat", "comment": "🚀 sortie —\nünïcödé", "id": 7},
        expect("native", action=Action.CLOSE, comment="🚀 sortie — ünïcödé", alert_id="7"),
    ),
]

TRADINGVIEW = [
    (
        # Strategy exit: flat afterwards, so the whole long is closed.
        {
            "ticker": "BTCUSDT",
            "exchange": "BINANCE",
            "action": "sell",
            "contracts": "0.5",
            "price": "66000.5",
            "market_position": "flat",
            "market_position_size": "0",
            "prev_market_position": "long",
            "order_id": "Long Exit",
            "comment": "TP hit",
            "timenow": "2024-05-01T12:00:00Z",
        },
        expect(
            "tradingview",
            action=Action.CLOSE,
            position_side=PositionSide.LONG,
            venue="binance",
            price=Decimal("66000.5"),
            comment="TP hit",
            fired_at=FIRED,
        ),
    ),
    (
        # Flat without prev_market_position: a buy to flat closed a short.
        {"ticker": "ETHUSDT", "action": "buy", "contracts": 1, "market_position": "flat"},
        expect(
            "tradingview",
            symbol="ETH/USDT",
            ticker="ETHUSDT",
            action=Action.CLOSE,
            position_side=PositionSide.SHORT,
        ),
    ),
    (
        # Reversal long -> short: contracts (1.5) includes the closed long; the new short is 1.
        {
            "ticker": "BINANCE:BTCUSDT.P",
            "action": "sell",
            "contracts": "1.5",
            "market_position": "short",
            "market_position_size": "1",
            "prev_market_position": "long",
            "time": "2024-05-01T12:00:00Z",
        },
        expect(
            "tradingview",
            symbol="BTC/USDT:USDT",
            ticker="BINANCE:BTCUSDT.P",
            venue="binance",
            action=Action.REVERSE,
            position_side=PositionSide.LONG,
            quantity=Decimal(1),
            fired_at=FIRED,
        ),
    ),
    (
        {
            "ticker": "BTCUSDT",
            "action": "sell",
            "contracts": "0.25",
            "market_position": "short",
            "prev_market_position": "short",
            "confidence": 0.6,
            "tp": {"percent": 3},
            "sl": {"percent": 1},
            "timenow": "1714564800",
        },
        expect(
            "tradingview",
            action=Action.SELL,
            quantity=Decimal("0.25"),
            confidence=0.6,
            take_profits=(tp(percent="3"),),
            stop_loss=sl(StopKind.PERCENT, "1"),
            fired_at=FIRED,
        ),
    ),
]

TRADERSPOST = [
    (
        # The TradersPost docs' example, on a crypto ticker.
        {
            "ticker": "BTCUSD",
            "action": "buy",
            "signalPrice": 65000.5,
            "quantity": 1,
            "takeProfit": {"percent": 10},
            "stopLoss": {"type": "stop", "percent": 5},
        },
        expect(
            "traderspost",
            symbol="BTC/USD",
            ticker="BTCUSD",
            quantity=Decimal(1),
            price=Decimal("65000.5"),
            take_profits=(tp(percent="10"),),
            stop_loss=sl(StopKind.PERCENT, "5"),
        ),
    ),
    (
        # The TradingView strategy template: sell to flat closes the long.
        {
            "ticker": "BTCUSDT",
            "action": "sell",
            "sentiment": "flat",
            "quantity": "0.5",
            "price": "66000",
            "time": "2024-05-01T12:00:00Z",
        },
        expect(
            "traderspost",
            action=Action.CLOSE,
            position_side=PositionSide.LONG,
            quantity=Decimal("0.5"),
            price=Decimal(66000),
            fired_at=FIRED,
        ),
    ),
    (
        {"ticker": "BTCUSDT", "action": "exit"},
        expect("traderspost", action=Action.CLOSE),
    ),
    (
        {"ticker": "ETHUSDT", "action": "add", "sentiment": "bearish", "quantity": 1},
        expect(
            "traderspost",
            symbol="ETH/USDT",
            ticker="ETHUSDT",
            action=Action.SELL,
            quantity=Decimal(1),
        ),
    ),
    (
        {
            "ticker": "BTCUSDT",
            "action": "buy",
            "sentiment": "long",
            "quantity": 250,
            "quantityType": "dollar_amount",
            "orderType": "limit",
            "limitPrice": "64000",
            "takeProfit": {"amount": 2000},
            "stopLoss": {"type": "stop_limit", "amount": "1000", "limitPrice": "62900"},
        },
        expect(
            "traderspost",
            quantity=Decimal(250),
            qty_mode=QtyMode.QUOTE,
            order_type=OrderType.LIMIT,
            limit_price=Decimal(64000),
            take_profits=(tp(distance="2000"),),
            stop_loss=sl(StopKind.DISTANCE, "1000"),
        ),
    ),
    (
        {
            "ticker": "BTCUSDT",
            "action": "sell",
            "quantity": "10",
            "quantityType": "percent_of_equity",
            "price": 65000,
            "takeProfit": {"amount": 2000},
            "stopLoss": {"type": "trailing_stop", "trailPercent": "1.5"},
        },
        expect(
            "traderspost",
            action=Action.SELL,
            quantity=Decimal(10),
            qty_mode=QtyMode.PERCENT_EQUITY,
            price=Decimal(65000),
            take_profits=(tp(distance="2000"),),
            stop_loss=sl(StopKind.TRAILING, "1.5"),
        ),
    ),
    (
        {"ticker": "BTCUSDT", "action": "buy"},  # TradersPost's minimal form
        expect("traderspost"),
    ),
    (
        # No price: the distances are measured from the fill at execution.
        {
            "ticker": "BTCUSDT",
            "action": "sell",
            "takeProfit": {"amount": 100},
            "stopLoss": {"type": "stop", "amount": "50.5"},
        },
        expect(
            "traderspost",
            action=Action.SELL,
            take_profits=(tp(distance="100"),),
            stop_loss=sl(StopKind.DISTANCE, "50.5"),
        ),
    ),
]

THREECOMMAS = [
    (
        {
            "secret": SECRET,
            "max_lag": "300",
            "timestamp": "2024-05-01T12:00:00Z",
            "trigger_price": "65000",
            "tv_exchange": "BINANCE",
            "tv_instrument": "BTCUSDT.P",
            "action": "enter_short",
            "bot_uuid": "bot-1",
            "order": {"amount": "100", "currency_type": "quote", "order_type": "limit"},
        },
        expect(
            "3commas",
            symbol="BTC/USDT:USDT",
            ticker="BTCUSDT.P",
            action=Action.SELL,
            strategy="bot-1",
            venue="binance",
            quantity=Decimal(100),
            qty_mode=QtyMode.QUOTE,
            order_type=OrderType.LIMIT,
            price=Decimal(65000),
            limit_price=Decimal(65000),
            fired_at=FIRED,
            max_lag_seconds=300,
        ),
    ),
    (
        {
            "secret": SECRET,
            "tv_instrument": "ETHUSDT",
            "action": "exit_short",
            "bot_uuid": "bot-2",
            "order": {"amount": 100, "currency_type": "position_percent"},
            "max_lag": 60,
        },
        expect(
            "3commas",
            symbol="ETH/USDT",
            ticker="ETHUSDT",
            action=Action.CLOSE,
            position_side=PositionSide.SHORT,
            strategy="bot-2",
            max_lag_seconds=60,
        ),
    ),
    (
        # The 3Commas "strategy" template: a sell to flat closes the long.
        {
            "secret": SECRET,
            "trigger_price": "66000",
            "tv_exchange": "BYBIT",
            "tv_instrument": "BTCUSDT",
            "action": "sell",
            "bot_uuid": "bot-3",
            "strategy_info": {
                "market_position": "flat",
                "market_position_size": "0",
                "prev_market_position": "long",
                "prev_market_position_size": "0.5",
            },
            "order": {"amount": "0.5", "currency_type": "base"},
        },
        expect(
            "3commas",
            action=Action.CLOSE,
            position_side=PositionSide.LONG,
            strategy="bot-3",
            venue="bybit",
            price=Decimal(66000),
        ),
    ),
    (
        {
            "tv_instrument": "SOLUSDT",
            "action": "enter_long",
            "bot_uuid": "bot-4",
            "order": {"amount": "5", "currency_type": "margin_percent"},
        },
        expect(
            "3commas",
            symbol="SOL/USDT",
            ticker="SOLUSDT",
            strategy="bot-4",
            quantity=Decimal(5),
            qty_mode=QtyMode.PERCENT_EQUITY,
        ),
    ),
]

OCTOBOT = [
    ("EXCHANGE=BINANCE\nSYMBOL=BTCUSDT\nSIGNAL=BUY", expect("octobot", venue="binance")),
    (
        "EXCHANGE=binance;SYMBOL=ETH/USDT;SIGNAL=SELL;ORDER_TYPE=LIMIT;VOLUME=5%;PRICE=3200;"
        "STOP_PRICE=3300;TAKE_PROFIT_PRICE_2=3000;TAKE_PROFIT_PRICE_1=3100;REDUCE_ONLY=false;"
        "TAG=eth-1",
        expect(
            "octobot",
            symbol="ETH/USDT",
            ticker="ETH/USDT",
            action=Action.SELL,
            venue="binance",
            quantity=Decimal(5),
            qty_mode=QtyMode.PERCENT_EQUITY,
            order_type=OrderType.LIMIT,
            limit_price=Decimal(3200),
            stop_loss=sl(StopKind.PRICE, "3300"),
            take_profits=(tp("3100", share="0.5"), tp("3000", share="0.5")),
            alert_id="eth-1",
        ),
    ),
    (
        "symbol=BTCUSDT\r\nsignal=sell\r\nvolume=0.1\r\nreduce_only=true\r\n",
        expect(
            "octobot", action=Action.CLOSE, position_side=PositionSide.LONG, quantity=Decimal("0.1")
        ),
    ),
    (
        "SYMBOL=BTCUSDT.P\nSIGNAL=BUY\nORDER_TYPE=STOP\nSTOP_PRICE=66000\nVOLUME=50q\nPRICE=65000",
        expect(
            "octobot",
            symbol="BTC/USDT:USDT",
            ticker="BTCUSDT.P",
            order_type=OrderType.STOP,
            stop_price=Decimal(66000),
            price=Decimal(65000),
            quantity=Decimal(50),
            qty_mode=QtyMode.QUOTE,
        ),
    ),
]

PINECONNECTOR = [
    (
        f"{LICENSE},buy,BTCUSDT,risk=0.01,price=65000,sl=500,tp=1000",
        expect(
            "pineconnector",
            quantity=Decimal("0.01"),
            price=Decimal(65000),
            take_profits=(tp(distance="1000"),),
            stop_loss=sl(StopKind.DISTANCE, "500"),
        ),
    ),
    (
        # PineConnector's alerts carry no price: the distances are measured from the fill.
        f"{LICENSE},sell,BTCUSDT,risk=0.01,sl=500,tp=1000",
        expect(
            "pineconnector",
            action=Action.SELL,
            quantity=Decimal("0.01"),
            take_profits=(tp(distance="1000"),),
            stop_loss=sl(StopKind.DISTANCE, "500"),
        ),
    ),
    (
        f"{LICENSE},buy,BTCUSDT,risk=0.01,sl=500,tpprice=70000",
        expect(
            "pineconnector",
            quantity=Decimal("0.01"),
            take_profits=(tp("70000"),),
            stop_loss=sl(StopKind.DISTANCE, "500"),
        ),
    ),
    (
        f"{LICENSE},closelong,BTCUSDT",
        expect("pineconnector", action=Action.CLOSE, position_side=PositionSide.LONG),
    ),
    (
        f"{LICENSE} , closeshort , ETHUSDT",
        expect(
            "pineconnector",
            symbol="ETH/USDT",
            ticker="ETHUSDT",
            action=Action.CLOSE,
            position_side=PositionSide.SHORT,
        ),
    ),
    (f"{LICENSE},closeall,BTCUSDT", expect("pineconnector", action=Action.CLOSE)),
    (
        f"{LICENSE},buylimit,BTCUSDT,risk=0.1,price=64000,slprice=63000,tpprice=68000",
        expect(
            "pineconnector",
            quantity=Decimal("0.1"),
            order_type=OrderType.LIMIT,
            limit_price=Decimal(64000),
            take_profits=(tp("68000"),),
            stop_loss=sl(StopKind.PRICE, "63000"),
        ),
    ),
    (
        f'{LICENSE},sellstop,BTCUSDT,risk=0.2,price=64000,sl=500,comment="breakdown 1"',
        expect(
            "pineconnector",
            action=Action.SELL,
            quantity=Decimal("0.2"),
            order_type=OrderType.STOP,
            stop_price=Decimal(64000),
            stop_loss=sl(StopKind.DISTANCE, "500"),
            comment="breakdown 1",
        ),
    ),
    (
        f"{LICENSE},closelongsell,BTCUSDT,risk=0.3",
        expect(
            "pineconnector",
            action=Action.REVERSE,
            position_side=PositionSide.LONG,
            quantity=Decimal("0.3"),
        ),
    ),
]


@pytest.mark.parametrize(
    ("dialect", "alert", "signal"),
    [("native", a, s) for a, s in NATIVE]
    + [("tradingview", a, s) for a, s in TRADINGVIEW]
    + [("traderspost", a, s) for a, s in TRADERSPOST]
    + [("3commas", a, s) for a, s in THREECOMMAS]
    + [("octobot", a, s) for a, s in OCTOBOT]
    + [("pineconnector", a, s) for a, s in PINECONNECTOR],
)
def test_dialect_alerts(dialect: str, alert: Any, signal: Signal) -> None:
    parsed = parse(alert)
    assert parsed.dialect == dialect
    # where the strategy stands (POSITION_SYNC) is read in tests/unit/test_position_sync.py
    assert msgspec.structs.replace(parsed.signal, strategy_position=None) == signal


# --- detection, strategy, secrets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("alert", "dialect"),
    [
        ({"symbol": "BTCUSDT", "action": "buy"}, "native"),
        ({"ticker": "BTCUSDT", "action": "buy", "contracts": 1}, "tradingview"),
        ({"ticker": "BTCUSDT", "action": "buy", "timenow": "2024-05-01T12:00:00Z"}, "tradingview"),
        ({"ticker": "BTCUSDT", "action": "buy", "sentiment": "long"}, "traderspost"),
        (
            {"ticker": "BTCUSDT", "action": "buy", "contracts": 1, "orderType": "market"},
            "traderspost",
        ),
        ({"tv_instrument": "BTCUSDT", "action": "enter_long"}, "3commas"),
        ({"dialect": "tradingview", "ticker": "BTCUSDT", "action": "buy"}, "tradingview"),
        ({"dialect": "native", "symbol": "BTCUSDT", "action": "buy", "bot_uuid": "x"}, "native"),
        ("SYMBOL=BTCUSDT;SIGNAL=BUY", "octobot"),
        (f"{LICENSE},buy,BTCUSDT", "pineconnector"),
        (b"\xef\xbb\xbf" + body({"symbol": "BTCUSDT", "action": "buy"}), "native"),  # BOM
    ],
)
def test_dialect_detection(alert: Any, dialect: str) -> None:
    assert parse(alert).dialect == dialect


@pytest.mark.parametrize(
    ("alert", "route", "strategy"),
    [
        ({"symbol": "BTCUSDT", "action": "buy", "strategy": "body"}, "url", "url"),
        ({"symbol": "BTCUSDT", "action": "buy", "strategy": "body"}, None, "body"),
        ({"symbol": "BTCUSDT", "action": "buy"}, None, None),
        ({"tv_instrument": "BTCUSDT", "action": "buy", "bot_uuid": "bot"}, None, "bot"),
        ({"tv_instrument": "BTCUSDT", "action": "buy", "bot_uuid": "bot"}, "url", "url"),
        (f"{LICENSE},buy,BTCUSDT", "url", "url"),
    ],
)
def test_strategy_from_url_wins(alert: Any, route: str | None, strategy: str | None) -> None:
    assert parse(alert, strategy=route).signal.strategy == strategy


SECRET_ALERTS = [
    ("native", {"symbol": "BTCUSDT", "action": "buy", "secret": SECRET}),
    ("tradingview", {"ticker": "BTCUSDT", "action": "buy", "contracts": 1, "secret": SECRET}),
    ("traderspost", {"ticker": "BTCUSDT", "action": "buy", "passphrase": SECRET}),
    ("3commas", {"tv_instrument": "BTCUSDT", "action": "enter_long", "secret": SECRET}),
    ("octobot", f"SYMBOL=BTCUSDT\nSIGNAL=BUY\nSECRET={SECRET}"),
    ("octobot", f"symbol=BTCUSDT;token={SECRET};signal=BUY"),
    ("pineconnector", f"{SECRET},buy,BTCUSDT,risk=1"),
    ("pineconnector", f"{LICENSE},buy,BTCUSDT,secret={SECRET},risk=1"),
]


@pytest.mark.parametrize(("dialect", "alert"), SECRET_ALERTS)
def test_secret_is_returned_and_stripped(dialect: str, alert: Any) -> None:
    parsed = parse(alert)
    assert parsed.dialect == dialect
    assert parsed.secret == SECRET
    assert SECRET not in repr(parsed.sanitized)
    assert LICENSE not in repr(parsed.sanitized)
    assert SECRET not in repr(parsed)
    assert SECRET not in msgspec.json.encode(parsed.signal).decode()


def test_sanitized_keeps_everything_else_and_strips_nested_secrets() -> None:
    alert = {
        "symbol": "BTCUSDT",
        "action": "buy",
        "qty": 0.5,
        "secret": SECRET,
        "extras": {"api_key": "k", "Token": "t", "note": "hi", "legs": [{"passphrase": "p"}]},
    }
    assert parse(alert).sanitized == {
        "symbol": "BTCUSDT",
        "action": "buy",
        "qty": Decimal("0.5"),
        "extras": {"note": "hi", "legs": [{}]},
    }
    assert parse(f"{LICENSE},buy,BTCUSDT,risk=1").sanitized == "buy,BTCUSDT,risk=1"
    assert parse("SYMBOL=BTCUSDT;SECRET=x;SIGNAL=BUY").sanitized == "SYMBOL=BTCUSDT\nSIGNAL=BUY"


@pytest.mark.parametrize(
    "alert",
    [
        {"symbol": SECRET, "action": "buy", "secret": SECRET},  # the secret in a bad field
        {"symbol": "BTCUSDT", "action": SECRET, "secret": SECRET},
        {"symbol": "BTCUSDT", "action": "buy", "qty": SECRET, "secret": SECRET},
        {"symbol": "BTCUSDT", "action": "buy", "secret": {"value": SECRET}},
        {"symbol": "BTCUSDT", "action": "buy", "secret": SECRET * 100},
        {"ticker": "BTCUSDT", "action": "cancel", "passphrase": SECRET},
        f"{LICENSE},buy,{LICENSE}",
        f"{LICENSE},{LICENSE},BTCUSDT",
        f"{LICENSE},buy",
        f"{LICENSE},buy,BTCUSDT,{LICENSE}",
        f"SYMBOL={SECRET}\nSIGNAL=BUY\nSECRET={SECRET}",
        f"SYMBOL=BTCUSDT\n{SECRET}\nSECRET={SECRET}",
        f"SYMBOL=BTCUSDT\nSIGNAL=BUY\nSECRET={SECRET}\nSECRET={SECRET}",
    ],
)
def test_errors_never_show_the_secret(alert: Any) -> None:
    with pytest.raises(AlertError) as caught:
        parse(alert)
    for shown in (str(caught.value), caught.value.message, repr(caught.value)):
        assert SECRET not in shown
        assert LICENSE not in shown
    # No chained exception carries the original message into a traceback.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


# --- malformed and hostile alerts ---------------------------------------------------------------

UNPARSEABLE = [
    b"",
    b"   \n\t ",
    b"[1, 2, 3]",
    b'[{"symbol": "BTCUSDT", "action": "buy"}]',
    b"123",
    b"null",
    b"true",
    b'"buy BTCUSDT"',
    b"buy BTCUSDT now",
    b'{"symbol": "BTCUSDT", "action": "buy"',  # truncated
    b'{"symbol": "BTCUSDT", "action": "buy"}}',
    b"{'symbol': 'BTCUSDT'}",
    bytes(range(256)) * 4,
    b"\x00\x01\x02,\x03=\x04",
    b"\xff\xfe{\x00}",
    b"a" * 60_000,
    b"{" + b"x" * 60_000,
    b"[" * 60_000,
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b"SYMBOL=BTCUSDT\nthis line has no equals sign",
    f"{LICENSE},buy,BTCUSDT,risk".encode(),
    "é,ü".encode("latin-1"),
]


@pytest.mark.parametrize("alert", UNPARSEABLE, ids=[repr(a[:20]) for a in UNPARSEABLE])
def test_unparseable(alert: bytes) -> None:
    with pytest.raises(UnparseableAlert) as caught:
        parse_alert(alert)
    assert caught.value.field is None
    assert 0 < len(caught.value.message) < 300
    assert caught.value.message.endswith(".")


B = {"symbol": "BTCUSDT", "action": "buy"}  # a valid native alert to break field by field
T = {"ticker": "BTCUSDT", "action": "buy", "sentiment": "long"}  # and a TradersPost one
C = {"tv_instrument": "BTCUSDT", "action": "enter_long"}  # and a 3Commas one


def nested(levels: int) -> dict[str, Any]:
    inner: dict[str, Any] = {}
    for _ in range(levels):
        inner = {"extras": inner}
    return inner


INVALID = [
    # missing or unknown fields
    ({"action": "buy", "qty": 1}, "symbol", "missing"),
    ({"symbol": "BTCUSDT"}, "action", "missing"),
    ({**B, "action": ""}, "action", "missing"),
    ({**B, "action": "hodl"}, "action", "buy, long, sell"),
    ({**B, "action": True}, "action", "text"),
    ({"ticker": "BTCUSDT", "contracts": 1}, "action", "missing"),
    ({"ticker": "BTCUSDT", "contracts": 1, "action": "long"}, "action", "buy, sell"),
    ({**T, "action": "cancel"}, "action", "not supported"),
    ({**T, "action": "add", "sentiment": "flat"}, "sentiment", "bullish or bearish"),
    ({**T, "quantityType": "risk_dollar_amount", "quantity": 50}, "quantityType", "fixed_quantity"),
    ({"bot_uuid": "b", "action": "enter_long"}, "tv_instrument", "missing"),
    ({**C, "action": "buy_the_dip"}, "action", "enter_long"),
    ({**B, "dialect": "octobot"}, "dialect", "native"),
    ({**B, "qty_mode": "lots"}, "qty_mode", "percent_equity"),
    # symbols
    ({**B, "symbol": "???"}, "symbol", "characters"),
    ({**B, "symbol": "\uff22\uff34\uff23\uff35\uff33\uff34"}, "symbol", "characters"),
    ({**T, "ticker": "BTC USDT"}, "ticker", "characters"),
    ({**C, "tv_instrument": "USDT"}, "tv_instrument", "base from the quote"),
    ({**B, "symbol": 42}, "symbol", "base from the quote"),
    ({**B, "exchange": "BIN ANCE"}, "exchange", "exchange name"),
    # numbers
    ({**B, "qty": -1}, "qty", "above 0"),
    ({**B, "qty": 0}, "qty", "above 0"),
    ({**B, "qty": "0.0"}, "qty", "above 0"),
    ({**B, "qty": "inf"}, "qty", "finite"),
    ({**B, "qty": "-Infinity"}, "qty", "finite"),
    ({**B, "qty": "nan"}, "qty", "finite"),
    ({**B, "qty": "sNaN"}, "qty", "finite"),
    ({**B, "qty": "1e16"}, "qty", "at most 1000000000000000"),
    ({**B, "qty": 10**30}, "qty", "at most"),
    ({**B, "price": "1e-30"}, "price", "too small"),
    ({**B, "qty": "0x10"}, "qty", "finite"),
    ({**B, "qty": "1" * 100}, "qty", "finite"),
    ({**B, "qty": True}, "qty", "finite"),
    ({**B, "qty": [1]}, "qty", "finite"),
    ({**B, "qty": 120, "qty_mode": "percent_equity"}, "qty", "at most 100"),
    ({**B, "leverage": 5000}, "leverage", "at most"),
    ({**B, "confidence": 1.5}, "confidence", "from 0 to 1"),
    ({**B, "confidence": "150%"}, "confidence", "from 0 to 1"),
    ({**B, "confidence": -0.1}, "confidence", "from 0 to 1"),
    ({**B, "max_lag": 2.5}, "max_lag", "whole number"),
    # times
    ({**B, "time": "yesterday"}, "time", "ISO 8601"),
    ({**B, "time": "2024-13-01T00:00:00Z"}, "time", "ISO 8601"),
    ({**B, "timestamp": -5}, "timestamp", "above 0"),
    ({**B, "time": 10**20}, "time", "at most"),
    ({**B, "time": True}, "time", "ISO 8601"),
    ({**B, "time": {"iso": "2024-05-01"}}, "time", "ISO 8601"),
    ({**B, "time": "0001-01-01T00:00:00+14:00"}, "time", "ISO 8601"),
    # unfilled placeholders, wherever they are
    ({**B, "price": "{{close}}"}, "price", "did not fill the placeholder {{close}}"),
    ({**B, "note": "at {{plot_0}}"}, "note", "did not fill"),
    ({**B, "symbol": "{{ticker}}"}, "symbol", "did not fill"),
    (
        {"ticker": "BTCUSDT", "action": "buy", "contracts": "{{strategy.order.contracts}}"},
        "contracts",
        "{{strategy.order.contracts}}",
    ),
    ({**T, "takeProfit": {"percent": "{{tp}}"}}, "takeProfit.percent", "did not fill"),
    ({**B, "take_profit": [{"price": 1}, {"price": "{{x}}"}]}, "take_profit[1].price", "fill"),
    ({**C, "order": {"amount": "{{strategy.order.contracts}}"}}, "order.amount", "did not fill"),
    # structure
    ({**B, **nested(12)}, ".".join(["extras"] * 8), "deeper than 8"),
    ({**B, "extras": [[[[[[[[[1]]]]]]]]]}, "extras[0][0][0][0][0][0][0]", "deeper than 8"),
    ({**B, "extras": list(range(1000))}, "extras", "more than 100"),
    ({**B, "take_profit": [1] * 11}, "take_profit", "at most 10 targets"),
    (
        {**B, "take_profit": [{"price": 1, "share": 0.7}, {"price": 2, "share": 0.5}]},
        "take_profit",
        "add up",
    ),
    ({**B, "take_profit": [{"price": 1, "share": 1}, {"price": 2}]}, "take_profit", "add up"),
    ({**B, "take_profit": {"price": 1, "percent": 2}}, "take_profit", "exactly one"),
    ({**B, "stop_loss": {}}, "stop_loss", "exactly one"),
    ({**B, "stop_loss": {"percent": 150}}, "stop_loss.percent", "at most 100"),
    ({**B, "order_type": "limit"}, "limit_price", "missing"),
    ({**B, "order_type": "stop_limit", "limit_price": 1}, "stop_price", "missing"),
    ({**B, "id": "x" * 201}, "id", "at most 200"),
    ({**B, "comment": "bell\x07"}, "comment", "control characters"),
    ({**B, "strategy": {"name": "s"}}, "strategy", "text"),
    ({**T, "takeProfit": {"limitPrice": 1, "percent": 2}}, "takeProfit", "exactly one"),
    ({**T, "action": "exit", "takeProfit": {"amount": 100}}, "takeProfit.amount", "from an entry"),
    ({**T, "price": 100, "stopLoss": {"amount": 200}}, "stopLoss.amount", "below zero"),
    ({**T, "stopLoss": {"type": "trailing_stop", "stopPrice": 1}}, "stopLoss.type", "trailing"),
    ({**T, "stopLoss": "64000"}, "stopLoss", "JSON object"),
    (
        {**C, "order": {"amount": 50, "currency_type": "position_percent"}},
        "order.currency_type",
        "100",
    ),
    (
        {**C, "order": {"amount": 150, "currency_type": "margin_percent"}},
        "order.amount",
        "at most 100",
    ),
    ({**C, "max_lag": "0"}, "max_lag", "above 0"),
    # text dialects
    ("SIGNAL=BUY", "SYMBOL", "missing"),
    ("SYMBOL=BTCUSDT", "SIGNAL", "missing"),
    ("SYMBOL=BTCUSDT;SIGNAL=CANCEL", "SIGNAL", "not supported"),
    ("SYMBOL=BTCUSDT;SIGNAL=HOLD", "SIGNAL", "buy, sell"),
    ("SYMBOL={{ticker}};SIGNAL=BUY", "SYMBOL", "did not fill"),
    ("SYMBOL=BTCUSDT;SIGNAL=BUY;VOLUME=5a%", "VOLUME", "5% (of equity)"),
    ("SYMBOL=BTCUSDT;SIGNAL=BUY;VOLUME=-1", "VOLUME", "above 0"),
    ("SYMBOL=BTCUSDT;SIGNAL=BUY;VOLUME=nan", "VOLUME", "finite"),
    ("SYMBOL=BTCUSDT;SIGNAL=BUY;ORDER_TYPE=LIMIT", "PRICE", "LIMIT order needs it"),
    ("SYMBOL=BTCUSDT;SIGNAL=BUY;ORDER_TYPE=STOP", "STOP_PRICE", "STOP order needs it"),
    ("SYMBOL=BTCUSDT;SIGNAL=BUY;signal=SELL", "SIGNAL", "twice"),
    ("SYMBOL=BTCUSDT;SIGNAL=BUY;REDUCE_ONLY=maybe", "REDUCE_ONLY", "true"),
    (f"{LICENSE},closelongbuy,BTCUSDT", "command", "closelongsell"),
    (f"{LICENSE},buy,BTC-USDT-EUR", "symbol", "characters"),
    (f"{LICENSE},closelong,BTCUSDT,price=1,tp=5", "tp", "distance from an entry"),
    (f"{LICENSE},closeall,BTCUSDT,sl=5", "sl", "send it with a buy or sell"),
    (f"{LICENSE},sell,BTCUSDT,price=100,tp=100", "tp", "below zero"),
    (f"{LICENSE},buy,BTCUSDT,sl=0", "sl", "above 0"),
    (f"{LICENSE},buylimit,BTCUSDT,risk=1", "price", "pending order needs it"),
    (f"{LICENSE},buy,BTCUSDT,price=1,tp=1,tpprice=2", "tp", "cannot both"),
    (f"{LICENSE},buy,BTCUSDT,risk={{{{strategy.order.contracts}}}}", "risk", "did not fill"),
    (f"{LICENSE},buy,BTCUSDT,risk=1,risk=2", "risk", "twice"),
    (f"{LICENSE},buy,BTCUSDT,risk=inf", "risk", "finite"),
]


@pytest.mark.parametrize(("alert", "field", "says"), INVALID)
def test_invalid_alerts_name_the_field(alert: Any, field: str, says: str) -> None:
    with pytest.raises(InvalidAlert) as caught:
        parse(alert)
    assert caught.value.field == field
    assert says in caught.value.message
    assert caught.value.message.endswith(".")
    assert caught.value.message.count(". ") == 0  # one sentence
    assert len(caught.value.message) < 300


def test_invalid_url_strategy() -> None:
    with pytest.raises(InvalidAlert) as caught:
        parse_alert(body(B), strategy="bad\x00name")
    assert caught.value.field == "strategy"


def test_error_types_map_to_status_codes() -> None:
    assert issubclass(UnparseableAlert, AlertError)
    assert issubclass(InvalidAlert, AlertError)
    assert issubclass(AlertError, ValueError)


@pytest.mark.parametrize(
    ("time", "fired_at"),
    [
        ("2024-05-01T12:00:00Z", FIRED),
        ("2024-05-01T12:00:00.250Z", FIRED + timedelta(milliseconds=250)),
        ("2024-05-01T08:00:00-04:00", FIRED),
        ("2024-05-01 12:00:00", FIRED),
        (1714564800, FIRED),
        ("1714564800", FIRED),
        (1714564800.5, FIRED + timedelta(milliseconds=500)),
        (1714564800000, FIRED),
        ("1714564800250", FIRED + timedelta(milliseconds=250)),
    ],
)
def test_times_become_aware_utc(time: Any, fired_at: datetime) -> None:
    parsed = parse({**B, "time": time}).signal.fired_at
    assert parsed == fired_at
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ([None], ["1"]),
        ([None, None], ["0.5", "0.5"]),
        ([None, None, None], ["0.333333", "0.333333", "0.333334"]),
        (["0.5", None, None], ["0.5", "0.25", "0.25"]),
        (["0.3", "0.3"], ["0.3", "0.3"]),  # the rest of the position runs with the stop
    ],
)
def test_take_profit_shares(shares: list[str | None], expected: list[str]) -> None:
    targets = [
        {"price": 66000 + i} | ({} if share is None else {"share": share})
        for i, share in enumerate(shares)
    ]
    take_profits = parse({**B, "take_profit": targets}).signal.take_profits
    assert [t.share for t in take_profits] == [Decimal(share) for share in expected]
    assert sum(t.share for t in take_profits) <= 1


def test_money_is_decimal_never_float() -> None:
    signal = parse({**B, "qty": 0.1, "price": 0.3, "take_profit": 0.7}).signal
    assert signal.quantity == Decimal("0.1")
    assert signal.price == Decimal("0.3")
    assert signal.take_profits[0].price == Decimal("0.7")
    assert isinstance(signal.quantity, Decimal)


# Alerts that differ only in how they spell a number: each group must make one signal, and so
# one dedupe digest (the digest encodes Decimals as they are spelled).
ONE_NUMBER_MANY_SPELLINGS = {
    "price": [
        {**B, "price": 65000},
        {**B, "price": 65000.0},
        {**B, "price": "65000.00"},
        {**B, "price": "6.5E+4"},
        b'{"symbol": "BTCUSDT", "action": "buy", "price": 6.5e4}',
    ],
    "qty": [
        {**B, "qty": 0.5},
        {**B, "qty": "0.500"},
        {**B, "qty": "5e-1"},
        b'{"symbol": "BTCUSDT", "action": "buy", "qty": 0.50}',
    ],
    "shares": [
        {**B, "take_profit": [66000, 67000]},  # split evenly: 0.500000 each
        {**B, "take_profit": [{"price": 66000, "share": "0.5"}, {"price": 67000, "share": 0.50}]},
    ],
    "distance": [  # 999.5 from the fill
        {**T, "price": 65000.5, "takeProfit": {"amount": 999.5}},
        {**T, "price": "65000.50", "takeProfit": {"amount": "9.995e2"}},
    ],
    "octobot": ["SYMBOL=BTCUSDT;SIGNAL=BUY;VOLUME=1", "SYMBOL=BTCUSDT;SIGNAL=BUY;VOLUME=1.000"],
    "pineconnector": [
        f"{LICENSE},buy,BTCUSDT,risk=0.1,price=65000,tp=500",
        f"{LICENSE},buy,BTCUSDT,risk=0.10,price=6.5e4,tp=500.0",
    ],
}


@pytest.mark.parametrize(
    "alerts", ONE_NUMBER_MANY_SPELLINGS.values(), ids=list(ONE_NUMBER_MANY_SPELLINGS)
)
def test_one_number_spelled_many_ways_makes_one_signal(alerts: list[Any]) -> None:
    signals = [parse(alert).signal for alert in alerts]
    assert len({msgspec.json.encode(signal) for signal in signals}) == 1
    assert len({dedupe_key(signal) for signal in signals}) == 1


def test_numbers_come_out_plain() -> None:
    signal = parse({**B, "price": "6.5E+4", "qty": "0.50", "take_profit": [1e3, 2e3]}).signal
    assert [str(signal.price), str(signal.quantity)] == ["65000", "0.5"]
    assert [(str(t.price), str(t.share)) for t in signal.take_profits] == [
        ("1000", "0.5"),
        ("2000", "0.5"),
    ]


def outcome(data: bytes) -> str:
    """ "parsed", or the message of the AlertError; anything else raised fails the test."""
    try:
        parse_alert(data)
    except AlertError as error:
        return error.message
    return "parsed."


# No timing checks in tests (the box may be busy): no deadline, no too-slow health check.
UNTIMED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@UNTIMED
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_an_alert_error(data: bytes) -> None:
    assert outcome(data).endswith(".")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [*B, "ticker", "qty", "price", "take_profit", "time", "order", "tv_instrument", "contracts"]
)


@UNTIMED
@given(st.dictionaries(KEYS, JSON_VALUES, max_size=8))
def test_any_json_object_parses_or_raises_an_alert_error(alert: dict[str, Any]) -> None:
    assert outcome(json.dumps(alert).encode()).endswith(".")
