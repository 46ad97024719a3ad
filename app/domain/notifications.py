"""Notifications: the events a trader is told about, which channel hears which, and how often.

An event is a value made where the thing happens (the executor, the bracket driver, the
reconciler, the kill switch, the monitor, the daily summary), carried as JSON by an RQ job of the
`notifications` queue, and turned into a message by `app.domain.notify_text`. `NOTIFY_EVENTS`
routes each kind to channels (`Routes`); `admit` spaces the messages of one channel.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import msgspec

from app.domain.performance import Performance


class EventKind(enum.StrEnum):
    EXECUTED = "executed"  # an entry was placed (filled, or resting) with its legs
    DENIED = "denied"  # a signal was denied, with the failed checks
    CLOSED = "closed"  # a bracket closed, with its P&L and fees
    UNPROTECTED = "unprotected"  # a protective leg could not be placed (urgent)
    DRIFT = "drift"  # the venue holds what the book cannot explain (urgent)
    IN_DOUBT = "in_doubt"  # an order got no answer and the venue does not know it (urgent)
    TRADING = "trading"  # the kill switch or an account's state: halted, reduce-only, resumed
    MONITOR = "monitor"  # the monitor lost or took its lease, went silent or came back
    FORWARDER = "forwarder"  # the forwarder went silent (alerts wait in the inbox) or came back
    SUMMARY = "summary"  # the daily summary
    TEST = "test"  # asked for from the console: to the one channel it names, never routed


URGENT = frozenset({EventKind.UNPROTECTED, EventKind.DRIFT, EventKind.IN_DOUBT})
ROUTED = frozenset(EventKind) - {EventKind.TEST}  # what NOTIFY_EVENTS chooses among
GROUPS = {"all": ROUTED, "urgent": URGENT}


class Level(enum.StrEnum):
    """How a channel shows a message (apprise's notification types)."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"  # urgent: a position may be at risk


class _Event(msgspec.Struct, frozen=True, tag_field="kind"):
    pass


class LegView(msgspec.Struct, frozen=True):
    """A protective leg as placed: `price` is its trigger or limit (None for a watched one)."""

    leg: str  # tp, sl
    kind: str
    amount: Decimal
    price: Decimal | None
    state: str


class EntryExecuted(_Event, frozen=True, tag=EventKind.EXECUTED.value):
    signal_id: str
    venue: str
    symbol: str
    side: str  # buy (a long) or sell
    ordered: Decimal  # the entry's amount
    filled: Decimal
    price: Decimal | None  # the average fill price; None while the entry rests unfilled
    state: str  # the bracket's state: open, opening (resting), unprotected
    quote: str
    legs: tuple[LegView, ...] = ()
    account: str | None = None  # whose (its own channels hear it too)


class Reason(msgspec.Struct, frozen=True):
    check: str
    sentence: str


class SignalDenied(_Event, frozen=True, tag=EventKind.DENIED.value):
    signal_id: str
    symbol: str
    action: str
    reasons: tuple[Reason, ...]
    account: str | None = None


class BracketClosed(_Event, frozen=True, tag=EventKind.CLOSED.value):
    bracket_id: str
    venue: str
    symbol: str
    side: str
    amount: Decimal  # what the entry brought in
    entry_price: Decimal | None
    exit_price: Decimal | None  # the average of the exits' fills
    realized_pnl: Decimal  # fees deducted
    fees: Decimal
    quote: str
    exits: tuple[str, ...]  # the legs that took the position out: sl, tp, exit
    account: str | None = None


class Unprotected(_Event, frozen=True, tag=EventKind.UNPROTECTED.value):
    bracket_id: str
    venue: str
    symbol: str
    side: str
    position: Decimal
    why: str
    closing: bool  # UNPROTECTED_POLICY=close flattens it
    account: str | None = None


class InDoubt(_Event, frozen=True, tag=EventKind.IN_DOUBT.value):
    bracket_id: str
    venue: str
    symbol: str
    leg: str
    client_order_id: str
    account: str | None = None


class Drift(_Event, frozen=True, tag=EventKind.DRIFT.value):
    venue: str
    note: str
    policy: str
    at: datetime
    accounts: tuple[str, ...] = ()  # whose brackets it concerns


class TradingChanged(_Event, frozen=True, tag=EventKind.TRADING.value):
    """The kill switch moved, or one account's own trading state (`account`) did."""

    state: str  # active, reducing_only, halted
    reason: str
    at: datetime
    account: str | None = None


class ProcessChange(enum.StrEnum):
    """What became of the monitor or the forwarder (each a process of its own)."""

    LEASE_LOST = "lease_lost"  # this monitor could not renew its lease: it stopped acting
    TOOK_OVER = "took_over"  # a monitor took the lease (at start, or after another one)
    DOWN = "down"  # its heartbeat stopped for too long (seen by the notifier)
    BACK = "back"  # it beats again


class MonitorChanged(_Event, frozen=True, tag=EventKind.MONITOR.value):
    change: ProcessChange
    detail: str
    at: datetime


class ForwarderChanged(_Event, frozen=True, tag=EventKind.FORWARDER.value):
    change: ProcessChange  # DOWN or BACK
    detail: str
    at: datetime


class OpenPosition(msgspec.Struct, frozen=True):
    venue: str
    symbol: str
    side: str
    amount: Decimal
    entry_price: Decimal | None


class DailySummary(_Event, frozen=True, tag=EventKind.SUMMARY.value):
    start: datetime  # the 24 hours summed up, UTC
    end: datetime
    signals: dict[str, int]  # received in those hours, by current status
    closed: int  # brackets closed in those hours
    pnl: dict[str, Decimal]  # their realized P&L by quote currency, fees deducted
    fees: dict[str, Decimal]
    open: tuple[OpenPosition, ...] = ()  # open positions when the summary was made
    strategies: tuple[Performance, ...] = ()  # the trades closed in those hours, per strategy


class ChannelTest(_Event, frozen=True, tag=EventKind.TEST.value):
    """A message that shows a channel reaches the trader: sent to `channel` alone."""

    channel: int
    at: datetime  # when it was asked for
    by: str  # who asked: "console"


Event = (
    EntryExecuted
    | SignalDenied
    | BracketClosed
    | Unprotected
    | InDoubt
    | Drift
    | TradingChanged
    | MonitorChanged
    | ForwarderChanged
    | DailySummary
    | ChannelTest
)


def kind_of(event: Event) -> EventKind:
    return EventKind(str(type(event).__struct_config__.tag))


def level_of(event: Event) -> Level:
    match event:
        case Unprotected() | InDoubt() | Drift():
            return Level.FAILURE
        case SignalDenied():
            return Level.WARNING
        case TradingChanged(state=state):
            return Level.SUCCESS if state == "active" else Level.WARNING
        case MonitorChanged(change=change) | ForwarderChanged(change=change):
            bad = change in (ProcessChange.LEASE_LOST, ProcessChange.DOWN)
            return Level.WARNING if bad else Level.SUCCESS
        case BracketClosed(realized_pnl=pnl):
            return Level.SUCCESS if pnl >= 0 else Level.INFO
    return Level.INFO


def event_key(event: Event) -> str:
    """The event's identity: one notification per channel and key, however often the event is
    seen (a retried job, two processes, a restart)."""
    match event:
        case EntryExecuted(signal_id=sid) | SignalDenied(signal_id=sid):
            return f"{kind_of(event)}-{sid}"
        case BracketClosed(bracket_id=bid) | Unprotected(bracket_id=bid):
            return f"{kind_of(event)}-{bid}"
        case InDoubt(client_order_id=cid):
            return f"in_doubt-{cid}"
        case Drift(venue=venue, at=at):
            return f"drift-{venue}-{_stamp(at)}"
        case TradingChanged(state=state, at=at, account=account):
            whose = f"{account}-" if account else ""
            return f"trading-{whose}{state}-{_stamp(at)}"
        case MonitorChanged(change=change, at=at):
            return f"monitor-{change}-{_stamp(at)}"
        case ForwarderChanged(change=change, at=at):
            return f"forwarder-{change}-{_stamp(at)}"
        case DailySummary(end=end):
            return f"summary-{_stamp(end)}"
        case ChannelTest(at=at):
            return f"test-{_stamp(at)}"
    raise AssertionError(f"unknown event {event!r}")


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%S%f")


def accounts_of(event: Event) -> tuple[str, ...]:
    """The accounts `event` belongs to, whose own channels hear it besides NOTIFY_URLS'; () for
    an event of the whole deployment (the kill switch, the monitor, the summary...)."""
    match event:
        case Drift(accounts=accounts):
            return accounts
        case (
            EntryExecuted(account=account)
            | SignalDenied(account=account)
            | BracketClosed(account=account)
            | Unprotected(account=account)
            | InDoubt(account=account)
            | TradingChanged(account=account)
        ):
            return (account,) if account else ()
    return ()


def channel_label(index: int, account: str | None = None) -> str:
    """A channel's name in Redis keys, job ids and /metrics: its index in NOTIFY_URLS (`1`), or
    an account's name and the index among its own URLs (`main-0`)."""
    return str(index) if account is None else f"{account}-{index}"


class Routes(msgspec.Struct, frozen=True):
    """The kinds of event each channel hears, by the channel's index in `NOTIFY_URLS`."""

    channels: tuple[frozenset[EventKind], ...] = ()

    def to(self, kind: EventKind) -> tuple[int, ...]:
        return tuple(i for i, kinds in enumerate(self.channels) if kind in kinds)

    def of(self, event: Event) -> tuple[int, ...]:
        """The channels that hear `event`: a test message, the one it names (if it exists)."""
        if isinstance(event, ChannelTest):
            return (event.channel,) if 0 <= event.channel < len(self.channels) else ()
        return self.to(kind_of(event))


def parse_routes(raw: str, channels: int, source: str = "NOTIFY_URLS") -> Routes:
    """`NOTIFY_EVENTS` for `channels` channels: `0:all;1:urgent,closed;2:all,-denied`.

    Entries are separated by `;`, each a channel's index (from 0, in `NOTIFY_URLS`' order), a
    colon and its event kinds or groups (`all`, `urgent`) separated by commas; `-name` leaves a
    kind or group out. A channel without an entry hears every event. `source`: whose channels
    they are, for the sentence of an index out of range.

    Raises:
        ValueError: a sentence saying what to write instead.
    """
    known = ", ".join([*GROUPS, *(k.value for k in EventKind if k in ROUTED)])
    chosen: list[frozenset[EventKind]] = [GROUPS["all"]] * channels
    for entry in filter(None, (part.strip() for part in raw.split(";"))):
        index, colon, names = entry.partition(":")
        if not colon or not index.strip().isdigit():
            raise ValueError("write INDEX:events entries separated by ';', like 0:all;1:urgent")
        number = int(index)
        if number >= channels:
            raise ValueError(
                f"there is no channel {number}: {source} has {channels}, numbered from 0"
            )
        kinds: set[EventKind] = set()
        for name in filter(None, (n.strip().lower() for n in names.split(","))):
            leave_out = name.startswith("-")
            found = _kinds(name.removeprefix("-"))
            if found is None:
                raise ValueError(f"{name.removeprefix('-')!r} is not an event: use {known}")
            kinds = kinds - found if leave_out else kinds | found
        chosen[number] = frozenset(kinds)
    return Routes(tuple(chosen))


def _kinds(name: str) -> frozenset[EventKind] | None:
    if name in GROUPS:
        return GROUPS[name]
    try:
        kind = EventKind(name)
    except ValueError:
        return None
    return frozenset({kind}) if kind in ROUTED else None


class Admission(msgspec.Struct, frozen=True):
    """When a message may go (`at`), and the channel's state after it (`tat`)."""

    at: float
    tat: float


def admit(
    tat: float | None,
    now: float,
    *,
    per_minute: int,
    max_wait_seconds: float,
    urgent: bool = False,
) -> Admission | None:
    """The channel's next slot for one message (a generic cell rate algorithm: `per_minute`
    messages a minute, as many at once after a quiet minute); None when it would wait longer than
    `max_wait_seconds` (the message is dropped, not held for ever behind a flood). `tat` is the
    channel's theoretical arrival time (None: a quiet channel). An urgent message goes now,
    and still takes its slot."""
    interval = 60.0 / per_minute
    base = max(tat if tat is not None else now, now)
    at = now if urgent else max(now, base - interval * (per_minute - 1))
    if at - now > max_wait_seconds:
        return None
    return Admission(at=at, tat=base + interval)


def next_summary(now: datetime, at: time) -> datetime:
    """When the daily summary goes out next: the first `at` (UTC) after `now`."""
    today = datetime.combine(now.date(), at, tzinfo=UTC)
    return today if today > now else today + timedelta(days=1)
