"""Notifications in the domain: routes (NOTIFY_EVENTS), the rate limit, the events a bracket
makes, and the text of every message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from decimal import Decimal

import msgspec
import pytest

from app.domain.brackets import notices
from app.domain.brackets.bracket import Bracket, BracketState, LegOrder
from app.domain.market import Market
from app.domain.notifications import (
    ROUTED,
    URGENT,
    Admission,
    BracketClosed,
    ChannelTest,
    DailySummary,
    Drift,
    EntryExecuted,
    Event,
    EventKind,
    ForwarderChanged,
    InDoubt,
    LegView,
    Level,
    MonitorChanged,
    OpenPosition,
    ProcessChange,
    Reason,
    SignalDenied,
    TradingChanged,
    Unprotected,
    admit,
    event_key,
    kind_of,
    next_summary,
    parse_routes,
)
from app.domain.notify_text import number, render
from app.domain.orders import Leg, OrderKind, OrderState, Side

D = Decimal
AT = datetime(2026, 12, 5, 14, 30, tzinfo=UTC)
SID = "01JX5Z3K8Q4W2N7R9T1V3B5C7D"
MARKET = Market("BTC/USDT", "BTC", "USDT", amount_step=D("0.0001"))
ALL = ROUTED  # every kind but the test message, which is never routed

EXECUTED = EntryExecuted(
    signal_id=SID, venue="paper", symbol="BTC/USDT", side="buy", ordered=D("0.01"),
    filled=D("0.01"), price=D("65000.5"), state="open", quote="USDT",
    legs=(LegView("sl", "stop_market", D("0.01"), D(64000), "accepted"),),
)  # fmt: skip
CLOSED = BracketClosed(
    bracket_id=SID, venue="paper", symbol="BTC/USDT", side="buy", amount=D("0.01"),
    entry_price=D(65000), exit_price=D(64000), realized_pnl=D("-11.29"), fees=D("1.29"),
    quote="USDT", exits=("sl",),
)  # fmt: skip
EVENTS: list[Event] = [
    EXECUTED,
    SignalDenied(SID, "BTC/USDT", "buy", (Reason("price_band", "the alert price is 3% off"),)),
    CLOSED,
    Unprotected(SID, "paper", "BTC/USDT", "buy", D("0.01"), "sl could not be placed", True),
    InDoubt(SID, "paper", "BTC/USDT", "entry", "sgABCen0"),
    Drift("binance", "binance holds 0.5 BTC, the book 0.4", "reduce_only", AT),
    TradingChanged("halted", "set through the API", AT),
    MonitorChanged(ProcessChange.DOWN, "no round for 40 s", AT),
    ForwarderChanged(ProcessChange.DOWN, "no forwarder heartbeat for 40 s", AT),
    DailySummary(AT, AT, {"executed": 3}, 1, {"USDT": D(5)}, {"USDT": D(1)}),
]
TEST_MESSAGE = ChannelTest(channel=1, at=AT, by="console")  # sent to its channel alone


# --- NOTIFY_EVENTS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "channels", "expected"),
    [
        ("", 2, (ALL, ALL)),
        ("0:urgent,closed", 2, (URGENT | {EventKind.CLOSED}, ALL)),
        ("1:all,-denied,-summary", 2, (ALL, ALL - {EventKind.DENIED, EventKind.SUMMARY})),
        (" 0 : Executed ; 1:trading ", 2, (frozenset({EventKind.EXECUTED}), {EventKind.TRADING})),
        ("0:", 1, (frozenset(),)),
    ],
)
def test_notify_events_routes_each_kind_to_its_channels(
    raw: str, channels: int, expected: tuple[frozenset[EventKind], ...]
) -> None:
    assert parse_routes(raw, channels).channels == expected


def test_a_route_lists_the_channels_that_hear_a_kind() -> None:
    routes = parse_routes("0:urgent;2:closed", 3)
    assert routes.to(EventKind.DRIFT) == (0, 1)
    assert routes.to(EventKind.CLOSED) == (1, 2)
    assert parse_routes("", 0).to(EventKind.CLOSED) == ()


def test_a_test_message_goes_to_the_channel_it_names_alone_whatever_the_routes() -> None:
    routes = parse_routes("0:all;1:;2:closed", 3)
    assert routes.of(TEST_MESSAGE) == (1,)  # channel 1 hears no event, and its test all the same
    assert routes.of(ChannelTest(channel=3, at=AT, by="console")) == ()
    assert routes.of(ChannelTest(channel=-1, at=AT, by="console")) == ()
    assert routes.of(CLOSED) == (0, 2)
    assert EventKind.TEST not in parse_routes("", 1).channels[0]
    with pytest.raises(ValueError, match=r"^'test' is not an event: use all, urgent, executed,"):
        parse_routes("0:test", 1)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("0:all;2:urgent", "there is no channel 2: NOTIFY_URLS has 2, numbered from 0"),
        ("0:everything", "'everything' is not an event: use all, urgent, executed,"),
        ("all", "write INDEX:events entries separated by ';'"),
        ("x:all", "write INDEX:events entries separated by ';'"),
    ],
)
def test_a_bad_notify_events_says_what_to_write(raw: str, says: str) -> None:
    with pytest.raises(ValueError, match="^" + says.replace("(", r"\(")):
        parse_routes(raw, 2)


# --- the rate limit -----------------------------------------------------------------------------


def test_a_quiet_channel_takes_a_minutes_worth_at_once_then_one_per_interval() -> None:
    tat, slots = None, []
    for _ in range(4):
        slot = admit(tat, 100.0, per_minute=3, max_wait_seconds=600)
        assert slot is not None
        slots.append(slot.at)
        tat = slot.tat
    assert slots == [100.0, 100.0, 100.0, 120.0]
    later = admit(tat, 130.0, per_minute=3, max_wait_seconds=600)
    assert later == Admission(at=140.0, tat=200.0)


def test_a_message_that_would_wait_too_long_is_dropped_and_takes_no_slot() -> None:
    assert admit(1000.0, 100.0, per_minute=1, max_wait_seconds=600) is None
    assert admit(1000.0, 100.0, per_minute=1, max_wait_seconds=900) == Admission(1000.0, 1060.0)


def test_an_urgent_message_goes_at_once_and_still_takes_its_slot() -> None:
    assert admit(1000.0, 100.0, per_minute=1, max_wait_seconds=0, urgent=True) == Admission(
        100.0, 1060.0
    )


# --- events -------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", [*EVENTS, TEST_MESSAGE], ids=lambda e: kind_of(e).value)
def test_an_event_crosses_json_as_it_is(event: Event) -> None:
    wire = json.loads(json.dumps(msgspec.to_builtins(event)))
    assert wire["kind"] == kind_of(event)
    assert msgspec.convert(wire, Event) == event  # type: ignore[arg-type]


def test_every_kind_has_an_event_and_keys_differ() -> None:
    assert {kind_of(e) for e in EVENTS} == ALL
    assert {kind_of(e) for e in [*EVENTS, TEST_MESSAGE]} == frozenset(EventKind)
    assert len({event_key(e) for e in [*EVENTS, TEST_MESSAGE]}) == len(EVENTS) + 1
    assert event_key(CLOSED) == f"closed-{SID}"
    assert event_key(EVENTS[-1]) == "summary-20261205T143000000000"


def order(leg: Leg, side: Side, kind: OrderKind, amount: str, **kw: object) -> LegOrder:
    return LegOrder(leg, f"sg{leg}", side, kind, D(amount), **kw)  # type: ignore[arg-type]


def bracket(*orders: LegOrder, **kw: object) -> Bracket:
    return Bracket(SID, "main", "paper", "BTC/USDT", Side.BUY, MARKET, AT, orders=orders, **kw)  # type: ignore[arg-type]


ENTRY = order(Leg.ENTRY, Side.BUY, OrderKind.MARKET, "0.01", state=OrderState.FILLED,
              filled=D("0.01"), average_price=D(65000), fee=D("0.65"))  # fmt: skip


def test_an_executed_entry_shows_its_fill_and_the_legs_resting_or_watched() -> None:
    stop = order(Leg.STOP_LOSS, Side.SELL, OrderKind.STOP_MARKET, "0.01", trigger_price=D(64000),
                 state=OrderState.ACCEPTED)  # fmt: skip
    made = notices.executed(
        bracket(ENTRY, stop, state=BracketState.OPEN, take_profits=((D(66000), D(1)),))
    )
    assert (made.filled, made.price, made.state) == (D("0.01"), D(65000), "open")
    assert made.legs == (
        LegView("sl", "stop_market", D("0.01"), D(64000), "accepted"),
        LegView("tp", "watched", D("0.01"), D(66000), "watched"),
    )
    resting = order(Leg.ENTRY, Side.BUY, OrderKind.LIMIT, "0.01", price=D(60000))
    assert notices.executed(bracket(resting)).price is None


def test_a_closed_bracket_says_what_closed_it_its_exit_price_pnl_and_fees() -> None:
    stop = order(Leg.STOP_LOSS, Side.SELL, OrderKind.STOP_MARKET, "0.01", state=OrderState.FILLED,
                 filled=D("0.01"), average_price=D(64000), fee=D("0.64"))  # fmt: skip
    made = notices.closed(bracket(ENTRY, stop, state=BracketState.CLOSED, realized_pnl=D("-11.29")))
    assert made == msgspec.structs.replace(CLOSED, account="main")  # the bracket's account


def test_the_summary_sums_pnl_and_fees_by_quote_currency_and_lists_open_positions() -> None:
    eth = Market("ETH/BTC", "ETH", "BTC")
    done = [
        bracket(ENTRY, realized_pnl=D(5)),
        bracket(ENTRY, realized_pnl=D(-2)),
        Bracket("x", "main", "paper", "ETH/BTC", Side.SELL, eth, AT, realized_pnl=D("0.001")),
    ]
    made = notices.summary(AT, AT, {"executed": 2}, done, [bracket(ENTRY), bracket()])
    assert made.pnl == {"USDT": D(3), "BTC": D("0.001")}
    assert made.fees == {"USDT": D("1.30"), "BTC": D(0)}
    assert made.open == (OpenPosition("paper", "BTC/USDT", "buy", D("0.01"), D(65000)),)


# --- text ---------------------------------------------------------------------------------------


def test_numbers_read_as_people_write_them() -> None:
    assert [number(D(v)) for v in ("65000.50", "0.00000001234", "1E+3", "0")] == [
        "65,000.5", "0.00000001", "1,000", "0"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("event", "title", "lines", "level"),
    [
        (EXECUTED, "BTC/USDT long opened on paper",
         ["Entry buy 0.01 BTC/USDT at 65,000.5 USDT", "Stop-loss: 0.01 at 64,000 (stop_market,"
          " accepted)", f"Signal {SID}"], Level.INFO),
        (EVENTS[1], "Signal denied: buy BTC/USDT",
         ["- price_band: the alert price is 3% off", f"Signal {SID}"], Level.WARNING),
        (CLOSED, "BTC/USDT long closed by stop-loss: -11.29 USDT",
         ["In 0.01 at 65,000, out at 64,000 on paper",
          "Realized P&L -11.29 USDT after 1.29 USDT fees", f"Bracket {SID}"], Level.INFO),
        (EVENTS[3], "URGENT: BTC/USDT long UNPROTECTED on paper",
         ["sl could not be placed", "Position 0.01 BTC/USDT: closing it at market"
          " (UNPROTECTED_POLICY=close)", f"Bracket {SID}"], Level.FAILURE),
        (EVENTS[5], "URGENT: Drift on binance",
         ["binance holds 0.5 BTC, the book 0.4", "DRIFT_POLICY=reduce_only"], Level.FAILURE),
        (EVENTS[6], "Trading halted", ["Reason: set through the API"], Level.WARNING),
        (EVENTS[7], "Monitor down", ["no round for 40 s"], Level.WARNING),
        (EVENTS[8], "Forwarder down", ["no forwarder heartbeat for 40 s"], Level.WARNING),
        (EVENTS[9], "Summary of the 24 h to 2026-12-05 14:30 UTC",
         ["Signals: 3 executed", "Closed brackets: 1, realized P&L +5 USDT (fees 1 USDT)",
          "Open positions: 0"], Level.INFO),
        (TEST_MESSAGE, "Test message from signalgate",
         ["Channel 1 of NOTIFY_URLS reaches you: its notifications will arrive here.",
          "Asked for from the console at 2026-12-05 14:30:00 UTC."], Level.INFO),
    ],
)  # fmt: skip
def test_the_message_of_each_event(
    event: Event, title: str, lines: list[str], level: Level
) -> None:
    message = render(event)
    assert (message.title, message.body.splitlines(), message.level) == (title, lines, level)


def test_an_order_in_doubt_says_how_to_settle_it_and_is_urgent() -> None:
    message = render(EVENTS[4])
    assert message.title == "URGENT: BTC/USDT order in doubt on paper"
    assert "`signalgate orders resolve sgABCen0 --found` (or --gone)" in message.body
    assert message.level is Level.FAILURE


def test_a_resting_entry_a_missing_stop_and_a_midnight_summary_say_so() -> None:
    resting = msgspec.structs.replace(EXECUTED, price=None, filled=D(0), legs=(), state="opening")
    message = render(resting)
    assert message.title == "BTC/USDT long entry resting on paper"
    assert message.body.splitlines()[:2] == [
        "Entry buy 0.01 BTC/USDT: nothing filled yet", "No stop-loss"
    ]  # fmt: skip
    midnight = datetime(2026, 12, 6, tzinfo=UTC)
    summary = DailySummary(AT, midnight, {}, 0, {}, {})
    assert render(summary).title == "Daily summary of 2026-12-05"
    assert render(summary).body.splitlines()[0] == "Signals: none"


def test_a_summary_lists_twenty_open_positions_and_counts_the_rest() -> None:
    held = tuple(OpenPosition("paper", f"C{n}/USDT", "sell", D(1), None) for n in range(23))
    lines = render(DailySummary(AT, AT, {}, 0, {}, {}, held)).body.splitlines()
    assert lines[2] == "Open positions: 23"
    assert lines[3] == "- C0/USDT short 1 on paper"
    assert lines[-1] == "- and 3 more: GET /positions"
    assert len(lines) == 3 + 20 + 1


@pytest.mark.parametrize(
    ("now", "at", "expected"),
    [
        ("2026-12-05T14:30:00", "00:00", "2026-12-06T00:00:00"),
        ("2026-12-05T14:30:00", "21:30", "2026-12-05T21:30:00"),
        ("2026-12-05T21:30:00", "21:30", "2026-12-06T21:30:00"),
    ],
)
def test_the_next_summary_is_the_first_time_of_day_after_now(
    now: str, at: str, expected: str
) -> None:
    hours, minutes = map(int, at.split(":"))
    found = next_summary(datetime.fromisoformat(now).replace(tzinfo=UTC), time(hours, minutes))
    assert found == datetime.fromisoformat(expected).replace(tzinfo=UTC)
