"""The connection check of a venue (`signalgate venues check`, and at worker and monitor start):
keys valid, trading permission present, withdrawal permission absent where the venue tells, clock
skew, markets loaded, balance read, position mode. One line per venue; problems that make
trading on it unsafe (keys refused, no trading permission, a clock the venue would refuse,
two-way position mode) are listed apart from warnings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from app.domain.connections import plain
from app.ports.errors import AuthenticationFailed, ExchangeError, Retryable
from app.ports.exchange import Exchange, Probe, Probed

SKEW_WARNING_SECONDS = 1.0  # above this a clock drift is worth fixing before it grows


# what to check when the venue refuses a credential (`AuthenticationFailed.key`)
_REFUSED_KEY = {
    "api_key": "the API key is refused ({}): check the API key, and that it allows this"
    " machine's IP address",
    "api_secret": "the API secret is refused: the venue finds the signature wrong ({}); check"
    " the API secret",
    "api_password": "the API password (passphrase) is refused ({}): check the API password",
}
_REFUSED_KEYS = "the API key is refused ({}): check its key and secret"


@dataclass
class VenueReport:
    venue: str
    facts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # trading there is refused
    unreachable: bool = False  # the venue did not answer: nothing is known either way
    balance: dict[str, Decimal] = field(default_factory=dict)  # asset -> total, those held
    log: list[str] = field(default_factory=list)  # each step, when it ended (ms from the start)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unreachable

    def line(self) -> str:
        """One line: the verdict, then problems, warnings and facts."""
        verdict = "ok" if self.ok else ("unreachable" if self.unreachable else "REFUSED")
        parts = [*self.problems, *(f"warning: {w}" for w in self.warnings), *self.facts]
        return f"{self.venue}: {verdict}" + (" - " + "; ".join(parts) if parts else "")


def _skew(probe: Probe, sent: datetime, received: datetime, report: VenueReport,
          expiry: float | None) -> None:  # fmt: skip
    if probe.server_time is None:
        return
    local = sent + (received - sent) / 2
    skew = (probe.server_time - local).total_seconds()
    text = f"clock skew {skew * 1000:+.0f} ms"
    if expiry is not None and abs(skew) >= expiry:
        report.problems.append(
            f"{text}: the venue refuses requests this late or early; sync this machine's clock"
        )
    elif abs(skew) > SKEW_WARNING_SECONDS:
        report.warnings.append(f"{text}; sync this machine's clock (NTP)")
    else:
        report.facts.append(text)


def _permissions(probe: Probe, report: VenueReport) -> None:
    if probe.trading is False:
        report.problems.append("the API key may not trade: enable trading on it")
    elif probe.trading:
        report.facts.append("trading allowed")
    if probe.withdrawals:
        report.warnings.append(
            "the API key may WITHDRAW funds: make one without withdrawal permission"
        )
    elif probe.withdrawals is False:
        report.facts.append("withdrawals disabled")
    if probe.trading is None and probe.withdrawals is None:
        report.facts.append("permissions not told by the venue")
    if probe.hedged:
        report.problems.append(
            "the account is in two-way (hedge) position mode and signalgate trades one-way:"
            " switch it to one-way mode"
        )
    elif probe.hedged is False:
        report.facts.append("one-way position mode")


async def check_venue(
    name: str, venue: Exchange, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> VenueReport:
    """Ask the venue; every failure becomes a sentence of the report, never an exception."""
    report = VenueReport(name)
    started = time.monotonic()

    def step(text: str) -> None:
        report.log.append(f"{(time.monotonic() - started) * 1000:.0f} ms: {text}")

    try:
        markets = await venue.markets()
        report.facts.append(f"{len(markets)} markets")
        step(f"markets loaded ({len(markets)})")
        balances = await venue.balances()
        report.balance = {b.asset: plain(b.total) for b in balances.values() if b.total > 0}
        held = sorted((total, asset) for asset, total in report.balance.items())[-3:]
        shown = ", ".join(f"{asset} {_amount(total)}" for total, asset in reversed(held))
        report.facts.append(f"balance read ({shown or 'empty'})")
        step(f"balance read ({len(report.balance)} assets held)")
        if isinstance(venue, Probed):
            sent = now()
            probe = await venue.probe()
            _skew(probe, sent, now(), report, venue.request_expiry_seconds)
            _permissions(probe, report)
            step("keys, clock and position mode asked")
    except AuthenticationFailed as error:
        report.problems.append(_REFUSED_KEY.get(error.key or "", _REFUSED_KEYS).format(error))
    except Retryable as error:
        report.unreachable = True
        report.warnings.append(f"no answer ({error})")
    except ExchangeError as error:
        report.problems.append(f"the venue refused the check ({error})")
    for problem in report.problems:
        step(f"refused: {problem}")
    for warning in report.warnings:
        step(f"warning: {warning}")
    report.facts.append(f"{(time.monotonic() - started) * 1000:.0f} ms")
    return report


def _amount(value: Decimal) -> str:
    return f"{value.normalize():f}"
