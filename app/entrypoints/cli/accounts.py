"""`signalgate accounts add|change|list|halt|reduce-only|resume|remove|notify` and
`signalgate subscriptions add|list|enable|disable|remove`: the accounts an alert trades, with
their venues, limits, sizing, trading state and own notification channels, and the strategies
each one follows.

An account's notification URLs hold secrets (bot tokens, webhook keys): like a connection's
keys, they never go on the command line (shell history, the process list). `accounts notify`
asks for them, hidden, on a terminal, and otherwise reads them from standard input, one a line.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from app.domain.accounts import Account, AccountLimits, AccountSizing, InvalidAccount, Subscription
from app.domain.risk_values import TradingState
from app.domain.signals import QtyMode
from app.domain.sizing import number_text
from app.entrypoints.cli.startup import start

if TYPE_CHECKING:
    from app.config.settings import Settings
    from app.services.account_channels import AccountNotifications
    from app.services.accounts import Accounts

T = TypeVar("T")
_LIMITS = ("max_order_notional", "max_total_exposure", "max_open_positions", "max_daily_loss",
           "max_orders_per_minute")  # fmt: skip


def describe(account: Account) -> str:
    """One line: the account's venues, own limits, sizing and trading state."""
    venues = ", ".join(account.connections) or "every venue"
    limits = msgspec.to_builtins(account.limits)
    own = ", ".join(f"{k} {v}" for k, v in limits.items()) or "the global ones"
    sizing = account.sizing
    size = "the alert's quantity"
    if sizing.qty_mode is not None and sizing.quantity is not None:
        size = f"{number_text(sizing.quantity)} {sizing.qty_mode.value} each entry"
    if sizing.multiplier != 1:
        size += f" x {number_text(sizing.multiplier)}"
    state = account.trading_state.value
    if account.state_reason and account.trading_state is not TradingState.ACTIVE:
        state += f" ({account.state_reason})"
    line = f"{account.name}: {state}; venues: {venues}; limits: {own}; sizing: {size}"
    if account.notify is not None:  # each channel's service and masked URL, never the URL
        shown = ", ".join(
            f"{n} {c.service} {c.shown}" for n, c in enumerate(account.notify.channels)
        )
        line += f"; notify: {shown} (events: {account.notify.events or 'all'})"
    return line


def describe_subscription(subscription: Subscription) -> str:
    shown = "enabled" if subscription.enabled else "disabled"
    return f"{subscription.strategy} -> {subscription.account} ({shown})"


def _run(action: Callable[[Accounts], int]) -> int:
    """Run `action` on the accounts service; a refusal is its sentence on stderr, exit 2."""
    from app.bootstrap.accounts import opened_accounts  # noqa: PLC0415 - loads SQL

    return _run_on(opened_accounts, action)


def _run_on(
    opened: Callable[[Settings], AbstractContextManager[T]], action: Callable[[T], int]
) -> int:
    """Run `action` on the service `opened` gives; a refusal is its sentence, exit 2."""
    try:
        with opened(start()) as service:
            return action(service)
    except _refusals() as error:
        print(f"signalgate: {error}", file=sys.stderr)
        return 2


def _refusals() -> tuple[type[Exception], ...]:
    """What the accounts' services refuse with a sentence saying what to fix."""
    from app.domain.account_channels import InvalidChannels  # noqa: PLC0415
    from app.services.accounts import AccountConflict, UnknownAccount  # noqa: PLC0415
    from app.services.connections import KeysLocked  # noqa: PLC0415

    return (InvalidAccount, InvalidChannels, AccountConflict, UnknownAccount, KeysLocked)


def _number(raw: str) -> Decimal:
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None


def _limits(args: argparse.Namespace, base: AccountLimits = AccountLimits()) -> AccountLimits:  # noqa: B008
    given = {name: getattr(args, name) for name in _LIMITS if getattr(args, name) is not None}
    return msgspec.structs.replace(base, **given)


