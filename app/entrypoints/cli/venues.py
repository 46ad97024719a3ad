"""`signalgate venues check [NAME]`: ask each venue about its keys, clock, markets, balance and
position mode; one line per venue, exit 1 when one is refused or does not answer."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from app.entrypoints.cli.startup import start


def cmd_check(args: argparse.Namespace) -> int:
    from app.bootstrap.venue_check import check_venues  # noqa: PLC0415 - loads ccxt
    from app.bootstrap.venues import VenueSetupError  # noqa: PLC0415

    settings = start()
    try:
        reports = asyncio.run(check_venues(settings, [n.lower() for n in args.names]))
    except VenueSetupError as error:
        print(f"signalgate: {error}", file=sys.stderr)
        return 2
    for report in reports:
        print(report.line())
    return 0 if all(report.ok for report in reports) else 1


def add_venues_commands(commands: Any) -> None:
    venues = commands.add_parser("venues", help="the configured venues: check their connection")
    actions = venues.add_subparsers(dest="venues_command", required=True)
    check = actions.add_parser(
        "check",
        help="keys, trading and withdrawal permissions, clock skew, markets, balance and position"
        " mode of each venue (or of NAME)",
    )
    check.add_argument("names", nargs="*", metavar="NAME", help="venues to check (default: all)")
    check.set_defaults(func=cmd_check)
