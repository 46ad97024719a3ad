"""`signalgate venues check [NAME]`, and the same check when a worker or the monitor starts:
the live venues are built from their settings (a ccxt profile missing or unproven stops there,
so does a mode a native adapter has not) and asked about their keys, clock, markets, balance and
position mode, one line per venue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from app.bootstrap.venues import VenueSetupError, close_venues, live_venue
from app.config.settings import Settings
from app.ports.exchange import Exchange
from app.services.venue_check import VenueReport, check_venue

log = logging.getLogger("signalgate.venues")


async def check_venues(settings: Settings, names: Sequence[str] = ()) -> list[VenueReport]:
    """A report per venue of `settings` (those of `names` only, when given).

    Raises:
        VenueSetupError: a name that is not a venue, or a venue that cannot be built.
    """
    known = {venue.name for venue in settings.venues}
    if missing := [name for name in names if name not in known]:
        raise VenueSetupError(
            f"{', '.join(missing)} is not in VENUES ({', '.join(sorted(known))}): check the name."
        )
    reports: list[VenueReport] = []
    for venue in settings.venues:
        if names and venue.name not in names:
            continue
        if venue.is_paper:
            reports.append(VenueReport(venue.name, facts=["paper: simulated, nothing to ask"]))
            continue
        built: dict[str, Exchange] = {venue.name: live_venue(venue)}
        try:
            reports.append(await check_venue(venue.name, built[venue.name]))
        finally:
            await close_venues(built)
    return reports


def check_at_start(settings: Settings, process: str) -> None:
    """Log each venue's line; refuse to start when one is unsafe to trade (its problems in the
    error), and start with a warning when one does not answer (the circuit breaker copes).

    Raises:
        VenueSetupError: a venue cannot be built, or its check found a problem.
    """
    reports = asyncio.run(check_venues(settings))
    for report in reports:
        level = logging.INFO if report.ok else logging.WARNING
        log.log(level, "%s start: %s", process, report.line())
    refused = [report for report in reports if report.problems]
    if refused:
        raise VenueSetupError(
            " ".join(f"{r.venue}: {'; '.join(r.problems)}." for r in refused)
            + " Fix it, or remove the venue from VENUES."
        )
