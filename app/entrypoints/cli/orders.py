"""`signalgate orders resolve CLIENT_ORDER_ID --found|--gone`: settle an order in doubt."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.entrypoints.cli.startup import start


def cmd_resolve(args: argparse.Namespace) -> int:
    from app.bootstrap.orders import resolve  # noqa: PLC0415 - loads the venues
    from app.services.brackets.resolve import ResolveError  # noqa: PLC0415

    settings = start(needs_redis=True)
    try:
        said = resolve(settings, args.client_order_id, found=args.found)
    except ResolveError as error:
        print(f"signalgate: {error}", file=sys.stderr)
        return 1
    print(f"signalgate: {said}")
    return 0


def add_orders_commands(commands: Any) -> None:
    orders = commands.add_parser("orders", help="orders on record: settle one in doubt")
    actions = orders.add_subparsers(dest="orders_command", required=True)
    resolve = actions.add_parser(
        "resolve",
        help="settle an order whose outcome is unknown (its bracket is in doubt), after asking"
        " its venue",
    )
    resolve.add_argument("client_order_id", metavar="ORDER_ID", help="the client order id")
    how = resolve.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--found",
        action="store_true",
        help="look it up on the venue by client order id and take what the venue reports",
    )
    how.add_argument(
        "--gone",
        action="store_true",
        help="mark it gone (refused while the venue knows it)",
    )
    resolve.set_defaults(func=cmd_resolve)
