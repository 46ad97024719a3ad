"""The holder of a bracket, as an execution store sees it: the block run under account-and-symbol
locks (`ExecutionStore.batch(*fences)`), with the fencing tokens of those locks and the version
of every bracket it read or wrote there.

A bracket save is a compare-and-swap on the bracket's version: written only if the row is still
at the version its holder last saw (a bracket it never read must be new) and no newer fencing
token of its key saved it since. What the holder saw lives in the context (a task's), not in the
store: a worker's tasks and, in tests, a worker and the monitor share one store, each its own
holder. A refused save marks the bracket stale for its holder: every later save of it raises.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from app.domain.brackets.bracket import Bracket
from app.ports.errors import StaleBracket
from app.ports.execution import Fence, lock_key

log = logging.getLogger("signalgate.brackets")

NEW = 0  # the version a holder expects of a bracket it never read: none, it is new


@dataclass(eq=False)
class Holder:
    fences: dict[str, int]  # lock key -> fencing token
    versions: dict[str, int] = field(default_factory=dict)  # bracket id -> version seen
    stale: set[str] = field(default_factory=set)  # brackets whose save was refused
    refused: list[StaleBracket] = field(default_factory=list)  # not raised to the holder yet

    def token(self, bracket: Bracket) -> int | None:
        return self.fences.get(lock_key(bracket.account, bracket.symbol))

    def expected(self, bracket_id: str) -> int:
        return self.versions.get(bracket_id, NEW)

    def saw(self, bracket_id: str, version: int) -> None:
        self.versions[bracket_id] = version

    def raise_refused(self) -> None:
        """Raise the first refusal of the holder's saves not raised yet (a save kept back and
        written by another task's flush is refused there, and raised here).

        Raises:
            StaleBracket: a save of the holder was refused.
        """
        if self.refused:
            first, self.refused = self.refused[0], []
            raise first

    def check(self, bracket_id: str) -> None:
        """`raise_refused`, and refuse a save of a bracket already stale for the holder.

        Raises:
            StaleBracket: a save of the holder was refused, or the bracket is stale.
        """
        self.raise_refused()
        if bracket_id in self.stale:
            raise StaleBracket(f"bracket {bracket_id} is driven by a newer holder of its lock;"
                               " this one saves and sends nothing more for it")  # fmt: skip

    def refuse(self, error: StaleBracket, bracket_id: str) -> None:
        self.stale.add(bracket_id)
        self.refused.append(error)


def refusal(
    bracket: Bracket, expected: int, found: int, token: int | None, stored: int | None
) -> StaleBracket:
    """The error (logged at ERROR) for a save of `bracket` refused by its row, at version
    `found` and fenced with `stored`, where its holder expected `expected` with `token`."""
    why = (
        f"saved again since this holder read it (version {expected} read, {found} now)"
        if found != expected
        else f"saved by a newer holder of its lock (fencing token {stored}, this one {token})"
    )
    message = (
        f"bracket {bracket.id} ({bracket.account} {bracket.symbol} on {bracket.venue}) was {why};"
        " the save is refused and this holder sends nothing more for it"
    )
    log.error("STALE %s", message)
    return StaleBracket(message)


def fence_refuses(token: int | None, stored: int | None) -> bool:
    """Whether a save with `token` must be refused by a row fenced with `stored`."""
    return token is not None and stored is not None and stored > token


# The holders open in this context, by store (a tuple: a task's copy never changes another's).
_holders: ContextVar[tuple[tuple[object, Holder], ...]] = ContextVar("holders", default=())


def holder_of(store: object) -> Holder | None:
    """The holder of the block running now in `store`, if any (the innermost)."""
    for owner, holder in reversed(_holders.get()):
        if owner is store:
            return holder
    return None


@contextmanager
def holding(store: object, fences: tuple[Fence, ...]) -> Iterator[Holder | None]:
    """Open a holder of `fences` in `store` for the block (none without fences: the enclosing
    one, if any, stays)."""
    if not fences:
        yield holder_of(store)
        return
    holder = Holder({fence.key: fence.token for fence in fences})
    opened = _holders.set((*_holders.get(), (store, holder)))
    try:
        yield holder
    finally:
        _holders.reset(opened)
