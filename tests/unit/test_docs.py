"""The README and .env.example stay true: every setting documented, every template parses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.domain.dialects import parse_alert

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SECRET = "tv-secret-123"
FILLED = {
    "{{exchange}}": "BINANCE",
    "{{ticker}}": "BTCUSDT",
    "{{strategy.order.action}}": "buy",
    "{{strategy.order.contracts}}": "0.01",
    "{{strategy.order.price}}": "65000",
    "{{close}}": "65000",
    "{{strategy.market_position}}": "long",
    "{{strategy.prev_market_position}}": "flat",
    "{{strategy.market_position_size}}": "0.01",
    "{{strategy.order.id}}": "Long",
    "{{timenow}}": "2024-05-01T12:00:00Z",
    "YOUR_WEBHOOK_SECRET": SECRET,
}
TEMPLATES = dict(re.findall(r"<!-- template: (\S+) -->\n```\w+\n(.+?)\n```", README, re.S))


def settings_read_by_config() -> set[str]:
    sources = (path.read_text() for path in (ROOT / "app" / "config").glob("*.py"))
    return {name for source in sources for name in re.findall(r'read\("([A-Z_]+)"', source)}


@pytest.mark.parametrize("name", sorted(settings_read_by_config()))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in README
    assert re.search(rf"^#? ?{name}=", (ROOT / ".env.example").read_text(), re.M)


def test_readme_has_a_template_per_dialect() -> None:
    assert set(TEMPLATES) == {
        "native", "tradingview", "traderspost", "3commas", "octobot", "pineconnector"
    }  # fmt: skip


@pytest.mark.parametrize(("dialect", "template"), sorted(TEMPLATES.items()))
def test_readme_templates_parse_once_tradingview_fills_them(dialect: str, template: str) -> None:
    body = template
    for placeholder, value in FILLED.items():
        body = body.replace(placeholder, value)
    assert "{{" not in body, "a placeholder the test does not fill"
    alert = parse_alert(body.encode())
    assert alert.dialect == dialect
    assert alert.signal.symbol == "BTC/USDT"
    assert alert.signal.action == "buy"
    assert alert.secret == SECRET
    assert SECRET not in str(alert.sanitized)


def test_readme_opens_with_the_two_commands() -> None:
    blocks = re.findall(r"```sh\n(.+?)\n```", README, re.S)
    assert blocks[:2] == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_strategy_of_your_own_runs_as_written() -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from app.domain.strategy import build_strategy  # noqa: PLC0415

    code = re.search(r"```python\n(# my_strategies\.py.+?)```", README, re.S)
    assert code is not None
    exec(compile(code.group(1), "my_strategies.py", "exec"), {})
    strategy = build_strategy("round_numbers")
    at = datetime(2026, 11, 22, tzinfo=UTC)
    proposals = [strategy.on_price("BTC/USDT", p, at) for p in (64_990.0, 65_010.0, 65_020.0)]
    assert [p.side if p else None for p in proposals] == [None, "buy", None]
