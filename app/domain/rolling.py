"""Incremental indicators: O(1) per price, whatever the window (no pass over the window per tick).

Floats, for speed: these are signals' inputs, not money. Prices become `Decimal` where they
become a signal.
"""

from __future__ import annotations

import math
from collections import deque


class RollingStats:
    """Mean and standard deviation of the last `size` values.

    Running sums of deviations from a shift (the first value of the current run), recomputed
    from the window every `size` updates, so rounding errors never pile up.
    """

    __slots__ = ("_shift", "_since", "_sum", "_sum_sq", "_values", "size")

    def __init__(self, size: int) -> None:
        if size < 2:
            raise ValueError("a rolling window needs at least 2 values")
        self.size = size
        self._values: deque[float] = deque(maxlen=size)
        self._shift = 0.0
        self._sum = 0.0
        self._sum_sq = 0.0
        self._since = 0

    @property
    def full(self) -> bool:
        return len(self._values) == self.size

    def add(self, value: float) -> None:
        values = self._values
        if not values:
            self._shift = value
        if len(values) == self.size:
            old = values[0] - self._shift
            self._sum -= old
            self._sum_sq -= old * old
        values.append(value)
        new = value - self._shift
        self._sum += new
        self._sum_sq += new * new
        self._since += 1
        if self._since >= self.size:
            self._recompute()

    def _recompute(self) -> None:
        self._shift = self._values[0]
        deviations = [v - self._shift for v in self._values]
        self._sum = math.fsum(deviations)
        self._sum_sq = math.fsum(d * d for d in deviations)
        self._since = 0

    @property
    def mean(self) -> float:
        return self._shift + self._sum / len(self._values)

    @property
    def std(self) -> float:
        """The sample standard deviation (n - 1)."""
        n = len(self._values)
        if n < 2:
            return 0.0
        variance = (self._sum_sq - self._sum * self._sum / n) / (n - 1)
        return math.sqrt(variance) if variance > 0 else 0.0

    def clear(self) -> None:
        self._values.clear()
        self._sum = self._sum_sq = 0.0
        self._since = 0


class Lookback:
    """The value `size` updates ago, and the change since then."""

    __slots__ = ("_values",)

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a lookback needs at least 1 value")
        self._values: deque[float] = deque(maxlen=size + 1)

    @property
    def full(self) -> bool:
        return len(self._values) == self._values.maxlen

    def add(self, value: float) -> None:
        self._values.append(value)

    @property
    def change(self) -> float:
        """The relative change over the lookback (0 until it is full)."""
        if not self.full or self._values[0] == 0:
            return 0.0
        return self._values[-1] / self._values[0] - 1.0

    def clear(self) -> None:
        self._values.clear()


class Returns:
    """The standard deviation of one-step relative returns over a window: the volatility."""

    __slots__ = ("_last", "_stats")

    def __init__(self, size: int) -> None:
        self._stats = RollingStats(size)
        self._last: float | None = None

    @property
    def full(self) -> bool:
        return self._stats.full

    def add(self, value: float) -> None:
        if self._last is not None and self._last != 0:
            self._stats.add(value / self._last - 1.0)
        self._last = value

    @property
    def volatility(self) -> float:
        return self._stats.std

    def clear(self) -> None:
        self._stats.clear()
        self._last = None
