"""Builds the venues and the market data source from Settings (a part of the wiring).

Paper venues are fed by the market data source, each with its own fee and price offset, and keep
their state in SQL; ccxt venues trade on their testnet or live, as each venue's settings say, and
so do the venues ccxt does not have through adapters of their own (`NATIVE_VENUES`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from app.adapters.ccxt.budgets import DEFAULT_BUDGETS
from app.adapters.ccxt.price_streams import PRICE_STREAM_PATHS
from app.adapters.ccxt.profiles import VENUES as CCXT_PROFILES
from app.adapters.market_data import ReplayFeed, SyntheticFeed
from app.adapters.paper.exchange import PaperExchange
from app.adapters.paper.store import SqlPaperStore
from app.adapters.pionex.exchange import PionexExchange
from app.adapters.tick_recorder import CsvTickSink, TickRecorder
from app.config.settings import Settings
from app.config.venues import TradingMode, VenueSettings
from app.domain.budget import RequestBudget
from app.domain.market import Market, OrderBook, shifted
from app.domain.synthetic import CACHE_LIMIT, SymbolSpec, SyntheticMarket
from app.ports.errors import Retryable
from app.ports.exchange import Exchange, MarketData
from app.ports.streams import BookStream, OrderStream, SharedBooks
from app.services.budgeted import BudgetedVenue
from app.services.streamed import SharedBookVenue, StreamedVenue

if TYPE_CHECKING:  # ccxt itself is imported where a venue or source needs it: paper needs none
    from app.adapters.ccxt.client import Mode
    from app.adapters.ccxt.exchange import CcxtExchange

log = logging.getLogger(__name__)

# Where the synthetic feed starts each symbol; others start at 100.
START_PRICES = {"BTC": Decimal(65_000), "ETH": Decimal(3_000), "SOL": Decimal(150)}
# Prices and amounts a paced (live) synthetic feed keeps for reuse, per symbol and kind: its few
# ticks a second gain nothing from more, and the monitor that runs it runs for days.
LIVE_CACHE_LIMIT = 5_000


class VenueSetupError(ValueError):
    """A venue cannot be built from its settings; the message says what to change."""


def build_market_data(
    settings: Settings, *, now: datetime | None = None, paced: bool = True
) -> MarketData:
    """The source `MARKET_DATA` names; a synthetic feed is paced in real time unless `paced`
    is False (backtests, tests)."""
    data = settings.market_data
    match data.source:
        case "replay":
            assert data.path is not None
            return ReplayFeed.from_csv(Path(data.path))
        case "ccxt":
            assert data.exchange is not None
            stream = None
            if data.stream if data.stream is not None else data.exchange in PRICE_STREAM_PATHS:
                from app.adapters.ccxt.books import CcxtBookStream  # noqa: PLC0415 - ccxt.pro

                stream = CcxtBookStream(data.exchange)
            from app.adapters.ccxt.market import CcxtMarketData  # noqa: PLC0415 - ccxt

            return CcxtMarketData(data.exchange, data.symbols, stream=stream,
                                  max_age_seconds=data.stream_max_age_seconds)  # fmt: skip
        case _:
            specs = [
                SymbolSpec(symbol, START_PRICES.get(symbol.split("/")[0], Decimal(100)))
                for symbol in data.symbols
            ]
            start = now or datetime.now(UTC)
            limit = LIVE_CACHE_LIMIT if paced else CACHE_LIMIT
            market = SyntheticMarket(specs, seed=data.seed, start=start, cache_limit=limit)
            return SyntheticFeed(market, speed=1.0 if paced else None)


def build_recorder(settings: Settings, engine: Engine) -> TickRecorder | None:
    """`MARKET_DATA_RECORD`'s recorder of the feed's ticks, None when nothing is kept.

    Raises:
        ValueError: the file cannot be written, in one sentence.
    """
    record = settings.market_data.record
    if record is None:
        return None
    if record == "db":
        from app.adapters.sql.market_ticks import SqlTickSink  # noqa: PLC0415

        return TickRecorder(SqlTickSink(engine))
    try:
        return TickRecorder(CsvTickSink(Path(record)))
    except ValueError as error:
        raise ValueError(f"MARKET_DATA_RECORD={error}") from None


def paper_market(symbol: str, fee: Decimal) -> Market:
    base, quote = symbol.split(":", maxsplit=1)[0].split("/")
    return Market(
        symbol=symbol,
        base=base,
        quote=quote,
        taker_fee=fee,
        maker_fee=fee,
        min_cost=Decimal(1),
    )


def _books(market_data: MarketData, bps: Decimal) -> Callable[[str], OrderBook]:
    def book(symbol: str) -> OrderBook:
        found = market_data.order_book(symbol)
        if found is None:
            raise Retryable(f"there is no price for {symbol} yet; the feed has not started.")
        return shifted(found, bps)

    return book


def build_venues(
    settings: Settings,
    *,
    engine: Engine,
    market_data: MarketData,
    clock: Callable[[], datetime],
) -> dict[str, Exchange]:
    """Every venue of `settings.venues`, by name.

    Raises:
        VenueSetupError: a ccxt venue signalgate has no profile for yet, or a testnet ccxt
            (or the venue, like Pionex) does not offer.
    """
    build = hosted_venues(settings, engine=engine, market_data=market_data, clock=clock)
    return {venue.name: build(venue) for venue in settings.venues}


def hosted_venues(
    settings: Settings,
    *,
    engine: Engine,
    market_data: MarketData,
    clock: Callable[[], datetime],
) -> Callable[[VenueSettings], Exchange]:
    """How the monitor builds a venue: a paper one hosted here, fed by `market_data` and kept in
    SQL, a live or testnet one through its adapter. The builder raises VenueSetupError."""
    store = SqlPaperStore(engine)

    def build(venue: VenueSettings) -> Exchange:
        if not venue.is_paper:
            return live_venue(venue)
        return PaperExchange.open(
            venue.name,
            [paper_market(symbol, venue.fee) for symbol in settings.market_data.symbols],
            _books(market_data, venue.price_offset_bps),
            clock,
            store,
            balances=venue.balances,
        )

    return build


def pionex_venue(venue: VenueSettings) -> PionexExchange:
    """Pionex through its native adapter (ccxt has no Pionex); live only."""
    if venue.mode is not TradingMode.LIVE:
        raise VenueSetupError(
            f"{venue.name.upper()}_MODE={venue.mode}: Pionex has no testnet; use live (real"
            " money) or a paper venue."
        )
    assert venue.api_key is not None
    assert venue.api_secret is not None
    return PionexExchange(api_key=venue.api_key, secret=venue.api_secret, base_url=venue.api_url)


# venues ccxt does not have, traded through adapters of their own REST APIs
NATIVE_VENUES: dict[str, Callable[[VenueSettings], Exchange]] = {"pionex": pionex_venue}


def live_venue(venue: VenueSettings) -> Exchange:
    """A testnet or live venue: through its native adapter where it has one, else ccxt."""
    native = NATIVE_VENUES.get(venue.exchange)
    return native(venue) if native is not None else ccxt_venue(venue)


def ccxt_venue(venue: VenueSettings) -> CcxtExchange:
    if venue.exchange not in CCXT_PROFILES:
        known = ", ".join(sorted({*CCXT_PROFILES, *NATIVE_VENUES}))
        raise VenueSetupError(
            f"{venue.name.upper()}_EXCHANGE={venue.exchange!r} has no venue profile yet "
            f"(known: {known}); pick one of those or add a row to app/adapters/ccxt/profiles.py."
        )
    if not CCXT_PROFILES[venue.exchange].proven:
        if not venue.unproven:
            raise VenueSetupError(
                f"{venue.name.upper()}_EXCHANGE={venue.exchange} is not proven: no road test"
                " trades it through ccxt against a faithful fake of the venue yet; set"
                f" {venue.name.upper()}_UNPROVEN=accept to trade it anyway at your own risk."
            )
        log.warning("%s (%s) is not proven by a road test and trades because %s_UNPROVEN="
                    "accept: its orders may not do what signalgate expects", venue.name,
                    venue.exchange, venue.name.upper())  # fmt: skip
    assert venue.api_key is not None
    assert venue.api_secret is not None
    from app.adapters.ccxt.exchange import CcxtExchange  # noqa: PLC0415 - ccxt

    try:
        return CcxtExchange(
            venue.exchange,
            mode="live" if venue.mode == "live" else "testnet",
            api_key=venue.api_key,
            secret=venue.api_secret,
            password=venue.api_password,
            base_url=venue.api_url,
        )
    except ValueError as error:  # e.g. ccxt has no testnet for this exchange
        raise VenueSetupError(f"{venue.name.upper()}_MODE={venue.mode}: {error}") from error


def order_streams(settings: Settings) -> dict[str, OrderStream]:
    """The order stream of every ccxt venue whose `<VENUE>_STREAMS` is on (by default, where
    its profile has a stream proven against the venue's fake), by venue name."""
    found: dict[str, OrderStream] = {}
    for venue in settings.venues:
        profile = CCXT_PROFILES.get(venue.exchange)
        if profile is None or not _streams_on(venue, proven=bool(profile.stream_paths)):
            continue
        # ccxt.pro loads every venue's websocket module: only a monitor with streams pays for it
        from app.adapters.ccxt.streams import CcxtOrderStream  # noqa: PLC0415

        assert venue.api_key is not None
        assert venue.api_secret is not None
        found[venue.name] = CcxtOrderStream(
            venue.exchange,
            mode="live" if venue.mode == "live" else "testnet",
            api_key=venue.api_key,
            secret=venue.api_secret,
            password=venue.api_password,
            base_url=venue.api_url,
            stream_url=venue.stream_url,
        )
    return found


def _streams_on(venue: VenueSettings, proven: bool) -> bool:
    """`<VENUE>_STREAMS`, by default on where the venue's stream is `proven`, unless its REST
    API is pointed elsewhere (`<VENUE>_API_URL`: a proxy, a fake) without a `<VENUE>_STREAM_URL`:
    the venue's own stream host would then be another place than the one it trades with."""
    if venue.is_paper or venue.exchange not in CCXT_PROFILES or venue.exchange in NATIVE_VENUES:
        return False
    if venue.streams is None:
        return proven and (venue.api_url is None or venue.stream_url is not None)
    return venue.streams


def book_streams(settings: Settings) -> dict[str, BookStream]:
    """The public book stream of every ccxt venue whose `<VENUE>_STREAMS` is on and whose
    price stream a test proves, by venue name."""
    found: dict[str, BookStream] = {}
    names = streamed_venue_names(settings)
    for venue in settings.venues:
        if venue.name in names:
            from app.adapters.ccxt.books import CcxtBookStream  # noqa: PLC0415 - ccxt.pro

            mode: Mode = "live" if venue.mode == "live" else "testnet"
            found[venue.name] = CcxtBookStream(venue.exchange, mode=mode, base_url=venue.api_url,
                                               stream_url=venue.stream_url)  # fmt: skip
    return found


def streamed_venue_names(settings: Settings) -> set[str]:
    """The venues whose books the monitor streams (`book_streams`) and shares with the workers."""
    return {
        venue.name
        for venue in settings.venues
        if venue.exchange in PRICE_STREAM_PATHS and _streams_on(venue, proven=True)
    }


def streamed(
    settings: Settings, venues: Mapping[str, Exchange], books: Mapping[str, BookStream]
) -> dict[str, Exchange]:
    """`venues` with their order books read from `books` while fresh
    (`PRICE_STREAM_MAX_AGE_SECONDS`), from the venue otherwise."""
    max_age = settings.market_data.stream_max_age_seconds
    return {name: StreamedVenue(venue, books[name], max_age_seconds=max_age) if name in books
            else venue for name, venue in venues.items()}  # fmt: skip


def shared_streamed(
    settings: Settings, venues: Mapping[str, Exchange], shared: SharedBooks
) -> dict[str, Exchange]:
    """`venues` as a worker reads them: the books of those the monitor streams from the copies
    it shares (`shared`) while fresh, from the venue otherwise."""
    max_age, names = settings.market_data.stream_max_age_seconds, streamed_venue_names(settings)
    return {name: SharedBookVenue(venue, shared, max_age_seconds=max_age) if name in names
            else venue for name, venue in venues.items()}  # fmt: skip


def budgeted(settings: Settings, venues: Mapping[str, Exchange]) -> dict[str, Exchange]:
    """`venues` as the monitor and the reconciliation use them: each testnet or live venue with
    a request budget (`<VENUE>_REQUEST_BUDGET`, else the venue's default; 0: none) paced by it."""
    found = dict(venues)
    for venue in settings.venues:
        per_minute = venue.request_budget
        if per_minute is None and not venue.is_paper:
            per_minute = DEFAULT_BUDGETS.get(venue.exchange)
        if per_minute and venue.name in found:
            found[venue.name] = BudgetedVenue(found[venue.name], RequestBudget(per_minute))
    return found


def venue_modes(settings: Settings) -> dict[str, str]:
    return {venue.name: venue.mode.value for venue in settings.venues}


async def close_venues(venues: Mapping[str, Exchange]) -> None:
    for venue in venues.values():
        close = getattr(venue, "close", None)
        if close is not None:
            await close()
