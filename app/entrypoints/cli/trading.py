"""`signalgate worker | monitor | strategy | notifier | halt | resume | reduce-only`: the trading
commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from app.config.settings import Settings
from app.domain.risk_values import TradingState
from app.entrypoints.cli.startup import start


def _venues_checked(settings: Settings, process: str) -> bool:
    """The venue check at start (`signalgate venues check`); False (said) when one is refused."""
    from app.bootstrap.venue_check import check_at_start  # noqa: PLC0415 - loads ccxt
    from app.bootstrap.venues import VenueSetupError  # noqa: PLC0415

    try:
        check_at_start(settings, process)
    except VenueSetupError as error:
        print(f"signalgate: {error}", file=sys.stderr)
        return False
    return True


def cmd_worker(args: argparse.Namespace) -> int:
    from app.bootstrap.worker import run_worker  # noqa: PLC0415 - loads the venues

    settings = start("worker", needs_redis=True)
    if not _venues_checked(settings, "worker"):
        return 2
    run_worker(settings, burst=args.burst)
    return 0


def _until_stopped(settings: Settings, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run until SIGTERM or SIGINT sets the stop event `run` watches."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(stop)

    asyncio.run(main())


def cmd_monitor(_: argparse.Namespace) -> int:
    from app.bootstrap.monitor import run_monitor  # noqa: PLC0415

    settings = start("monitor", needs_redis=True)
    if not _venues_checked(settings, "monitor"):
        return 2
    _until_stopped(settings, lambda stop: run_monitor(settings, stop))
    return 0


def cmd_strategy(_: argparse.Namespace) -> int:
    from app.bootstrap.strategy import StrategyConfigError, run_strategy  # noqa: PLC0415

    settings = start("strategy", needs_redis=True)
    try:
        _until_stopped(settings, lambda stop: run_strategy(settings, stop))
    except StrategyConfigError as error:
        print(f"signalgate: {error}", file=sys.stderr)
        return 2
    return 0


async def _idle(stop: asyncio.Event) -> None:
    await stop.wait()


def cmd_notifier(args: argparse.Namespace) -> int:
    from app.bootstrap.notifications import notifying  # noqa: PLC0415

    settings = start("notifier", needs_redis=True)
    if not notifying(settings):  # idle rather than exit: honcho and Heroku would restart it
        logging.getLogger("signalgate.notifier").info(
            "notifier: NOTIFY_URLS names no channel and SECRETS_KEY is unset (no account can"
            " have channels of its own); idle"
        )
        if not args.burst:
            _until_stopped(settings, _idle)
        return 0
    from app.bootstrap.notifier import ChannelError, run_notifier  # noqa: PLC0415 - apprise

    try:
        run_notifier(settings, burst=args.burst)
    except ChannelError as error:
        print(f"signalgate: {error}", file=sys.stderr)
        return 2
    return 0


def _switch(state: TradingState) -> Any:
    def command(args: argparse.Namespace) -> int:
        from app.bootstrap.admin import set_trading_state  # noqa: PLC0415

        set_trading_state(start(), state, args.reason)
        print(f"signalgate: trading is now {state.value}")
        return 0

    return command


def add_execution_commands(commands: Any) -> None:
    worker = commands.add_parser("worker", help="the worker process: executes queued signals")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.set_defaults(func=cmd_worker)
    commands.add_parser(
        "monitor", help="the monitor process: hosts paper venues, watches brackets"
    ).set_defaults(func=cmd_monitor)
    commands.add_parser(
        "strategy", help="the strategy process: the enabled strategies, through the intake"
    ).set_defaults(func=cmd_strategy)
    notifier = commands.add_parser("notifier", help="the notifier process: sends notifications")
    notifier.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    notifier.set_defaults(func=cmd_notifier)
    for name, state, what in (
        ("halt", TradingState.HALTED, "the kill switch: deny every signal"),
        ("reduce-only", TradingState.REDUCING, "deny entries, allow exits"),
        ("resume", TradingState.ACTIVE, "trade normally again"),
    ):
        switch = commands.add_parser(name, help=what)
        switch.add_argument("--reason", default=f"signalgate {name} from the command line")
        switch.set_defaults(func=_switch(state))
