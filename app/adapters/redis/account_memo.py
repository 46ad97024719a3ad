"""`DirectoryMemo` in Redis: the accounts and subscriptions last read from the database, one JSON
value (`signalgate:accounts:memo`). It holds names, connections' names, limits and sizing: no
secret."""

from __future__ import annotations

import msgspec
import redis

from app.adapters.redis.errors import unavailable
from app.domain.accounts import Account, Subscription

MEMO_KEY = "signalgate:accounts:memo"


class _Memo(msgspec.Struct, frozen=True):
    accounts: list[Account]
    subscriptions: list[Subscription]


_decoder = msgspec.json.Decoder(_Memo)


class RedisDirectoryMemo:
    def __init__(self, client: redis.Redis, key: str = MEMO_KEY) -> None:
        self._client = client
        self._key = key

    def keep(self, accounts: list[Account], subscriptions: list[Subscription]) -> None:
        value = msgspec.json.encode(_Memo(accounts, subscriptions))
        with unavailable("Redis unreachable"):
            self._client.set(self._key, value)

    def last(self) -> tuple[list[Account], list[Subscription]] | None:
        with unavailable("Redis unreachable"):
            raw = self._client.get(self._key)
        if raw is None:
            return None
        try:
            memo = _decoder.decode(raw)
        except msgspec.DecodeError:  # kept by another version: as if none was
            return None
        return memo.accounts, memo.subscriptions
