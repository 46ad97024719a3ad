"""Brackets the monitor last found with nothing to do, and why: it skips planning one again while
the bracket is the same and every comparison its plan makes with the exit price comes out the same
(`price_tests`): the same plan, nothing to do. A round over thousands of open brackets then costs
a price read and a few comparisons each, not a plan each. A bracket with a trailing stop (which
moves with every better price, and with time) is planned every time."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from decimal import Decimal

from app.domain.brackets.bracket import Bracket
from app.domain.brackets.planner import PriceTests, price_tests


@dataclass
class QuietBrackets:
    # by bracket id: the bracket, its price tests and their outcome then (None: no price)
    _seen: dict[str, tuple[Bracket, PriceTests, tuple[bool, ...] | None]] = field(
        default_factory=dict
    )

    def still(self, bracket: Bracket, exit_price: Decimal | None) -> bool:
        """Whether `bracket` was found with nothing to do as it is, at a price that its plan
        cannot tell from `exit_price`."""
        seen = self._seen.get(bracket.id)
        if seen is None or not (seen[0] is bracket or seen[0] == bracket):
            return False
        outcome = None if exit_price is None else seen[1].outcome(exit_price)
        return outcome == seen[2]

    def saw(self, bracket: Bracket, exit_price: Decimal | None) -> None:
        """`bracket` has nothing to do at `exit_price`."""
        tests = price_tests(bracket) if bracket.trailing_percent is None else None
        if tests is None:
            self._seen.pop(bracket.id, None)
            return
        outcome = None if exit_price is None else tests.outcome(exit_price)
        self._seen[bracket.id] = (bracket, tests, outcome)

    def keep_only(self, ids: Container[str]) -> None:
        """Forget the brackets not among `ids` (closed since)."""
        for gone in [i for i in self._seen if i not in ids]:
            del self._seen[gone]
