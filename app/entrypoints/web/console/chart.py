"""The realized P&L chart: closed brackets summed over time per quote currency, drawn as an SVG
on the server (no script: it shows without JavaScript and prints)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import NamedTuple

from app.domain.brackets.bracket import Bracket

WIDTH, HEIGHT = 640, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 12, 14, 30  # room for the axes' labels
_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00")


class Point(NamedTuple):
    at: datetime
    total: Decimal  # realized P&L summed up to `at`, fees deducted


def cumulative_pnl(closed: Iterable[Bracket]) -> dict[str, list[Point]]:
    """Each quote currency's realized P&L summed in the order the brackets closed."""
    series: dict[str, list[Point]] = {}
    dated = sorted(
        ((b.closed_at, b) for b in closed if b.closed_at is not None), key=lambda pair: pair[0]
    )
    for at, bracket in dated:
        points = series.setdefault(bracket.market.quote, [])
        before = points[-1].total if points else Decimal(0)
        points.append(Point(at, before + bracket.realized_pnl))
    return series


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    return start if high == low else start + (value - low) * (end - start) / (high - low)


def pnl_svg(series: dict[str, list[Point]], start: datetime, end: datetime) -> str:
    """The chart as SVG markup: one step line per quote currency from 0 at `start` to `end`,
    the zero line, and the figures at the axes' ends."""
    totals = [float(p.total) for points in series.values() for p in points] + [0.0]
    low, high = min(totals), max(totals)
    if low == high:
        low, high = low - 1, high + 1
    t0, t1 = start.timestamp(), end.timestamp()

    def x(at: datetime) -> float:
        return _scale(at.timestamp(), t0, t1, _LEFT, WIDTH - _RIGHT)

    def y(value: float) -> float:
        return _scale(value, low, high, HEIGHT - _BOTTOM, _TOP)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
        ' aria-labelledby="pnl-title" class="chart">',
        '<title id="pnl-title">Realized P&amp;L over time, summed per quote currency</title>',
        f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" class="zero"/>',
        _text(_LEFT - 6, y(high) + 4, f"{high:,.2f}", "end"),
        _text(_LEFT - 6, y(low) + 4, f"{low:,.2f}", "end"),
        _text(_LEFT, HEIGHT - 8, start.strftime("%Y-%m-%d"), "start"),
        _text(WIDTH - _RIGHT, HEIGHT - 8, end.strftime("%Y-%m-%d"), "end"),
    ]
    for index, (quote, points) in enumerate(sorted(series.items())):
        colour = _COLOURS[index % len(_COLOURS)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
            f'{_steps(points, x, y)}"><title>{escape(quote)}</title></polyline>'
        )
        last = points[-1]
        parts.append(
            _text(x(last.at) - 4, y(float(last.total)) - 6, f"{last.total:,.2f} {quote}", "end")
        )
    parts.append("</svg>")
    return "".join(parts)


def _steps(
    points: Sequence[Point], x: Callable[[datetime], float], y: Callable[[float], float]
) -> str:
    """A step line: the total holds until the next close changes it."""
    coords = [(x(points[0].at), y(0.0))]
    for point in points:
        coords.append((x(point.at), coords[-1][1]))
        coords.append((x(point.at), y(float(point.total))))
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)


def _text(px: float, py: float, text: str, anchor: str) -> str:
    return f'<text x="{px:.1f}" y="{py:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
