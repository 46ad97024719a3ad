"""Accounts and subscriptions: add, change, halt and remove accounts, subscribe them to
strategies (`Accounts`), and the directory intake and execution read them through
(`AccountDirectory`), kept in memory and read again every `refresh_seconds`.

A change made through this process's `Accounts` is seen by its directory at once; another
process (a CLI command) is seen within `refresh_seconds`. An account's trading state is not
cached: the risk gate reads it with the account, from the database, for every signal.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from app.domain.accounts import (
    IMPLICIT,
    Account,
    AccountLimits,
    AccountRefused,
    AccountRules,
    AccountSizing,
    InvalidAccount,
    Subscription,
    check_account_name,
    check_strategy_name,
    checked_account,
    destinations,
    rules_for,
)
from app.domain.notifications import TradingChanged
from app.domain.risk_values import RiskLimits, TradingState
from app.domain.sizing import SizingPolicy
from app.ports.accounts import AccountInUse, AccountStore, AccountTaken, DirectoryMemo
from app.ports.errors import Unavailable
from app.ports.notifications import NoNotifier, Notifier

log = logging.getLogger("signalgate.accounts")
REFRESH_SECONDS = 5.0


class UnknownAccount(LookupError):
    """No account has this name, or no subscription ties this strategy to it."""


class AccountConflict(Exception):
    """The name is taken; the message says what to do."""


@dataclass
class AccountDirectory:
    """Accounts and subscriptions as last read, for intake (`accounts_for`) and execution
    (`rules`); read again once older than `refresh_seconds`.

    Intake never waits for the database once a read was made: a stale read is served while a
    thread reads again (one at a time), so a slow or hanging database delays no alert. Only the
    first read (`warm` starts it at start-up), the first after a change made through this
    process (`forget`) and an alert naming an account missing from the last read wait for it.
    Execution (a worker, which needs the database anyway) reads in line.

    Each read that differs from the one before is kept in `memo`: a process that starts while
    the database does not answer fans alerts out on what was last kept there, not refusing them.
    """

    store: AccountStore
    limits: RiskLimits
    sizing: SizingPolicy
    refresh_seconds: float = REFRESH_SECONDS
    memo: DirectoryMemo | None = None
    # accounts by name and subscriptions, replaced together (readers see one read or the other)
    _read: tuple[dict[str, Account], list[Subscription]] | None = None
    _read_at: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _refreshing: threading.Lock = field(default_factory=threading.Lock)
    _changed: bool = False  # a change made here: read before answering, not behind

    def forget(self) -> None:
        """Read again, in line, on next use (after a change made through this process)."""
        self._read_at = float("-inf")
        self._changed = True

    def _fresh(self) -> bool:
        return self._read is not None and time.monotonic() - self._read_at < self.refresh_seconds

    def _load(self) -> tuple[dict[str, Account], list[Subscription]]:
        with self._lock:
            if self._fresh():
                assert self._read is not None
                return self._read
            self._changed = False
            try:
                found = {a.name: a for a in self.store.accounts()}
                subscriptions = self.store.subscriptions()
            except Unavailable as error:
                if self._read is None:
                    self._read = self._remembered(error)
                log.warning("accounts not read again, the last read is used: %s", error)
                self._read_at = time.monotonic()
                return self._read
            read = (found, subscriptions)
            if read != self._read:
                self._keep(read)
            self._read, self._read_at = read, time.monotonic()
            return self._read

    def _keep(self, read: tuple[dict[str, Account], list[Subscription]]) -> None:
        if self.memo is None:
            return
        try:
            self.memo.keep(list(read[0].values()), read[1])
        except Unavailable as error:
            log.warning("accounts read, not kept for a start without the database: %s", error)

    def _remembered(self, error: Unavailable) -> tuple[dict[str, Account], list[Subscription]]:
        """The memo's accounts, when the database was never read; raises `error` without them."""
        last = None
        if self.memo is not None:
            try:
                last = self.memo.last()
            except Unavailable as memo_error:
                log.warning("accounts kept for a start without the database: %s", memo_error)
        if last is None:
            raise error
        log.warning("the database does not answer: alerts fan out on the accounts last kept")
        return {a.name: a for a in last[0]}, last[1]

    def warm(self) -> None:
        """Read in the background, unless a read is under way (at start-up, or when stale)."""
        if not self._refreshing.acquire(blocking=False):
            return
        threading.Thread(target=self._load_behind, name="accounts-refresh", daemon=True).start()

    def _load_behind(self) -> None:
        try:
            self._load()
        except Unavailable as error:
            log.warning("accounts cannot be read yet: %s", error)
        except Exception:
            log.exception("accounts not read again")
        finally:
            self._refreshing.release()

    async def accounts_for(
        self, strategy: str | None, account: str = IMPLICIT
    ) -> tuple[str, ...] | AccountRefused:
        read = self._read
        if read is None or self._changed:  # never read, or changed here: the database answers
            read = await asyncio.to_thread(self._load)
        elif not self._fresh():
            self.warm()  # the last read answers meanwhile
        if account != IMPLICIT and account not in read[0]:  # added since: read again
            self.forget()
            read = await asyncio.to_thread(self._load)
        return destinations(read[1], read[0], strategy, account)

    def rules(self, account: str) -> AccountRules:
        """The rules of `account`'s signals; an account missing from the last read is read
        again once (added since) before it is refused."""
        accounts = self._load()[0]
        found = accounts.get(account)
        if found is None and account != IMPLICIT:
            self.forget()
            found = self._load()[0].get(account)
        return rules_for(account, found, self.limits, self.sizing)


