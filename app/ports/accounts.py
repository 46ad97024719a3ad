"""Where accounts and subscriptions are kept (`AccountStore`), and what intake and execution
read of them on their hot paths (`Subscribers`, `AccountBook`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from app.domain.account_channels import AccountChannels
from app.domain.accounts import Account, AccountRefused, AccountRules, Subscription
from app.domain.risk_values import TradingState


class AccountTaken(Exception):
    """Another account has this name."""


class AccountInUse(Exception):
    """The account still has signals waiting to run or open brackets: removing it now would
    leave them to an account that is not kept."""

    def __init__(self, pending: int, open_brackets: int) -> None:
        super().__init__(f"{pending} pending signals, {open_brackets} open brackets")
        self.pending = pending
        self.open_brackets = open_brackets


class AccountStore(Protocol):
    def accounts(self) -> list[Account]:
        """Every account, by name, with its trading state."""
        ...

    def account(self, name: str) -> Account | None: ...

    def add_account(self, account: Account, at: datetime) -> Account:
        """Raises:
        AccountTaken: the name is taken."""
        ...

    def change_account(self, account: Account, at: datetime) -> Account | None:
        """Write `account`'s connections, limits and sizing; None when there is no such account."""
        ...

    def remove_account(self, name: str) -> bool:
        """Remove the account, its subscriptions and its trading state; False if unknown.

        Raises:
            AccountInUse: it has pending signals or open brackets (nothing is removed).
        """
        ...

    def set_account_state(
        self, name: str, state: TradingState, at: datetime, reason: str
    ) -> None: ...

    def subscriptions(self) -> list[Subscription]:
        """Every subscription, by strategy and account."""
        ...

    def subscribe(self, subscription: Subscription, at: datetime) -> Subscription:
        """Add the subscription, or set whether an existing one is enabled."""
        ...

    def unsubscribe(self, strategy: str, account: str) -> bool: ...


class AccountChannelStore(Protocol):
    """Where accounts' own notification channels are kept: their URLs as one sealed token each
    (never opened here), and what is shown of them in clear."""

    def set_channels(
        self, name: str, sealed: str | None, shown: AccountChannels | None, at: datetime
    ) -> bool:
        """Keep the account's channels (None, None: it has none); False when it is not kept."""
        ...

    def set_channel_events(self, name: str, shown: AccountChannels, at: datetime) -> bool:
        """Change what is shown (the event selection) of the channels it has; False when it
        has none any more, or is not kept."""
        ...

    def sealed_channels(self, name: str) -> str | None:
        """The sealed token of the account's URLs; None: no channel (or no such account)."""
        ...

    def channels_shown(self) -> Mapping[str, AccountChannels]:
        """Each account that has channels: what is kept in clear of them."""
        ...

    def every_sealed_channels(self) -> Sequence[tuple[str, str]]:
        """(account, token) of each account with channels."""
        ...

    def reseal_channels(self, name: str, old: str, new: str) -> bool:
        """Replace the token `old` by `new`; False when the channels changed meanwhile."""
        ...


class Subscribers(Protocol):
    """Intake's view: the accounts a strategy's alerts trade."""

    async def accounts_for(
        self, strategy: str | None, account: str
    ) -> tuple[str, ...] | AccountRefused:
        """The accounts an alert of `strategy` naming `account` fans out to (none: its own
        account trades), or why it is refused (`destinations`).

        Raises:
            Unavailable: they were never read and cannot be now.
        """
        ...


class DirectoryMemo(Protocol):
    """The accounts and subscriptions as last read, kept out of the database: intake fans alerts
    out on them when a process starts while the database does not answer."""

    def keep(self, accounts: list[Account], subscriptions: list[Subscription]) -> None:
        """Raises:
        Unavailable: not kept."""
        ...

    def last(self) -> tuple[list[Account], list[Subscription]] | None:
        """What was last kept, or None if nothing ever was.

        Raises:
            Unavailable: it cannot be read."""
        ...


class AccountBook(Protocol):
    """Execution's view: the rules of one account's signals."""

    def rules(self, account: str) -> AccountRules: ...
