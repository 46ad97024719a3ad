"""Strategies: plain classes that turn a symbol's prices into proposals.

A strategy has a `name`, `on_price(symbol, price, at) -> Proposal | None` and `reset(symbol)`;
it keeps its own incremental state per symbol, emits nothing until its windows are full (the
warm-up), and reads its parameters per symbol. `register` adds a user's strategy by name (see
the README: a strategy of your own in one file).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from app.domain.rolling import Lookback, Returns, RollingStats


class Proposal(msgspec.Struct, frozen=True):
    """What a strategy proposes: `side` is "buy", "sell" or "close"; TP/SL are prices."""

    side: str
    confidence: float
    take_profit: float | None
    stop_loss: float | None
    reason: str


class Strategy(Protocol):
    """A strategy may also have `missed(symbol)`: its last entry was not taken (filtered,
    denied...), which the engine calls when it knows."""

    name: str

    def on_price(self, symbol: str, price: float, at: datetime) -> Proposal | None: ...

    def reset(self, symbol: str) -> None: ...


P = TypeVar("P", bound=msgspec.Struct)
S = TypeVar("S")


class PerSymbol(Generic[P, S]):
    """Parameters (defaults, overridden per symbol) and a state per symbol.

    A subclass names its parameters struct (`params_type`, whose defaults apply when no
    parameters are given) and how a symbol's state is made from its parameters (`new_state`).
    """

    params_type: type[P]
    new_state: Callable[[P], S]

    def __init__(self, params: P | None = None, per_symbol: Mapping[str, P] | None = None) -> None:
        self.params = self.params_type() if params is None else params
        self.per_symbol = dict(per_symbol or {})
        self._states: dict[str, S] = {}

    def state(self, symbol: str) -> S:
        state = self._states.get(symbol)
        if state is None:
            state = self._states[symbol] = self.new_state(self.per_symbol.get(symbol, self.params))
        return state

    def reset(self, symbol: str) -> None:
        """Forget the symbol's prices: the strategy warms up again before it emits."""
        self._states.pop(symbol, None)


# --- momentum -------------------------------------------------------------------------------


class MomentumParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    lookback: int = 20  # prices
    threshold: float = 0.005  # the move over the lookback that counts (0.5%)
    volatility_window: int = 50  # prices, for the move's strength
    take_profit: float = 0.01  # from the price, as a fraction
    stop_loss: float = 0.005
    cooldown: int = 20  # prices after a signal before the next one
    stronger: float = 0.25  # within one move, signal again only this much more confident


class _MomentumState:
    __slots__ = ("cooldown", "emitted", "lookback", "params", "regime", "returns")

    def __init__(self, params: MomentumParams) -> None:
        self.params = params
        self.lookback = Lookback(params.lookback)
        self.returns = Returns(params.volatility_window)
        self.regime = ""  # the side emitted while the move lasts
        self.emitted = 0.0  # the confidence it was emitted with
        self.cooldown = 0


class Momentum(PerSymbol[MomentumParams, _MomentumState]):
    """A move beyond the threshold over the lookback: follow it. Confidence is the move's size
    against what the recent volatility makes usual over the lookback (3 times usual or more:
    full confidence). One signal when a move starts, another only when it grows clearly more
    confident (the first may have been below the confidence threshold), then nothing until the
    move has faded."""

    name = "momentum"
    params_type = MomentumParams
    new_state = _MomentumState

    def on_price(self, symbol: str, price: float, at: datetime) -> Proposal | None:
        s = self.state(symbol)
        s.lookback.add(price)
        s.returns.add(price)
        if s.cooldown:
            s.cooldown -= 1
        if not (s.lookback.full and s.returns.full):
            return None
        p = s.params
        change = s.lookback.change
        if abs(change) < p.threshold:
            s.regime = ""
            return None
        side = "buy" if change > 0 else "sell"
        usual = s.returns.volatility * math.sqrt(p.lookback)
        strength = abs(change) / usual if usual > 0 else math.inf
        confidence = min(1.0, strength / 3.0)
        if s.cooldown or (s.regime == side and confidence < s.emitted + p.stronger):
            return None
        s.regime, s.emitted, s.cooldown = side, confidence, p.cooldown
        sign = 1.0 if side == "buy" else -1.0
        return Proposal(
            side=side,
            confidence=confidence,
            take_profit=price * (1.0 + sign * p.take_profit),
            stop_loss=price * (1.0 - sign * p.stop_loss),
            reason=f"{change:+.2%} over {p.lookback} prices, {strength:.1f}x the usual move",
        )


