"""The text of each notification: a title and a few plain lines a trader reads on a phone.

Pure: the same event always gives the same message, and nothing but the event goes into it (no
setting, no URL, no secret).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from app.domain.accounts import IMPLICIT
from app.domain.notifications import (
    BracketClosed,
    ChannelTest,
    DailySummary,
    Drift,
    EntryExecuted,
    Event,
    ForwarderChanged,
    InDoubt,
    LegView,
    Level,
    MonitorChanged,
    ProcessChange,
    SignalDenied,
    TradingChanged,
    Unprotected,
    accounts_of,
    level_of,
)

_PLACES = Decimal("1e-8")
SHOWN_POSITIONS = 20  # a summary stays one message (Telegram takes 4,096 characters)
_LEGS = {"tp": "take-profit", "sl": "stop-loss", "exit": "close at market", "entry": "entry"}
_STATES = {"active": "resumed", "reducing_only": "reduce-only: exits only", "halted": "halted"}
_MONITOR = {
    ProcessChange.LEASE_LOST: "Monitor lost its lease",
    ProcessChange.TOOK_OVER: "Monitor took over",
    ProcessChange.DOWN: "Monitor down",
    ProcessChange.BACK: "Monitor back",
}


class Message(msgspec.Struct, frozen=True):
    title: str
    body: str
    level: Level


def render(event: Event) -> Message:
    """The message for `event`: one of an account (but the implicit one) names it."""
    title, lines = _text(event)
    named = [name for name in accounts_of(event) if name != IMPLICIT]
    if named and not isinstance(event, TradingChanged):  # whose trading state: in its title
        lines.append(f"Account{'s' if len(named) > 1 else ''} {', '.join(named)}")
    level = level_of(event)
    if level is Level.FAILURE:
        title = f"URGENT: {title}"
    return Message(title, "\n".join(lines), level)


def number(value: Decimal) -> str:
    """A number as people write it: thousands separated, no exponent, at most 8 decimals."""
    return f"{value.quantize(_PLACES, ROUND_HALF_EVEN).normalize():,f}" if value else "0"


def signed(value: Decimal) -> str:
    return f"+{number(value)}" if value > 0 else number(value)


def position(side: str) -> str:
    return "long" if side == "buy" else "short"


def _text(event: Event) -> tuple[str, list[str]]:
    match event:
        case EntryExecuted():
            return _executed(event)
        case SignalDenied():
            title = f"Signal denied: {event.action} {event.symbol}"
            reasons = [f"- {r.check}: {r.sentence}" for r in event.reasons]
            return title, [*reasons, f"Signal {event.signal_id}"]
        case BracketClosed():
            return _closed(event)
        case Unprotected():
            return _unprotected(event)
        case InDoubt():
            title = f"{event.symbol} order in doubt on {event.venue}"
            return title, [
                f"The {_LEGS.get(event.leg, event.leg)} order {event.client_order_id} got no"
                f" answer and {event.venue} does not know it: no new {event.symbol} entry until"
                " the monitor finds it, or settle it with"
                f" `signalgate orders resolve {event.client_order_id} --found` (or --gone).",
                f"Bracket {event.bracket_id}",
            ]
        case Drift():
            return f"Drift on {event.venue}", [event.note, f"DRIFT_POLICY={event.policy}"]
        case TradingChanged():
            whose = "Trading" if event.account is None else f"Account {event.account}"
            return f"{whose} {_STATES.get(event.state, event.state)}", [f"Reason: {event.reason}"]
        case MonitorChanged():
            return _MONITOR[event.change], [event.detail]
        case ForwarderChanged():
            return f"Forwarder {event.change}", [event.detail]
        case DailySummary():
            return _summary(event)
        case ChannelTest():
            return "Test message from signalgate", [
                f"Channel {event.channel} of NOTIFY_URLS reaches you: its notifications will"
                " arrive here.",
                f"Asked for from the {event.by} at {event.at:%Y-%m-%d %H:%M:%S} UTC.",
            ]
    raise AssertionError(f"unknown event {event!r}")


def _executed(event: EntryExecuted) -> tuple[str, list[str]]:
    what = f"{event.symbol} {position(event.side)}"
    if event.price is None:
        title = f"{what} entry resting on {event.venue}"
        lines = [f"Entry {event.side} {number(event.ordered)} {event.symbol}: nothing filled yet"]
    else:
        title = f"{what} opened on {event.venue}"
        done = "" if event.filled == event.ordered else f" ({number(event.ordered)} ordered)"
        lines = [
            f"Entry {event.side} {number(event.filled)} {event.symbol} at"
            f" {number(event.price)} {event.quote}{done}"
        ]
    lines += [_leg(leg) for leg in event.legs]
    if not any(leg.leg == "sl" for leg in event.legs):
        lines.append("No stop-loss")
    if event.state == "unprotected":
        lines.append("UNPROTECTED: a protective leg could not be placed")
    return title, [*lines, f"Signal {event.signal_id}"]


def _leg(leg: LegView) -> str:
    name = _LEGS.get(leg.leg, leg.leg).capitalize()
    at = f" at {number(leg.price)}" if leg.price is not None else ""
    return f"{name}: {number(leg.amount)}{at} ({leg.kind}, {leg.state})"


def _closed(event: BracketClosed) -> tuple[str, list[str]]:
    by = " and ".join(dict.fromkeys(_LEGS.get(e, e) for e in event.exits)) or "the book"
    title = (
        f"{event.symbol} {position(event.side)} closed by {by}:"
        f" {signed(event.realized_pnl)} {event.quote}"
    )
    entry = f" at {number(event.entry_price)}" if event.entry_price is not None else ""
    exit_ = f", out at {number(event.exit_price)}" if event.exit_price is not None else ""
    return title, [
        f"In {number(event.amount)}{entry}{exit_} on {event.venue}",
        f"Realized P&L {signed(event.realized_pnl)} {event.quote} after"
        f" {number(event.fees)} {event.quote} fees",
        f"Bracket {event.bracket_id}",
    ]


def _unprotected(event: Unprotected) -> tuple[str, list[str]]:
    title = f"{event.symbol} {position(event.side)} UNPROTECTED on {event.venue}"
    policy = (
        "closing it at market (UNPROTECTED_POLICY=close)"
        if event.closing
        else "left open (UNPROTECTED_POLICY=keep): protect or close it by hand"
    )
    return title, [
        f"{event.why}",
        f"Position {number(event.position)} {event.symbol}: {policy}",
        f"Bracket {event.bracket_id}",
    ]


def _summary(event: DailySummary) -> tuple[str, list[str]]:
    counts = sorted(event.signals.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{count} {status}" for status, count in counts if count) or "none"
    pnl = ", ".join(f"{signed(v)} {q}" for q, v in sorted(event.pnl.items())) or "0"
    fees = ", ".join(f"{number(v)} {q}" for q, v in sorted(event.fees.items())) or "0"
    lines = [
        f"Signals: {shown}",
        f"Closed brackets: {event.closed}, realized P&L {pnl} (fees {fees})",
    ]
    lines.extend(
        f"- {made.strategy or 'alerts without a strategy'} on {made.account}: {made.trades}"
        f" trade{'' if made.trades == 1 else 's'}, {made.win_rate:.0%} won, {signed(made.pnl)}"
        f" {made.currency}, max drawdown {number(made.max_drawdown)}"
        for made in event.strategies[:SHOWN_POSITIONS]
    )
    if len(event.strategies) > SHOWN_POSITIONS:
        lines.append(f"- and {len(event.strategies) - SHOWN_POSITIONS} more: GET /performance")
    lines.append(f"Open positions: {len(event.open)}")
    for held in event.open[:SHOWN_POSITIONS]:
        entry = f" at {number(held.entry_price)}" if held.entry_price is not None else ""
        lines.append(
            f"- {held.symbol} {position(held.side)} {number(held.amount)}{entry} on {held.venue}"
        )
    if len(event.open) > SHOWN_POSITIONS:
        lines.append(f"- and {len(event.open) - SHOWN_POSITIONS} more: GET /positions")
    end = event.end
    if (end.hour, end.minute) == (0, 0):
        return f"Daily summary of {event.start.date().isoformat()}", lines
    return f"Summary of the 24 h to {end:%Y-%m-%d %H:%M} UTC", lines
