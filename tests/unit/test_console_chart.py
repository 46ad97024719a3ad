"""The console's realized P&L chart and the figures its pages print."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain.brackets.bracket import Bracket, BracketState
from app.domain.market import Market
from app.domain.orders import Side
from app.entrypoints.web.console.chart import Point, cumulative_pnl, pnl_svg
from app.entrypoints.web.console.site import figure, moment, number

D = Decimal
AT = datetime(2026, 12, 1, tzinfo=UTC)


def closed(bracket_id: str, quote: str, pnl: str, hours: int) -> Bracket:
    market = Market(f"BTC/{quote}", "BTC", quote)
    return Bracket(bracket_id, "main", "paper", market.symbol, Side.BUY, market, AT,
                   state=BracketState.CLOSED, closed_at=AT + timedelta(hours=hours),
                   realized_pnl=D(pnl))  # fmt: skip


def test_realized_pnl_is_summed_per_quote_in_the_order_brackets_closed() -> None:
    series = cumulative_pnl([
        closed("b", "USDT", "-4", 5), closed("a", "USDT", "10", 1), closed("c", "EUR", "2.5", 3),
        closed("d", "USDT", "1.5", 5),
    ])  # fmt: skip
    assert series == {
        "USDT": [Point(AT + timedelta(hours=1), D(10)), Point(AT + timedelta(hours=5), D(6)),
                 Point(AT + timedelta(hours=5), D("7.5"))],
        "EUR": [Point(AT + timedelta(hours=3), D("2.5"))],
    }  # fmt: skip


def test_the_chart_is_an_svg_with_a_line_per_quote_and_its_figures() -> None:
    series = cumulative_pnl([closed("a", "USDT", "10", 24), closed("b", "USDT", "-30", 48),
                             closed("c", "EUR<", "5", 30)])  # fmt: skip
    svg = pnl_svg(series, AT, AT + timedelta(days=3))
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 260"')
    assert svg.count("<polyline") == 2
    assert "<title>EUR&lt;</title>" in svg  # names are escaped
    assert ">10.00<" in svg  # the top of the axis
    assert ">-20.00<" in svg  # the bottom
    assert ">-20.00 USDT<" in svg  # where the line ends
    assert ">2026-12-01<" in svg
    assert ">2026-12-04<" in svg
    # every point inside the drawing
    for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", svg):
        assert 0 <= float(x) <= 640
        assert 0 <= float(y) <= 260


def test_a_chart_of_one_flat_line_still_has_a_scale() -> None:
    svg = pnl_svg(cumulative_pnl([closed("a", "USDT", "0", 1)]), AT, AT + timedelta(days=1))
    assert "nan" not in svg.lower()
    assert ">1.00<" in svg
    assert ">-1.00<" in svg


def test_figures_read_as_people_write_them() -> None:
    assert number(None) == "—"
    assert number(D("1250.5000")) == "1,250.5"
    assert number(D("-3.14159"), 2) == "-3.14"
    assert number(0.25) == "0.25"
    assert moment(AT + timedelta(seconds=61.5)) == "2026-12-01 00:01:01"
    assert moment(None) == "—"
    assert figure({"b": [1, D("2.50")], "a": None}) == '{"a":null,"b":[1,"2.50"]}'
    assert figure("sized 0.01 BTC") == "sized 0.01 BTC"
    assert figure(D("0.010")) == "0.01"
