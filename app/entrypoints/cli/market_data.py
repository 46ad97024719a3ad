"""`signalgate market-data export`: recorded ticks (`MARKET_DATA_RECORD=db`) to a CSV file for
`signalgate backtest --data`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.entrypoints.cli.backtest import iso_time
from app.entrypoints.cli.startup import start


def cmd_export(args: argparse.Namespace) -> int:
    from app.bootstrap.market_record import export_ticks  # noqa: PLC0415

    settings = start()
    try:
        count = export_ticks(settings, Path(args.out), symbol=args.symbol, since=args.since,
                             until=args.until)  # fmt: skip
    except ValueError as error:
        print(f"signalgate: {error}", file=sys.stderr)
        return 1
    print(f"signalgate: {count} ticks written to {args.out}")
    return 0


def add_market_data_commands(commands: Any) -> None:
    market = commands.add_parser("market-data", help="market data the feed recorded")
    actions = market.add_subparsers(dest="market_data_command", required=True)
    export = actions.add_parser(
        "export",
        help="write the ticks kept under MARKET_DATA_RECORD=db to a CSV file that"
        " `signalgate backtest --data` reads",
    )
    export.add_argument("--out", required=True, metavar="FILE.csv", help="appended to if it exists")
    export.add_argument("--symbol", help="one symbol only, such as BTC/USDT")
    export.add_argument("--since", type=iso_time, help="ticks at or after this time (ISO 8601)")
    export.add_argument("--until", type=iso_time, help="ticks before this time (ISO 8601)")
    export.set_defaults(func=cmd_export)
