"""`signalgate ...`: the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from app.entrypoints.cli.startup import start
from app.entrypoints.cli.web_server import serve_web


def cmd_migrate(_: argparse.Namespace) -> int:
    from app.bootstrap.local import migrate  # noqa: PLC0415

    migrate(start())
    print("signalgate: database schema is up to date")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """rq-dashboard alone, for local use: the service's Redis, on 127.0.0.1 unless told."""
    import uvicorn  # noqa: PLC0415
    from a2wsgi import WSGIMiddleware  # noqa: PLC0415

    from app.bootstrap.local import local_redis  # noqa: PLC0415
    from app.entrypoints.web.ops import dashboard_app  # noqa: PLC0415

    settings = start("dashboard")
    redis_url = settings.redis_url or local_redis()
    if redis_url is None:
        print(
            "signalgate: no Redis at 127.0.0.1:6379: set REDIS_URL to the service's Redis "
            "(`signalgate run` prints the one it uses).",
            file=sys.stderr,
        )
        return 2
    print(f"signalgate: rq-dashboard on http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(
        WSGIMiddleware(dashboard_app(redis_url)),  # type: ignore[arg-type]
        host=args.host,
        port=args.port,
        log_level="warning",
        log_config=None,  # its loggers go through ours (app.bootstrap.logs)
        access_log=False,
        server_header=False,
    )
    return 0


