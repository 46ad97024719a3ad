"""`signalgate send`: every rendered alert reads back, through the parser, as the trade sent."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.domain.dialects import ParsedAlert, parse_alert
from app.domain.signals import Action, PositionSide, StopKind, StopLoss, TakeProfit
from app.entrypoints.cli.main import main
from app.entrypoints.cli.send import DIALECTS, Trade, render

FIRED = datetime(2024, 5, 1, 12, tzinfo=UTC)
SECRET = "S3cr3t-Token-42"

# Buy 0.5 BTC/USDT on Binance at 65000, TP 67000, SL 64000, with every optional field given.
BUY = Trade(
    symbol="BINANCE:BTCUSDT",
    action="buy",
    qty="0.5",
    price="65000",
    tp="67000",
    sl="64000",
    strategy="s1",
    confidence="0.8",
    alert_id="a1",
    secret=SECRET,
)


def read_back(trade: Trade, dialect: str, route: str | None = None) -> ParsedAlert:
    return parse_alert(render(trade, dialect, now=FIRED).encode(), strategy=route)


def intent(parsed: ParsedAlert) -> dict[str, Any]:
    """What the trader meant, leaving out how each dialect happens to write it."""
    s = parsed.signal
    return {
        "symbol": s.symbol,
        "venue": s.venue,
        "action": s.action,
        "position_side": s.position_side,
        "quantity": s.quantity,
        "take_profits": s.take_profits,
        "stop_loss": s.stop_loss,
        "strategy": s.strategy,
        "confidence": s.confidence,
        "alert_id": s.alert_id,
    }


BUY_INTENT: dict[str, Any] = {
    "symbol": "BTC/USDT",
    "venue": "binance",
    "action": Action.BUY,
    "position_side": None,
    "quantity": Decimal("0.5"),
    "take_profits": (TakeProfit(price=Decimal(67000)),),
    "stop_loss": StopLoss(kind=StopKind.PRICE, value=Decimal(64000)),
    "strategy": "s1",
    "confidence": 0.8,
    "alert_id": "a1",
}

# (dialect, the strategy in the URL as `send` posts it, what the dialect has no field for)
BUY_ROUND_TRIP = [
    ("native", None, {}),
    ("tradingview", None, {}),
    ("traderspost", "s1", {"confidence": None, "alert_id": None}),
    (
        "3commas",
        None,
        {"take_profits": (), "stop_loss": None, "confidence": None, "alert_id": None},
    ),
    ("octobot", "s1", {"confidence": None}),
    ("pineconnector", "s1", {"confidence": None, "alert_id": None}),
]


@pytest.mark.parametrize(
    ("dialect", "route", "unsaid"), BUY_ROUND_TRIP, ids=[r[0] for r in BUY_ROUND_TRIP]
)
def test_a_buy_reads_back_as_the_trade_in_every_dialect(
    dialect: str, route: str | None, unsaid: dict[str, Any]
) -> None:
    parsed = read_back(BUY, dialect, route)
    assert parsed.dialect == dialect
    assert intent(parsed) == {**BUY_INTENT, **unsaid}


def test_the_round_trip_covers_every_dialect() -> None:
    assert [row[0] for row in BUY_ROUND_TRIP] == list(DIALECTS)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_secret_is_extracted_and_kept_out_of_the_sanitized_copy(dialect: str) -> None:
    parsed = read_back(BUY, dialect)
    assert parsed.secret == SECRET
    assert SECRET not in json.dumps(parsed.sanitized)


@pytest.mark.parametrize(
    ("dialect", "fired_at"),
    [
        ("native", FIRED),
        ("tradingview", FIRED),
        ("traderspost", FIRED),
        ("3commas", FIRED),
        ("octobot", None),  # text dialects carry no fire time
        ("pineconnector", None),
    ],
)
def test_the_fire_time_is_the_given_now(dialect: str, fired_at: datetime | None) -> None:
    assert read_back(BUY, dialect).signal.fired_at == fired_at


@pytest.mark.parametrize("dialect", ["native", "tradingview", "traderspost"])
def test_percent_levels_read_back_as_percents(dialect: str) -> None:
    signal = read_back(replace(BUY, tp="2%", sl="1%"), dialect).signal
    assert signal.take_profits == (TakeProfit(percent=Decimal(2)),)
    assert signal.stop_loss == StopLoss(kind=StopKind.PERCENT, value=Decimal(1))


LONG, SHORT = PositionSide.LONG, PositionSide.SHORT

# (dialect, action, position side given, quantity given) -> (action, position side, quantity read)
EXPRESSIBLE = [
    ("native", "sell", None, "0.5", Action.SELL, None, "0.5"),
    ("native", "close", None, None, Action.CLOSE, None, None),
    ("native", "close", "short", "0.2", Action.CLOSE, SHORT, "0.2"),
    ("native", "reverse", None, "0.5", Action.REVERSE, None, "0.5"),
    ("native", "reverse", "long", "0.5", Action.REVERSE, LONG, "0.5"),
    ("tradingview", "sell", None, "0.5", Action.SELL, None, "0.5"),
    ("tradingview", "close", "long", None, Action.CLOSE, LONG, None),
    ("tradingview", "close", "short", None, Action.CLOSE, SHORT, None),
    ("tradingview", "reverse", "long", "0.5", Action.REVERSE, LONG, "0.5"),
    ("tradingview", "reverse", "short", "0.5", Action.REVERSE, SHORT, "0.5"),
    ("traderspost", "sell", None, "0.5", Action.SELL, None, "0.5"),
    ("traderspost", "close", None, None, Action.CLOSE, None, None),
    ("traderspost", "close", None, "0.2", Action.CLOSE, None, "0.2"),
    ("traderspost", "close", "long", None, Action.CLOSE, LONG, None),
    ("traderspost", "close", "short", None, Action.CLOSE, SHORT, None),
    ("3commas", "sell", None, "0.5", Action.SELL, None, "0.5"),
    ("3commas", "close", "long", None, Action.CLOSE, LONG, None),
    ("3commas", "close", "short", "0.2", Action.CLOSE, SHORT, "0.2"),
    ("3commas", "reverse", "long", "0.5", Action.REVERSE, LONG, "0.5"),
    ("3commas", "reverse", "short", "0.5", Action.REVERSE, SHORT, "0.5"),
    ("octobot", "sell", None, "0.5", Action.SELL, None, "0.5"),
    ("octobot", "close", "long", None, Action.CLOSE, LONG, None),
    ("octobot", "close", "short", "0.2", Action.CLOSE, SHORT, "0.2"),
    ("pineconnector", "sell", None, "0.5", Action.SELL, None, "0.5"),
    ("pineconnector", "close", None, None, Action.CLOSE, None, None),
    ("pineconnector", "close", "long", None, Action.CLOSE, LONG, None),
    ("pineconnector", "close", "short", None, Action.CLOSE, SHORT, None),
    ("pineconnector", "reverse", "long", "0.5", Action.REVERSE, LONG, "0.5"),
    ("pineconnector", "reverse", "short", "0.5", Action.REVERSE, SHORT, "0.5"),
]


@pytest.mark.parametrize(
    ("dialect", "action", "side", "qty", "read_action", "read_side", "read_qty"), EXPRESSIBLE
)
def test_every_action_a_dialect_can_express_reads_back(
    dialect: str,
    action: str,
    side: str | None,
    qty: str | None,
    read_action: Action,
    read_side: PositionSide | None,
    read_qty: str | None,
) -> None:
    trade = Trade(
        symbol="BTCUSDT", action=action, qty=qty, price="65000", secret=SECRET, position_side=side
    )
    parsed = read_back(trade, dialect)
    assert (parsed.dialect, parsed.signal.symbol) == (dialect, "BTC/USDT")
    assert parsed.signal.action is read_action
    assert parsed.signal.position_side is read_side
    assert parsed.signal.quantity == (None if read_qty is None else Decimal(read_qty))


@pytest.mark.parametrize(
    ("side", "command"), [("long", "closelongsell"), ("short", "closeshortbuy")]
)
def test_pineconnector_writes_a_reverse_as_the_command_it_reads(side: str, command: str) -> None:
    trade = Trade(symbol="BTCUSDT", action="reverse", secret=SECRET, position_side=side)
    assert render(trade, "pineconnector").split(",")[:3] == [SECRET, command, "BTCUSDT"]


# (dialect, trade changes, what the message tells the user to do instead)
INEXPRESSIBLE = [
    ("tradingview", {"action": "close"}, "add --position-side long or short"),
    ("tradingview", {"action": "reverse"}, "add --position-side long or short"),
    ("tradingview", {"action": "close", "position_side": "long"}, "drop --qty"),
    ("traderspost", {"action": "reverse", "position_side": "long"}, "send a close, then a buy"),
    ("3commas", {"action": "close"}, "add --position-side long or short"),
    ("3commas", {"action": "reverse"}, "add --position-side long or short"),
    ("octobot", {"action": "close"}, "add --position-side long or short"),
    ("octobot", {"action": "reverse", "position_side": "long"}, "send a close, then a buy"),
    ("octobot", {"tp": "2%"}, "give --tp and --sl as prices"),
    ("octobot", {"sl": "1%"}, "give --tp and --sl as prices"),
    ("octobot", {"secret": "a;b"}, "remove it"),
    ("pineconnector", {"action": "reverse"}, "add --position-side long or short"),
    ("pineconnector", {"tp": "2%"}, "give --tp and --sl as prices"),
    ("pineconnector", {"secret": "a,b"}, "remove it"),
    ("native", {"position_side": "long"}, "drop it"),  # a buy has no position to name
    ("native", {"action": "hold"}, "use one of buy, sell, close, reverse"),
    ("native", {"action": "close", "position_side": "both"}, "use long or short"),
    ("ninjatrader", {}, "use one of native, tradingview"),
]


@pytest.mark.parametrize(("dialect", "changes", "instead"), INEXPRESSIBLE)
def test_a_trade_a_dialect_cannot_express_is_refused_in_one_sentence(
    dialect: str, changes: dict[str, str], instead: str
) -> None:
    with pytest.raises(ValueError) as refused:
        render(replace(BUY, **changes), dialect)
    message = str(refused.value)
    assert instead in message
    assert message.endswith(".")
    assert message.count(". ") == 0
    assert "\n" not in message
    assert "a;b" not in message
    assert "a,b" not in message


# --- the command line -----------------------------------------------------------------------------


@dataclass
class PostRecorder:
    """Stands in for httpx.post: records each request and answers with `response`."""

    response: httpx.Response = field(default_factory=lambda: httpx.Response(202, text="queued"))
    raises: httpx.HTTPError | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, url: str, **kwargs: Any) -> httpx.Response:
        self.requests.append({"url": url, **kwargs})
        if self.raises is not None:
            raise self.raises
        return self.response


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> PostRecorder:
    """What `signalgate send` posts, captured instead of sent."""
    recorder = PostRecorder()
    monkeypatch.setattr(httpx, "post", recorder)
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    return recorder


def test_send_posts_the_rendered_alert(
    posted: PostRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "send",
            "--url", "http://gate.example:9000/",
            "--dialect", "pineconnector",
            "--symbol", "BYBIT:ETHUSDT.P",
            "--side", "reverse",
            "--position-side", "short",
            "--qty", "0.3",
            "--price", "3000",
            "--tp", "3100",
            "--sl", "2950",
            "--path-strategy", "swing",
            "--secret", SECRET,
        ]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out == "202 queued\n"
    [request] = posted.requests
    assert request["url"] == "http://gate.example:9000/webhook/swing"
    assert request["headers"] == {"Content-Type": "text/plain"}
    parsed = parse_alert(request["content"].encode(), strategy="swing")
    signal = parsed.signal
    assert (signal.symbol, signal.venue) == ("ETH/USDT:USDT", "bybit")
    assert (signal.action, signal.position_side) == (Action.REVERSE, SHORT)
    assert (signal.quantity, signal.price) == (Decimal("0.3"), Decimal(3000))
    assert signal.take_profits == (TakeProfit(price=Decimal(3100)),)
    assert signal.stop_loss == StopLoss(kind=StopKind.PRICE, value=Decimal(2950))
    assert parsed.secret == SECRET


def test_send_defaults_to_a_native_buy_on_port_and_secret_from_the_environment(
    posted: PostRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    assert main(["send", "--qty", "0.01"]) == 0
    [request] = posted.requests
    assert request["url"] == "http://127.0.0.1:8123/webhook"
    parsed = parse_alert(request["content"].encode())
    assert parsed.dialect == "native"
    assert (parsed.signal.symbol, parsed.signal.action) == ("BTC/USDT", Action.BUY)
    assert parsed.signal.quantity == Decimal("0.01")
    assert parsed.secret == SECRET


@pytest.mark.parametrize(
    ("dialect", "url", "strategy"),
    [
        ("native", "http://127.0.0.1:8000/webhook", "s 1"),  # in the body
        ("3commas", "http://127.0.0.1:8000/webhook", "s 1"),  # bot_uuid
        ("traderspost", "http://127.0.0.1:8000/webhook/s%201", "s 1"),  # no field: in the URL
        ("octobot", "http://127.0.0.1:8000/webhook/s%201", "s 1"),
    ],
)
def test_send_names_the_strategy_where_the_dialect_can_carry_it(
    posted: PostRecorder, dialect: str, url: str, strategy: str
) -> None:
    assert main(["send", "--dialect", dialect, "--strategy", "s 1"]) == 0
    [request] = posted.requests
    assert request["url"] == url
    route = None if url.endswith("/webhook") else strategy
    assert parse_alert(request["content"].encode(), strategy=route).signal.strategy == strategy


def test_send_exits_1_when_signalgate_refuses(
    posted: PostRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    posted.response = httpx.Response(401, text='{"status":"unauthorized"}')
    assert main(["send", "--secret", "wrong"]) == 1
    assert capsys.readouterr().out.startswith("401 ")


def test_send_exits_1_when_signalgate_is_unreachable(
    posted: PostRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    posted.raises = httpx.ConnectError("connection refused")
    assert main(["send", "--url", "http://127.0.0.1:1"]) == 1
    assert "could not reach http://127.0.0.1:1/webhook" in capsys.readouterr().err


def test_send_refuses_a_trade_the_dialect_cannot_express_before_posting(
    posted: PostRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["send", "--dialect", "traderspost", "--action", "reverse"]) == 2
    assert posted.requests == []
    assert "traderspost dialect cannot reverse" in capsys.readouterr().err


def test_send_rejects_an_unknown_dialect_as_a_usage_error(posted: PostRecorder) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["send", "--dialect", "ninjatrader"])
    assert exited.value.code == 2
    assert posted.requests == []