def _sizing(args: argparse.Namespace, base: AccountSizing = AccountSizing()) -> AccountSizing:  # noqa: B008
    sizing = base
    if args.alert_quantity:
        sizing = msgspec.structs.replace(sizing, qty_mode=None, quantity=None)
    if args.qty_mode is not None or args.quantity is not None:
        mode = QtyMode(args.qty_mode) if args.qty_mode is not None else None
        sizing = msgspec.structs.replace(sizing, qty_mode=mode, quantity=args.quantity)
    if args.multiplier is not None:
        sizing = msgspec.structs.replace(sizing, multiplier=args.multiplier)
    return sizing


def cmd_add(args: argparse.Namespace) -> int:
    account = Account(name=args.name, connections=tuple(args.connection or ()),
                      limits=_limits(args), sizing=_sizing(args))  # fmt: skip

    def add(service: Accounts) -> int:
        print(f"signalgate: added {describe(service.add(account))}")
        print(f"  subscribe it: signalgate subscriptions add STRATEGY {account.name}")
        return 0

    return _run(add)


def cmd_change(args: argparse.Namespace) -> int:
    def change(service: Accounts) -> int:
        now = service.get(args.name)
        connections = None
        if args.connection is not None or args.every_venue:
            connections = () if args.every_venue else tuple(args.connection)
        changed = service.change(args.name, connections=connections,
                                 limits=_limits(args, AccountLimits() if args.global_limits
                                                else now.limits),
                                 sizing=_sizing(args, now.sizing))  # fmt: skip
        print(f"signalgate: {describe(changed)}")
        return 0

    return _run(change)


def cmd_list(_: argparse.Namespace) -> int:
    def show(service: Accounts) -> int:
        accounts = service.list_all()
        for account in accounts:
            print(describe(account))
        if not accounts:
            print("no accounts: alerts trade the implicit account (every venue, the settings)")
        return 0

    return _run(show)


def _state(state: TradingState) -> Callable[[argparse.Namespace], int]:
    def cmd(args: argparse.Namespace) -> int:
        def switch(service: Accounts) -> int:
            print(f"signalgate: {describe(service.set_state(args.name, state, args.reason))}")
            return 0

        return _run(switch)

    return cmd


def _read_urls() -> list[str]:
    """The account's apprise URLs: asked for, hidden, on a terminal (Enter when done), else
    standard input, one a line (or separated by commas, like NOTIFY_URLS)."""
    if sys.stdin.isatty():
        urls: list[str] = []
        while url := getpass.getpass(f"apprise URL {len(urls)} (Enter when done): ").strip():
            urls.append(url)
        return urls
    return [url for line in sys.stdin for url in line.split(",")]


def cmd_notify(args: argparse.Namespace) -> int:
    from app.bootstrap.accounts import opened_account_notifications  # noqa: PLC0415 - loads SQL

    urls: list[str] = [] if args.clear or args.events_only else _read_urls()

    def notify(service: AccountNotifications) -> int:
        if args.clear:
            done = service.clear(args.name)
        elif args.events_only:
            done = service.set_events(args.name, args.events or "")
        else:
            done = service.set(args.name, urls, args.events or "")
        print(f"signalgate: {describe(done)}")
        return 0

    return _run_on(opened_account_notifications, notify)


def cmd_remove(args: argparse.Namespace) -> int:
    def remove(service: Accounts) -> int:
        service.remove(args.name)
        print(f"signalgate: removed account {args.name} and its subscriptions")
        return 0

    return _run(remove)


def cmd_subscribe(enabled: bool) -> Callable[[argparse.Namespace], int]:
    def cmd(args: argparse.Namespace) -> int:
        on = enabled and not getattr(args, "disabled", False)

        def subscribe(service: Accounts) -> int:
            done = service.subscribe(args.strategy, args.account, enabled=on)
            print(f"signalgate: {describe_subscription(done)}")
            return 0

        return _run(subscribe)

    return cmd


def cmd_subscriptions(args: argparse.Namespace) -> int:
    def show(service: Accounts) -> int:
        found = service.subscriptions(args.strategy)
        for subscription in found:
            print(describe_subscription(subscription))
        if not found:
            print("no subscriptions: each alert trades the implicit account")
        return 0

    return _run(show)


def cmd_unsubscribe(args: argparse.Namespace) -> int:
    def remove(service: Accounts) -> int:
        service.unsubscribe(args.strategy, args.account)
        print(f"signalgate: {args.account} no longer follows {args.strategy}")
        return 0

    return _run(remove)


