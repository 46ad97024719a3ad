"""A venue's request budget: a token bucket refilled at `per_minute`, holding at most a tenth of a
minute's worth, so that a burst after a quiet spell stays short."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RequestBudget:
    per_minute: float
    tokens: float = field(init=False)
    _at: float | None = field(default=None, init=False)
    used: int = field(default=0, init=False)  # requests charged since the start

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_minute / 10)

    def _refill(self, now: float) -> None:
        if self._at is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.per_minute / 60)
        self._at = now

    def wait_seconds(self, now: float) -> float:
        """How long until one request fits the budget (0: now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) * 60 / self.per_minute

    def charge(self, now: float, requests: int = 1) -> None:
        """Count `requests` made now (the balance may go below zero: writes never wait)."""
        self._refill(now)
        self.tokens -= requests
        self.used += requests