FORWARDER_NICE = 10


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent dies, however busy the machine
    (the forwarder runs at a low CPU priority and might otherwise take long to notice).
    Its work is at least once, so a kill mid-batch only repeats a step. Elsewhere the forwarder
    notices by polling its parent."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def cmd_forward(args: argparse.Namespace) -> int:
    """The inbox forwarder alone: moves accepted alerts into SQL and onto the RQ queue."""
    from app.bootstrap.forwarder import build_forwarder  # noqa: PLC0415

    parent = args.exit_with_parent
    if parent is not None:
        _die_with_parent()
        if os.getppid() != parent:  # gone before the kernel was told
            return 0
    forwarder = build_forwarder(start("forward", needs_redis=True))
    if parent is not None:
        forwarder.watch_parent(parent)
    # The web processes answer TradingView within its 3 s; the forwarder catches up when they idle.
    # Nice 10: a tenth of a nice-0 process's share when they compete. At 19 (1.5%) a forwarder
    # on a machine whose cores were all busy took over 20 s to stop after SIGTERM.
    os.nice(FORWARDER_NICE)
    signal.signal(signal.SIGTERM, lambda *_: forwarder.stop())
    with contextlib.suppress(KeyboardInterrupt):
        forwarder.run()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The web process: Litestar under uvicorn ($WEB_CONCURRENCY processes on $PORT).

    Run alone, it starts one forwarder as its child (which dies with it), so that a deployment of
    one process still forwards alerts. The Procfile says `--no-forwarder`: its `forwarder`
    process is one of its own, which the platform restarts when it dies, and scaling `web` adds
    no forwarder. Left out by mistake, a forwarder costs nothing but an idle process (they share
    the inbox); missing, accepted alerts would wait unseen."""
    settings = start("serve", needs_redis=True)
    forwarder = None
    if not args.no_forwarder:
        forwarder = subprocess.Popen(  # noqa: S603 - our own command line
            [
                sys.executable,
                "-m",
                "app.entrypoints.cli",
                "forward",
                "--exit-with-parent",
                str(os.getpid()),
            ]
        )
    try:
        serve_web(settings, args.host)
    finally:
        if forwarder is not None:
            forwarder.terminate()
            forwarder.wait(10)
    return 0


def _show_sample(port: int, secret: str | None) -> None:
    """Wait for the web process, then send one sample alert and show how to look it up."""
    import httpx  # noqa: PLC0415 - not imported by `serve`, whose start a restart waits for

    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    alert: dict[str, object] = {
        "symbol": "BINANCE:BTCUSDT",
        "action": "buy",
        "qty": "0.01",
        "take_profit": {"percent": 2},
        "stop_loss": {"percent": 1},
        "strategy": "demo",
    }
    if secret:
        alert["secret"] = secret
    body = json.dumps(alert)
    try:
        answer = httpx.post(f"{base}/webhook", content=body, timeout=5).text
    except httpx.HTTPError as exc:
        answer = f"(could not send: {exc})"
    shown = body.replace(secret, "$WEBHOOK_SECRET") if secret else body
    print(
        f"\nsignalgate is up on {base}  (API docs: {base}/schema/swagger)\n"
        f"sample alert:\n  curl -s -X POST {base}/webhook -d '{shown}'\n"
        f"answer:\n  {answer}\n",
        flush=True,
    )
    with contextlib.suppress(ValueError, KeyError, httpx.HTTPError):
        _show_outcome(base, json.loads(answer)["signal_id"])


def _show_outcome(base: str, signal_id: str) -> None:
    """Follow the sample through the worker: its decision and the orders of its bracket."""
    import httpx  # noqa: PLC0415

    deadline = time.monotonic() + 30
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{base}/signals/{signal_id}", timeout=2)
        if response.status_code == 200:
            shown = response.json()
            if shown["status"] not in ("queued", "spooled"):
                break
        time.sleep(0.3)
    lines = [f"{shown.get('status', 'still queued')}: {shown.get('reason') or ''}"]
    lines += [
        f"  {o['leg']:<5} {o['side']:<4} {o['kind']:<17} {o['amount']} @ "
        f"{o['average_price'] or o['trigger_price'] or o['price'] or 'market'}  {o['state']}"
        for o in shown.get("orders", [])
    ]
    print(
        "what the worker did:\n  " + "\n  ".join(lines) + "\n"
        f"the whole lineage:\n  curl -s {base}/signals/{signal_id}\n"
        f"positions and orders:\n  curl -s {base}/positions\n  curl -s {base}/orders\n",
        flush=True,
    )


# The Procfile's long-running processes and their `signalgate` commands: `signalgate run` starts
# each once (tests/unit/test_deploy_files.py keeps the two in step).
PROCFILE = {
    "web": "serve --no-forwarder",
    "forwarder": "forward",
    "worker": "worker",
    "monitor": "monitor",
    "strategy": "strategy",
    "notifier": "notifier",
}


def cmd_run(_: argparse.Namespace) -> int:
    """A whole local run: Redis (embedded if needed), migrations, the Procfile processes; the
    settings from the environment and from `.env` (the environment wins)."""
    from honcho.manager import Manager  # noqa: PLC0415

    from app.config.env_file import ENV_FILE, with_env_file  # noqa: PLC0415

    env, taken = with_env_file(ENV_FILE)
    settings = start("run", environ=env)
    if taken:  # names only: values may be secrets
        print(f"signalgate: from {ENV_FILE}: {', '.join(taken)}")
    from app.bootstrap.local import migrate, resolve_redis  # noqa: PLC0415

    redis_url, embedded, said = resolve_redis(settings)
    if said:
        print(f"signalgate: {said}")
    migrate(settings)
    env |= {"REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    env.setdefault("STRATEGIES", "momentum,mean_reversion")  # the demo trades on its own too
    manager = Manager()
    for name, command in PROCFILE.items():
        manager.add_process(name, f"{sys.executable} -m app.entrypoints.cli {command}", env=env)
    threading.Thread(
        target=_show_sample, args=(settings.port, settings.webhook_secret), daemon=True
    ).start()
    try:
        manager.loop()
    finally:
        if embedded is not None:
            embedded.terminate()  # type: ignore[attr-defined]
    return int(manager.returncode or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="signalgate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run everything locally (embedded defaults)").set_defaults(
        func=cmd_run
    )
    serve = commands.add_parser("serve", help="the web process (binds $PORT)")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server binds all interfaces
    serve.add_argument(
        "--no-forwarder",
        action="store_true",
        help="start no forwarder child: `signalgate forward` runs as a process of its own "
        "(the Procfile's forwarder)",
    )
    serve.set_defaults(func=cmd_serve)
    forward = commands.add_parser(
        "forward", help="the inbox forwarder (the Procfile's forwarder; serve alone runs one)"
    )
    forward.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)
    forward.set_defaults(func=cmd_forward)
    commands.add_parser("migrate", help="alembic upgrade head").set_defaults(func=cmd_migrate)
    dashboard = commands.add_parser("dashboard", help="rq-dashboard alone (also at /rq in web)")
    dashboard.add_argument("--port", type=int, default=9181)
    dashboard.add_argument("--host", default="127.0.0.1", help="bind address (default: local only)")
    dashboard.set_defaults(func=cmd_dashboard)
    from app.entrypoints.cli.accounts import add_accounts_commands  # noqa: PLC0415
    from app.entrypoints.cli.backtest import add_backtest_commands  # noqa: PLC0415
    from app.entrypoints.cli.connections import add_connections_commands  # noqa: PLC0415
    from app.entrypoints.cli.market_data import add_market_data_commands  # noqa: PLC0415
    from app.entrypoints.cli.orders import add_orders_commands  # noqa: PLC0415
    from app.entrypoints.cli.send import add_send_command  # noqa: PLC0415
    from app.entrypoints.cli.trading import add_execution_commands  # noqa: PLC0415
    from app.entrypoints.cli.venues import add_venues_commands  # noqa: PLC0415

    add_send_command(commands)
    add_execution_commands(commands)
    add_backtest_commands(commands)
    add_orders_commands(commands)
    add_venues_commands(commands)
    add_connections_commands(commands)
    add_market_data_commands(commands)
    add_accounts_commands(commands)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