# --- mean reversion -------------------------------------------------------------------------


_MISSED = "missed"


class MeanReversionParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    window: int = 50  # prices for the rolling mean and deviation
    entry_z: float = 1.5  # enter this many standard deviations away from the mean
    exit_z: float = 0.0  # close when the price is back this near the mean
    stop: float = 1.5  # the stop-loss, in standard deviations beyond the entry price


class _ReversionState:
    __slots__ = ("held", "params", "stats")

    def __init__(self, params: MeanReversionParams) -> None:
        self.params = params
        self.stats = RollingStats(params.window)
        self.held = ""  # the side of the entry proposed and not closed yet, or _MISSED


class MeanReversion(PerSymbol[MeanReversionParams, _ReversionState]):
    """The price far from its rolling mean (|z| >= entry_z) goes back: buy below, sell above,
    take profit at the mean, close when the price is back at the mean (unless the entry was not
    taken). Confidence is |z| / 3."""

    name = "mean_reversion"
    params_type = MeanReversionParams
    new_state = _ReversionState

    def missed(self, symbol: str) -> None:
        """The entry was not taken: no close is owed for it, and no new entry is proposed
        before the price has been back within `entry_z`."""
        self.state(symbol).held = _MISSED

    def on_price(self, symbol: str, price: float, at: datetime) -> Proposal | None:
        s = self.state(symbol)
        stats, p = s.stats, s.params
        if not stats.full:
            stats.add(price)
            return None
        mean, std = stats.mean, stats.std
        stats.add(price)
        if std <= 0:
            return None
        z = (price - mean) / std
        if s.held == _MISSED:  # one entry per excursion: wait for the price to come back
            if abs(z) < p.entry_z:
                s.held = ""
            return None
        if not s.held:
            if abs(z) < p.entry_z:
                return None
            s.held = "sell" if z > 0 else "buy"
            sign = 1.0 if s.held == "buy" else -1.0
            return Proposal(
                side=s.held,
                confidence=min(1.0, abs(z) / 3.0),
                take_profit=mean,
                stop_loss=price - sign * p.stop * std,
                reason=f"z {z:+.2f} against the mean {mean:.6g} of {p.window} prices",
            )
        if (s.held == "buy" and z >= -p.exit_z) or (s.held == "sell" and z <= p.exit_z):
            s.held = ""
            return Proposal(
                side="close",
                confidence=1.0,
                take_profit=None,
                stop_loss=None,
                reason=f"back at the mean {mean:.6g} (z {z:+.2f})",
            )
        return None


# --- the registry ---------------------------------------------------------------------------

Factory = Callable[[Mapping[str, Any], Mapping[str, Mapping[str, Any]]], Strategy]
_REGISTRY: dict[str, Factory] = {}


def register(name: str, cls: type[Any], params: type[msgspec.Struct] | None = None) -> None:
    """Make a strategy class available by name. `cls(params, per_symbol)` is called with its
    parameters struct (`params`, from the settings' JSON) when it has one, else `cls()`."""

    def build(defaults: Mapping[str, Any], symbols: Mapping[str, Mapping[str, Any]]) -> Strategy:
        if params is None:
            return cls()  # type: ignore[no-any-return]
        base = msgspec.convert(dict(defaults), params)
        per_symbol = {
            symbol: msgspec.convert({**defaults, **overrides}, params)
            for symbol, overrides in symbols.items()
        }
        return cls(base, per_symbol)  # type: ignore[no-any-return]

    _REGISTRY[name] = build


def registered() -> list[str]:
    return sorted(_REGISTRY)


def build_strategy(name: str, settings: Mapping[str, Any] | None = None) -> Strategy:
    """The strategy `name` with its settings: parameters, and per symbol under `symbols`.

    Raises:
        ValueError: an unknown name or a parameter that does not fit.
    """
    if name not in _REGISTRY:
        known = ", ".join(registered())
        raise ValueError(f"unknown strategy {name!r}: the strategies are {known}")
    values = dict(settings or {})
    symbols = values.pop("symbols", {})
    try:
        return _REGISTRY[name](values, symbols)
    except msgspec.ValidationError as error:
        raise ValueError(f"strategy {name}: {error}") from error


register("momentum", Momentum, MomentumParams)
register("mean_reversion", MeanReversion, MeanReversionParams)
