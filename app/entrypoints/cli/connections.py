"""`signalgate connections add|list|test|enable|disable|remove|rekey|genkey`: venue accounts kept
in the database, their keys sealed under SECRETS_KEY.

Keys never go on the command line (shell history, the process list): `add` asks for them, hidden,
on a terminal, and otherwise reads them from standard input, one a line (API key, API secret,
then the API password where the venue has one).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.domain.connections import (
    Connection,
    ConnectionConflict,
    InvalidConnection,
    NewConnection,
    UnknownConnection,
    VenueKeys,
)
from app.entrypoints.cli.startup import start

if TYPE_CHECKING:
    from app.services.connections import Connections


def describe(connection: Connection) -> str:
    """One line: what the connection is, its keys as shown, its last test."""
    where = "stored" if connection.id is not None else "environment, read-only"
    keys = [
        f"api_key {connection.api_key_hint}" if name == "api_key" and connection.api_key_hint
        else name
        for name in connection.key_fields
    ]  # fmt: skip
    test = connection.last_test
    tested = (
        "not tested"
        if test is None
        else f"last test {test.status} at {test.tested_at:%Y-%m-%d %H:%M:%SZ}: {test.reason}"
    )
    number = f" (id {connection.id})" if connection.id is not None else ""
    return (
        f"{connection.name}{number}: {connection.venue} {connection.mode}, {where}, "
        f"{'enabled' if connection.enabled else 'disabled'}; keys: {', '.join(keys) or 'none'}; "
        f"{tested}"
    )


def _run(action: Callable[[Connections], int]) -> int:
    """Run `action` on the connections service; a refusal is its sentence on stderr, exit 2."""
    from app.bootstrap.connections import opened_connections  # noqa: PLC0415 - loads SQL
    from app.services.connections import KeysLocked  # noqa: PLC0415

    settings = start()
    try:
        with opened_connections(settings) as service:
            return action(service)
    except UnknownConnection as error:
        print(f"signalgate: {error}: `signalgate connections list` lists them.", file=sys.stderr)
        return 2
    except (InvalidConnection, ConnectionConflict, KeysLocked) as error:
        print(f"signalgate: {error}", file=sys.stderr)
        return 2


def _read_keys(venue: str) -> VenueKeys:
    if venue == "paper":
        return VenueKeys()
    if sys.stdin.isatty():
        ask: Callable[[str], str] = getpass.getpass
    else:

        def ask(_: str) -> str:
            return sys.stdin.readline().strip()

    api_key, api_secret = ask("API key: "), ask("API secret: ")
    api_password = ask("API password (Enter for none): ")
    return VenueKeys(api_key or None, api_secret or None, api_password or None)


def cmd_add(args: argparse.Namespace) -> int:
    keys = _read_keys(args.venue)
    new = NewConnection(args.name, args.venue, args.mode, keys, args.api_url, not args.disabled)

    def add(service: Connections) -> int:
        added = service.add(new)
        print(f"signalgate: added {describe(added)}")
        print(f"  check it: signalgate connections test {added.name}")
        return 0

    return _run(add)


def cmd_list(_: argparse.Namespace) -> int:
    def show(service: Connections) -> int:
        for connection in service.list_all():
            print(describe(connection))
        return 0

    return _run(show)


def cmd_test(args: argparse.Namespace) -> int:
    def test(service: Connections) -> int:
        tested = asyncio.run(service.test(args.connection))
        result = tested.last_test
        assert result is not None
        print(f"{tested.name}: {result.status} - {result.reason}")
        if result.balance:
            held = ", ".join(f"{a} {t}" for a, t in sorted(result.balance.items()))  # plain
            print(f"  balance: {held}")
        for line in result.log:
            print(f"  {line}")
        return 0 if result.status == "ok" else 1

    return _run(test)


def _switch(enabled: bool) -> Callable[[argparse.Namespace], int]:
    def cmd(args: argparse.Namespace) -> int:
        from app.services.connections import ConnectionChange  # noqa: PLC0415

        def switch(service: Connections) -> int:
            changed = service.change(args.connection, ConnectionChange(enabled=enabled))
            print(f"signalgate: {describe(changed)}")
            return 0

        return _run(switch)

    return cmd


def cmd_remove(args: argparse.Namespace) -> int:
    def remove(service: Connections) -> int:
        print(f"signalgate: removed {service.remove(args.connection).name}")
        return 0

    return _run(remove)


def cmd_rekey(_: argparse.Namespace) -> int:
    def rekey(service: Connections) -> int:
        count = service.rekey()
        print(
            f"signalgate: {count} sealed secret(s) (connections' keys, accounts' notification"
            " URLs) are sealed under the first key of SECRETS_KEY; once every process runs with"
            " it, the older keys may go."
        )
        return 0

    return _run(rekey)


def cmd_genkey(_: argparse.Namespace) -> int:
    from app.bootstrap.connections import new_secrets_key  # noqa: PLC0415

    print(new_secrets_key())
    return 0


def add_connections_commands(commands: Any) -> None:
    connections = commands.add_parser(
        "connections", help="venue accounts kept in the database, their keys encrypted"
    )
    actions = connections.add_subparsers(dest="connections_command", required=True)
    add = actions.add_parser(
        "add",
        help="store a connection; its keys are asked for (hidden), or read from standard input"
        " one a line: API key, API secret, API password (empty when none)",
    )
    add.add_argument("name", help="letters, digits and _, like binance_main")
    add.add_argument(
        "--venue", required=True, help="paper, pionex, or a ccxt id a road test proves (binance...)"
    )
    add.add_argument("--mode", required=True, choices=["paper", "testnet", "live"])
    add.add_argument("--api-url", help="a proxy or regional endpoint instead of the venue's own")
    add.add_argument("--disabled", action="store_true", help="store it disabled")
    add.set_defaults(func=cmd_add)
    actions.add_parser(
        "list", help="every connection: the environment's (VENUES, read-only), then the stored"
    ).set_defaults(func=cmd_list)
    for name, func, said in [
        ("test", cmd_test, "run the venue check (keys, permissions, balance, clock, markets)"
         " and keep its outcome; exit 1 when it fails"),
        ("enable", _switch(enabled=True), "enable a stored connection"),
        ("disable", _switch(enabled=False), "disable a stored connection"),
        ("remove", cmd_remove, "remove a stored connection and its keys"),
    ]:  # fmt: skip
        action = actions.add_parser(name, help=said)
        action.add_argument("connection", metavar="NAME_OR_ID")
        action.set_defaults(func=func)
    actions.add_parser(
        "rekey",
        help="seal every stored key (and accounts' notification URLs) again under the first key"
        " of SECRETS_KEY=new,old",
    ).set_defaults(func=cmd_rekey)
    actions.add_parser("genkey", help="print a new SECRETS_KEY").set_defaults(func=cmd_genkey)