class Accounts:
    """What the CLI and the API do with accounts and subscriptions."""

    def __init__(
        self,
        store: AccountStore,
        *,
        clock: Callable[[], datetime],
        connections: Callable[[], Collection[str]],
        changed: Callable[[], None] = lambda: None,
        notifier: Notifier | None = None,
    ) -> None:
        """
        Args:
            store: where accounts and subscriptions are kept.
            clock: the time of changes.
            connections: the names of the connections an account may group.
            changed: told after every change (this process's directory reads them again).
            notifier: told each account's trading state changed (the `trading` event).
        """
        self._store = store
        self._clock = clock
        self._connections = connections
        self._changed = changed
        self._notifier = notifier or NoNotifier()

    def list_all(self) -> list[Account]:
        return self._store.accounts()

    def get(self, name: str) -> Account:
        found = self._store.account(name)
        if found is None:
            raise UnknownAccount(
                f"no account is named {name[:40]!r}: `signalgate accounts list` shows them"
            )
        return found

    def add(self, account: Account) -> Account:
        """Raises:
        InvalidAccount, AccountConflict."""
        self._check_connections(checked_account(account))
        try:
            added = self._store.add_account(account, self._clock())
        except AccountTaken:
            raise AccountConflict(
                f"an account is already named {account.name}: choose another name, or change"
                " that one"
            ) from None
        log.info("account %s added", added.name)
        self._changed()
        return added

    def change(
        self,
        name: str,
        *,
        connections: tuple[str, ...] | None = None,
        limits: AccountLimits | None = None,
        sizing: AccountSizing | None = None,
    ) -> Account:
        """Replace the account's connections, limits or sizing (None: kept).

        Raises:
            UnknownAccount, InvalidAccount.
        """
        account = self.get(name)
        changes: dict[str, object] = {}
        if connections is not None:
            changes["connections"] = connections
        if limits is not None:
            changes["limits"] = limits
        if sizing is not None:
            changes["sizing"] = sizing
        account = self._check_connections(
            checked_account(msgspec.structs.replace(account, **changes))
        )
        changed = self._store.change_account(account, self._clock())
        if changed is None:
            raise UnknownAccount(f"account {name} was removed meanwhile")
        self._changed()
        return changed

    def set_state(self, name: str, state: TradingState, reason: str) -> Account:
        """Halt the account, let it reduce only, or resume it; told to NOTIFY_URLS' channels and
        the account's own, with its reason.

        Raises:
            UnknownAccount.
        """
        self.get(name)
        at = self._clock()
        self._store.set_account_state(name, state, at, reason)
        log.warning("account %s is now %s: %s", name, state.value, reason)
        self._notifier.notify(TradingChanged(state.value, reason, at, account=name))
        return self.get(name)

    def remove(self, name: str) -> None:
        """Remove an account that has no pending signal and no open bracket (its signals would
        run on an account that is not kept).

        Raises:
            UnknownAccount, AccountConflict.
        """
        try:
            removed = self._store.remove_account(name)
        except AccountInUse as used:
            raise AccountConflict(
                f"account {name} still has {used.pending} pending signals and"
                f" {used.open_brackets} open brackets: unsubscribe and halt it (`signalgate"
                f" accounts halt {name}`), close its positions, then remove it"
            ) from None
        if not removed:
            self.get(name)  # says it is unknown
        log.info("account %s removed with its subscriptions", name)
        self._changed()

    def subscriptions(self, strategy: str | None = None) -> list[Subscription]:
        found = self._store.subscriptions()
        return [s for s in found if strategy is None or s.strategy == strategy]

    def subscribe(self, strategy: str, account: str, *, enabled: bool = True) -> Subscription:
        """Subscribe `account` to `strategy`'s alerts, or enable or disable its subscription.

        Raises:
            InvalidAccount, UnknownAccount.
        """
        check_strategy_name(strategy)
        check_account_name(account)
        self.get(account)
        done = self._store.subscribe(Subscription(strategy=strategy, account=account,
                                                  enabled=enabled), self._clock())  # fmt: skip
        self._changed()
        return done

    def unsubscribe(self, strategy: str, account: str) -> None:
        """Raises:
        UnknownAccount: no such subscription."""
        if not self._store.unsubscribe(strategy, account):
            raise UnknownAccount(
                f"account {account[:40]} is not subscribed to {strategy[:100]}:"
                " `signalgate subscriptions list` shows the subscriptions"
            )
        self._changed()

    def _check_connections(self, account: Account) -> Account:
        known = set(self._connections())
        for name in account.connections:
            if name not in known:
                raise InvalidAccount(
                    "connections", f"no connection is named {name}: `signalgate connections"
                    " list` shows them (VENUES or `signalgate connections add`)",
                )  # fmt: skip
        return account
