"""`signalgate backtest | export-signals | sample-data`: replays of candles and recorded alerts
through the live code."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from app.domain.signals import Signal
from app.entrypoints.cli.startup import start


class _Exported(msgspec.Struct):
    """What `backtest --webhooks` reads of an exported line (the rest is for people)."""

    received_at: datetime
    signal: Signal


def _fail(message: str) -> int:
    print(f"signalgate: {message}", file=sys.stderr)
    return 2


def iso_time(raw: str) -> datetime:
    """A command-line time: ISO 8601, naive read as UTC."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not a time: write it like 2026-12-06T10:00:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _decimal(raw: str) -> Decimal:
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None


def cmd_backtest(args: argparse.Namespace) -> int:
    from app.bootstrap.backtest import build_backtest, equity_chart  # noqa: PLC0415
    from app.bootstrap.strategy import StrategyConfigError, build_strategies  # noqa: PLC0415
    from app.bootstrap.venues import paper_market  # noqa: PLC0415
    from app.domain.backtest_report import report, text, trades_csv  # noqa: PLC0415
    from app.services.backtest import BacktestConfig  # noqa: PLC0415

    settings = start()
    candles = _candles(args)
    if isinstance(candles, str):
        return _fail(candles)
    symbol = candles[0].symbol
    if args.strategy is None and args.webhooks is None:
        return _fail("name a --strategy, or --webhooks FILE to replay recorded alerts, or both")
    strategy = None
    if args.strategy is not None:
        try:
            (strategy,) = build_strategies(_with_strategy(settings, args.strategy))
        except StrategyConfigError as error:
            return _fail(str(error))
    alerts = []
    if args.webhooks is not None:
        try:
            alerts = read_exported(Path(args.webhooks))
        except (OSError, ValueError) as error:
            return _fail(f"--webhooks {args.webhooks}: {error}")
    backtest = build_backtest(
        BacktestConfig(
            market=paper_market(symbol, args.fees),
            strategy=strategy,
            balance=args.balance,
            limits=settings.risk,
            sizing=settings.sizing,
            policy=settings.execution,
            screening=settings.intake,
        )
    )
    total = len(candles)
    show = _progress(total) if total >= 20_000 and sys.stderr.isatty() else None
    result = asyncio.run(backtest.run(candles, show, alerts))
    if show is not None:
        print(file=sys.stderr)
    figures = report(result.balance, result.equity, result.trades, result.fees)
    name = "+".join(n for n in (args.strategy, "webhooks" if alerts else None) if n)
    out = Path(args.out or f"backtest-{name}-{symbol.replace('/', '').replace(':', '')}")
    out.mkdir(parents=True, exist_ok=True)
    summary = text(figures, symbol=symbol, strategy=name, candles=result.candles)
    signals = ", ".join(f"{n} {status}" for status, n in result.signals.items()) or "none"
    summary += f"\n  signals         {signals}\n"
    (out / "report.txt").write_text(summary)
    (out / "trades.csv").write_text(trades_csv(result.trades))
    equity = [float(p.equity) for p in result.equity]
    (out / "equity.png").write_bytes(equity_chart(equity, baseline=float(result.balance)))
    print(summary, end="")
    print(f"  written         {out}/report.txt, {out}/trades.csv, {out}/equity.png")
    return 0


def _candles(args: argparse.Namespace) -> list[Any] | str:
    """The candles of --data for --symbol between --from and --to, or what is wrong.

    A file without a symbol column holds --symbol's candles. Symbols are read as alerts write
    them (BTCUSDT, BINANCE:BTCUSDT, BTC-USDT...) and replayed as ccxt's (BTC/USDT).
    """
    from app.bootstrap.backtest import MissingSymbol, ReplayError, read_candles  # noqa: PLC0415
    from app.domain.market import Candle  # noqa: PLC0415

    path = Path(args.data)
    if not path.is_file():
        return f"--data {path}: no such file; `signalgate sample-data` writes one"
    wanted = None if args.symbol is None else _unified(args.symbol)
    if wanted is not None and wanted[0] is None:
        return f"--symbol {args.symbol}: {wanted[1]}"
    try:
        rows = read_candles(path, wanted[0] if wanted else None)
    except MissingSymbol:
        return f"{path} has no symbol column; name its symbol with --symbol, like --symbol BTC/USDT"
    except (ReplayError, ImportError) as error:
        return str(error)
    # recorded ticks (MARKET_DATA_RECORD) replay as bars of one price
    candles = [r if isinstance(r, Candle) else r.as_candle() for r in rows]
    symbols = sorted({c.symbol for c in candles})
    if not candles:
        return f"{path} holds no candles (open, high, low, close columns) and no ticks (price)"
    if args.symbol is None:
        symbol = symbols[0]
    else:
        symbol = next((s for s in symbols if s == args.symbol or _unified(s) == wanted), "")
    if not symbol:
        return f"{path} has no {args.symbol} candles; it has {', '.join(symbols)}"
    unified = _unified(symbol)[0] or symbol
    chosen = [
        msgspec.structs.replace(c, symbol=unified)
        for c in candles
        if c.symbol == symbol
        and (args.start is None or c.at >= args.start)
        and (args.end is None or c.at < args.end)
    ]
    return chosen or "no candle falls between --from and --to"