def _account_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--connection", action="append", metavar="NAME",
        help="a venue it trades on (a connection's name); repeat for more",
    )  # fmt: skip
    for name in _LIMITS:
        kind = int if name in ("max_open_positions", "max_orders_per_minute") else _number
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind,
                            help=f"its own {name.upper()} (else the global one)")  # fmt: skip
    parser.add_argument(
        "--qty-mode", choices=[m.value for m in QtyMode],
        help="size every entry this way (with --quantity), whatever the alert says",
    )  # fmt: skip
    parser.add_argument("--quantity", type=_number, help="the size of every entry, in --qty-mode")
    parser.add_argument("--multiplier", type=_number, help="multiply each entry's size (1)")
    parser.add_argument("--alert-quantity", action="store_true",
                        help="size by the alert's quantity again (drop --qty-mode)")  # fmt: skip


def add_accounts_commands(commands: Any) -> None:
    accounts = commands.add_parser(
        "accounts", help="accounts an alert trades: their venues, limits, sizing, trading state"
    )
    actions = accounts.add_subparsers(dest="accounts_command", required=True)
    add = actions.add_parser("add", help="add an account")
    add.add_argument("name", help="letters, digits and _, like main")
    _account_options(add)
    add.set_defaults(func=cmd_add)
    change = actions.add_parser("change", help="change an account's venues, limits or sizing")
    change.add_argument("name")
    _account_options(change)
    change.add_argument("--every-venue", action="store_true", help="trade on every venue")
    change.add_argument("--global-limits", action="store_true",
                        help="drop its own limits (then apply the ones given)")  # fmt: skip
    change.set_defaults(func=cmd_change)
    actions.add_parser("list", help="every account").set_defaults(func=cmd_list)
    for name, state, said in [
        ("halt", TradingState.HALTED, "deny every signal of the account"),
        ("reduce-only", TradingState.REDUCING, "deny the account's entries, allow exits"),
        ("resume", TradingState.ACTIVE, "the account trades normally again"),
    ]:
        action = actions.add_parser(name, help=said)
        action.add_argument("name")
        action.add_argument("--reason", default=f"{name} by an operator")
        action.set_defaults(func=_state(state))
    notify = actions.add_parser(
        "notify",
        help="give an account notification channels of its own (SECRETS_KEY encrypts them):"
        " apprise URLs asked for (hidden), or read from standard input one a line; its events"
        " go to them and to NOTIFY_URLS'",
    )
    notify.add_argument("name")
    notify.add_argument("--events", metavar="SELECTION",
                        help="what each channel hears, as NOTIFY_EVENTS says it (0:all;1:urgent);"
                        " left out: every event")  # fmt: skip
    given = notify.add_mutually_exclusive_group()
    given.add_argument("--events-only", action="store_true",
                       help="change --events only, keeping its URLs")  # fmt: skip
    given.add_argument("--clear", action="store_true", help="remove its own channels")
    notify.set_defaults(func=cmd_notify)
    remove = actions.add_parser("remove", help="remove an account and its subscriptions")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_remove)

    subscriptions = commands.add_parser(
        "subscriptions", help="which accounts each strategy's alerts trade"
    )
    acts = subscriptions.add_subparsers(dest="subscriptions_command", required=True)
    for name, func, said in [
        ("add", cmd_subscribe(enabled=True), "the strategy's alerts trade the account too"),
        ("enable", cmd_subscribe(enabled=True), "enable a subscription"),
        ("disable", cmd_subscribe(enabled=False), "disable a subscription (kept)"),
        ("remove", cmd_unsubscribe, "remove a subscription"),
    ]:
        action = acts.add_parser(name, help=said)
        action.add_argument("strategy", help="as in /webhook/{strategy} or the alert's strategy")
        action.add_argument("account")
        if name == "add":
            action.add_argument("--disabled", action="store_true", help="add it disabled")
        action.set_defaults(func=func)
    listing = acts.add_parser("list", help="every subscription")
    listing.add_argument("--strategy", help="only this strategy's")
    listing.set_defaults(func=cmd_subscriptions)
