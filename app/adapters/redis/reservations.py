"""`Reservations` in Redis: one hash per account, shared by every worker.

The hash holds the account's reservations by entry id, each `<expiry in ms> <JSON>`, and a
version (`#v`) that every reservation taken increments. Taking one is a Lua script, so atomic:
it adds the entry only if the version is still the one the caller's check read, else it answers
the reservations as they are now, and the caller checks again. A release (HDEL) changes no
version: a reader that saw the entry counted it, and one that did not finds its bracket in the
book, recorded before the release.

Nothing is leaked by a worker killed between its reservation and its release: an entry whose
expiry has passed is not read and is dropped by the next reservation.

Each reservation this object takes is kept with the version it made (`taken_since`): a check
refused for this process's own reservations alone adds them instead of reading the book again.
A version read below one it made means the hash began again (Redis lost it): those are forgotten.

A release is kept back and sent in the round trip of the next read or reservation, ahead of it
(or by `send_releases` at the job's end): a synchronous round trip less per entry, on the
worker's event loop. Meanwhile other workers' reads still see the entry, and the book they read
after it counts its bracket (`on_record`), once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import redis
from redis.exceptions import NoScriptError, RedisError

from app.adapters.redis.errors import unavailable
from app.domain.reservations import Reservation, Reserved, Taken
from app.ports.errors import Unavailable

_VERSION = "#v"
# KEYS[1] the account's hash; ARGV: the version read, the entry's id, its value, now (ms)
_RESERVE = """
local key = KEYS[1]
if (redis.call('hget', key, '#v') or '0') ~= ARGV[1] then
  return redis.call('hgetall', key)
end
local now = tonumber(ARGV[4])
local held = redis.call('hgetall', key)
for i = 1, #held, 2 do
  if held[i] ~= '#v' and tonumber(string.match(held[i + 1], '^%d+')) <= now then
    redis.call('hdel', key, held[i])
  end
end
redis.call('hset', key, ARGV[2], ARGV[3])
return redis.call('hincrby', key, '#v', 1)
"""
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Reservation).decode


class RedisReservations:
    def __init__(self, client: redis.Redis, *, prefix: str = "signalgate:reserve:") -> None:
        self._client = client
        self._prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._released: list[tuple[str, str]] = []  # (hash, entry id), kept back
        self._taken = Taken()  # the versions this object's reservations made

    def read(self, account: str, now: datetime) -> Reserved:
        with unavailable("reservations unreadable"):
            if not self._released:
                fields = self._client.hgetall(self._prefix + account)
            else:
                pipe = self._releasing()
                pipe.hgetall(self._prefix + account)
                fields = pipe.execute()[-1]
                self._released.clear()
        return self._seen(account, _reserved(dict(fields).items(), now))

    def reserve(
        self, account: str, version: int, entry: Reservation, now: datetime
    ) -> Reserved | None:
        value = b"%d %s" % (_ms(entry.expires_at), _encode(entry))
        args: list[bytes | str | int] = [str(version), entry.id, value, _ms(now)]
        with unavailable("reservation not taken"):
            if not self._released:
                answer: Any = self._reserve(keys=[self._prefix + account], args=args)
            else:
                answer = self._reserve_releasing(self._prefix + account, args)
        if isinstance(answer, int):
            self._taken.add(account, answer, entry)
            return None
        pairs = zip(answer[::2], answer[1::2], strict=True)
        return self._seen(account, _reserved(pairs, now))

    def taken_since(self, account: str, version: int, newer: int) -> tuple[Reservation, ...] | None:
        return self._taken.since(account, version, newer)

    def _seen(self, account: str, reserved: Reserved) -> Reserved:
        self._taken.seen(account, reserved.version)
        return reserved

    def _reserve_releasing(self, key: str, args: list[bytes | str | int]) -> Any:
        """The reservation after the releases kept back, in one round trip (EVALSHA in the
        pipeline: redis-py's script call there asks SCRIPT EXISTS first, a round trip more)."""
        pipe = self._releasing()
        pipe.evalsha(self._reserve.sha, 1, key, *args)
        try:
            answer = pipe.execute()[-1]
        except NoScriptError:  # a Redis restarted since: the releases went; load it and retry
            self._released.clear()
            return self._reserve(keys=[key], args=args)
        self._released.clear()
        return answer

    def release(self, account: str, entry_id: str) -> None:
        self._released.append((self._prefix + account, entry_id))

    def send_releases(self) -> None:
        if not self._released:
            return
        try:
            self._releasing().execute()
        except (RedisError, OSError) as exc:
            raise Unavailable(f"reservations not released ({type(exc).__name__})") from exc
        finally:
            self._released.clear()  # not sent: they lapse when they expire

    def _releasing(self) -> redis.client.Pipeline:
        """A pipeline that drops the releases kept back, first."""
        pipe = self._client.pipeline(transaction=False)
        for key, entry_id in self._released:
            pipe.hdel(key, entry_id)
        return pipe


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _reserved(fields: Any, now: datetime) -> Reserved:
    version, entries = 0, []
    for name, value in fields:
        if name == _VERSION.encode():
            version = int(value)
            continue
        expiry, _, data = bytes(value).partition(b" ")
        if int(expiry) > _ms(now):
            entries.append(_decode(data))
    return Reserved(version, tuple(sorted(entries, key=lambda e: e.id)))