def _unified(symbol: str) -> tuple[str | None, str]:
    """ccxt's spelling of `symbol` (BTCUSDT -> BTC/USDT), or None and why it is not one."""
    from app.domain.symbols import SymbolError, normalize_symbol  # noqa: PLC0415

    try:
        return normalize_symbol(symbol)[0], ""
    except SymbolError as error:
        return None, str(error)


def read_exported(path: Path) -> list[tuple[datetime, Signal]]:
    """The alerts `signalgate export-signals` wrote: (receipt time, signal) per line."""
    decoder = msgspec.json.Decoder(_Exported)
    found = []
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = decoder.decode(raw)
        except msgspec.DecodeError as error:
            raise ValueError(f"line {number} is not an exported signal ({error})") from None
        found.append((line.received_at, line.signal))
    return found


def cmd_export_signals(args: argparse.Namespace) -> int:
    from app.bootstrap.backtest import signal_reader  # noqa: PLC0415
    from app.ports.signals import SignalQuery  # noqa: PLC0415

    settings = start()
    store = signal_reader(settings.database_url)
    views, before = [], None
    while True:
        page = store.find(SignalQuery(strategy=args.strategy, symbol=args.symbol,
                                      since=args.since, before=before, limit=500))  # fmt: skip
        views += [v for v in page if args.all or not v.source.startswith("strategy:")]
        if len(page) < 500:
            break
        before = page[-1].id
    encoder = msgspec.json.Encoder()
    lines = [
        encoder.encode(
            {"id": v.id, "received_at": v.received_at, "status": v.status, "dialect": v.dialect,
             "signal": v.signal, "payload": v.payload}
        )
        for v in reversed(views)  # oldest first
    ]  # fmt: skip
    Path(args.out).write_bytes(b"\n".join(lines) + (b"\n" if lines else b""))
    print(f"signalgate: {len(lines):,} signals in {args.out} (payloads as stored: secrets removed)")
    return 0


def _with_strategy(settings: Any, name: str) -> Any:
    from dataclasses import replace  # noqa: PLC0415

    return replace(settings, strategies=(name,))


def _progress(total: int) -> Any:
    def show(done: int) -> None:
        filled = int(30 * done / total)
        bar = "#" * filled + "." * (30 - filled)
        print(f"\r[{bar}] {done / total:4.0%} {done:,}/{total:,} candles", end="", file=sys.stderr)

    return show


def cmd_sample_data(args: argparse.Namespace) -> int:
    from app.domain.synthetic import SymbolSpec, synthetic_candles  # noqa: PLC0415

    spec = SymbolSpec(args.symbol, args.price)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    candles = synthetic_candles(spec, seed=args.seed, start=start, count=args.candles)
    lines = ["timestamp,symbol,open,high,low,close,volume"]
    lines += [
        f"{c.at.isoformat()},{c.symbol},{c.open},{c.high},{c.low},{c.close},{c.volume}"
        for c in candles
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"signalgate: {len(candles):,} one-minute {args.symbol} candles in {args.out}")
    return 0


def add_backtest_commands(commands: Any) -> None:
    run = commands.add_parser(
        "backtest", help="replay candles through a strategy, the risk gate and a paper venue"
    )
    run.add_argument(
        "--data",
        required=True,
        help="candles: CSV (with a header, ccxt's or Binance's rows, a TradingView export), "
        "ccxt's fetch_ohlcv as JSON, or Parquet with pyarrow",
    )
    run.add_argument("--strategy", help="a strategy name, like momentum")
    run.add_argument("--webhooks", help="alerts from `signalgate export-signals`, replayed too")
    run.add_argument(
        "--symbol",
        help="the symbol to replay (default: the file's first); a file without a "
        "symbol column holds this symbol's candles",
    )
    run.add_argument("--fees", type=_decimal, default=Decimal("0.001"), help="taker/maker fee")
    run.add_argument("--balance", type=_decimal, default=Decimal(10_000), help="quote to start")
    run.add_argument("--from", dest="start", type=iso_time, help="first candle time (ISO 8601)")
    run.add_argument("--to", dest="end", type=iso_time, help="candles before this time")
    run.add_argument("--out", help="directory for report.txt, trades.csv and equity.png")
    run.set_defaults(func=cmd_backtest)
    export = commands.add_parser(
        "export-signals", help="write stored alerts (JSON lines) for `backtest --webhooks`"
    )
    export.add_argument("--out", default="signals.jsonl")
    export.add_argument("--strategy", help="only this strategy's alerts")
    export.add_argument("--symbol", help="only this symbol")
    export.add_argument("--since", type=iso_time, help="received at or after (ISO 8601)")
    export.add_argument("--all", action="store_true", help="the strategy engine's signals too")
    export.set_defaults(func=cmd_export_signals)
    sample = commands.add_parser("sample-data", help="write synthetic candles to a CSV file")
    sample.add_argument("--out", default="samples/btc_usdt_1m.csv")
    sample.add_argument("--candles", type=int, default=10_000)
    sample.add_argument("--symbol", default="BTC/USDT")
    sample.add_argument("--price", type=_decimal, default=Decimal(65_000))
    sample.add_argument("--seed", type=int, default=1)
    sample.set_defaults(func=cmd_sample_data)
