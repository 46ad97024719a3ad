"""The inbox on Redis: rate limit, dedupe and a stream entry in one atomic round trip.

The webhook answers 202 once the entry is in the stream; the forwarder reads the stream through a
consumer group (at least once, abandoned entries reclaimed) and moves each record to SQL and RQ.
Each admitted record's stream entry id is kept under its signal id until the forwarder has moved
it, so that `GET /signals/{id}` finds a signal the forwarder has not moved yet.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import redis
import redis.asyncio
from redis.exceptions import NoScriptError, RedisError, ResponseError

from app.adapters.redis.errors import unavailable
from app.domain.signals import SignalRecord, SignalStatus
from app.ports.errors import Unavailable
from app.ports.signals import Admission, Admitted, Duplicate, RateLimited

STREAM = "signalgate:inbox"
GROUP = "forwarders"
DEDUPE_PREFIX = "signalgate:dedupe:"
RATE_PREFIX = "signalgate:rate:"
ENTRY_PREFIX = "signalgate:inbox:entry:"  # signal id -> its stream entry id, until forwarded
# How long an entry's index outlives a forwarder that never acknowledges it (the forwarder
# deletes it when it moves the record; this only bounds what a lost acknowledgement leaves).
ENTRY_INDEX_SECONDS = 86_400

# KEYS: rate, dedupe, stream, then each record's entry index. ARGV: limit, dedupe seconds, the
# records' ids (comma-separated: what a duplicate answers), dedupe? (1/0), index seconds, then each
# record's json. One alert's records (one per subscribed account) are kept together or not at all.
_ADMIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 60) end
if n > tonumber(ARGV[1]) then return {'rate', redis.call('TTL', KEYS[1])} end
if ARGV[4] == '1' then
  local first = redis.call('GET', KEYS[2])
  if first then
    redis.call('XADD', KEYS[3], '*', 'r', ARGV[6], 'dup', first)
    return {'dup', first}
  end
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
end
for i = 6, #ARGV do
  local entry = redis.call('XADD', KEYS[3], '*', 'r', ARGV[i])
  redis.call('SET', KEYS[i - 2], entry, 'EX', ARGV[5])
end
return {'ok', ''}
"""

# KEYS: entry index, stream. The fields of the signal's stream entry, or nil once forwarded.
_FIND = """
local entry = redis.call('GET', KEYS[1])
if not entry then return nil end
local found = redis.call('XRANGE', KEYS[2], entry, entry)
if #found == 0 then return nil end
return found[1][2]
"""

_ADMIT_SHA = hashlib.sha1(_ADMIT.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SignalRecord)


class RedisInbox:
    """The webhook's side: `admit` and `find` (async, on the event loop).

    Admissions that arrive in the same turn of the event loop share one pipelined round trip:
    under load that is most of them, and alone a request waits for no one.
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._client = client
        self._pending: list[tuple[tuple[object, ...], asyncio.Future[Any]]] = []
        self._script_loaded = False
        self._find = client.register_script(_FIND)

    async def admit(
        self,
        record: SignalRecord,
        *,
        dedupe_seconds: int,
        rate_key: str,
        rate_limit: int,
        also: Sequence[SignalRecord] = (),
    ) -> Admission:
        dedupe = record.status is SignalStatus.QUEUED
        records = (record, *also)
        call = (
            len(records) + 3,
            RATE_PREFIX + rate_key,
            DEDUPE_PREFIX + record.dedupe_key,
            STREAM,
            *(ENTRY_PREFIX + r.id for r in records),
            rate_limit,
            dedupe_seconds,
            ",".join(r.id for r in records),
            int(dedupe),
            ENTRY_INDEX_SECONDS,
            *(_encoder.encode(r) for r in records),
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((call, future))
        if len(self._pending) == 1:
            task = loop.create_task(self._flush())
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)
        kind, value = await future
        match kind:
            case b"rate":
                return RateLimited(max(int(value), 1))
            case b"dup":
                first = value.decode().split(",")
                return Duplicate(first[0], tuple(first) if len(first) > 1 else ())
            case _:
                return Admitted()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        try:
            results = await self._run([call for call, _ in batch])
        except (RedisError, OSError) as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(Unavailable(str(exc)))
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _run(self, calls: list[tuple[object, ...]]) -> list[Any]:
        for attempt in range(2):
            if not self._script_loaded:
                await self._client.script_load(_ADMIT)
                self._script_loaded = True
            pipe = self._client.pipeline(transaction=False)
            for call in calls:
                pipe.evalsha(_ADMIT_SHA, *call)  # type: ignore[arg-type]
            try:
                return list(await pipe.execute())
            except NoScriptError:
                # Redis restarted (scripts are not persisted): load it again, once.
                self._script_loaded = False
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def find(self, signal_id: str) -> SignalRecord | None:
        """The record admitted under `signal_id` that no forwarder has moved yet, or None.

        Raises:
            Unavailable: Redis could not be reached.
        """
        with unavailable():
            fields = await self._find(keys=[ENTRY_PREFIX + signal_id, STREAM])
        if not fields:
            return None
        return _record(dict(zip(fields[::2], fields[1::2], strict=True)))


# The flush tasks, kept referenced until done (the event loop holds only weak references).
_tasks: set[asyncio.Task[None]] = set()


class RedisInboxReader:
    """The forwarder's side (blocking): read through a consumer group, acknowledge, reclaim."""

    def __init__(self, client: redis.Redis, *, reclaim_idle_ms: int = 30_000) -> None:
        self._client = client
        self._consumer = f"{socket.gethostname()}-{os.getpid()}"
        self._reclaim_idle_ms = reclaim_idle_ms
        self._next_reclaim = 0.0
        self._group_ready = False
        self._signal_of: dict[str, str] = {}  # entry id -> signal id, of entries read
        self._first_delivered = False  # the last read's entries: read by no forwarder before

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def read(self, count: int, block_ms: int) -> list[tuple[str, SignalRecord]]:
        try:
            self._ensure_group()
            # Our own delivered-but-unacknowledged entries first (a failed forward), then
            # entries abandoned by dead forwarders, then new ones.
            own = self._client.xreadgroup(GROUP, self._consumer, {STREAM: "0"}, count=count)
            entries = _entries(own)
            if not entries and time.monotonic() >= self._next_reclaim:
                self._next_reclaim = time.monotonic() + self._reclaim_idle_ms / 3000
                claimed = self._client.xautoclaim(
                    STREAM, GROUP, self._consumer, self._reclaim_idle_ms, count=count
                )
                entries = [(i, f) for i, f in claimed[1] if f]
            self._first_delivered = not entries
            if not entries:
                new = self._client.xreadgroup(
                    GROUP, self._consumer, {STREAM: ">"}, count=count, block=block_ms
                )
                entries = _entries(new)
        except (RedisError, OSError) as exc:
            self._group_ready = False
            raise Unavailable(str(exc)) from exc
        read = [(_text(entry_id), _record(fields)) for entry_id, fields in entries]
        self._signal_of.update((entry_id, record.id) for entry_id, record in read)
        return read

    def first_delivered(self) -> bool:
        """Entries read as new (`>`), not again (this consumer's own unacknowledged ones, or
        those claimed from a forwarder that died)."""
        return self._first_delivered

    def ack(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge and delete forwarded entries, and their signals' entry index."""
        indexes = [ENTRY_PREFIX + self._signal_of[i] for i in entry_ids if i in self._signal_of]
        with unavailable():
            pipe = self._client.pipeline(transaction=True)
            pipe.xack(STREAM, GROUP, *entry_ids)
            pipe.xdel(STREAM, *entry_ids)
            if indexes:
                pipe.delete(*indexes)
            pipe.execute()
        for entry_id in entry_ids:
            self._signal_of.pop(entry_id, None)

    def claim_dedupe(self, records: Sequence[tuple[SignalRecord, int]]) -> dict[str, str]:
        alerts: dict[str, tuple[list[str], int]] = {}  # dedupe key -> its records' ids, window
        for record, seconds in records:
            alerts.setdefault(record.dedupe_key, ([], seconds))[0].append(record.id)
        with unavailable():
            pipe = self._client.pipeline(transaction=False)
            for key, (ids, seconds) in alerts.items():
                pipe.set(DEDUPE_PREFIX + key, ",".join(ids), ex=seconds, nx=True)
                pipe.get(DEDUPE_PREFIX + key)
            answers = pipe.execute()
        taken: dict[str, str] = {}
        for (ids, _), claimed, held in zip(
            alerts.values(), answers[::2], answers[1::2], strict=True
        ):
            holders = _text(held).split(",") if held else []
            if not claimed and holders and not set(holders) & set(ids):  # not a claim of ours
                taken.update((i, holders[0]) for i in ids)
        return taken


def _entries(response: Any) -> list[tuple[Any, dict[bytes, bytes]]]:
    if not response:
        return []
    return [(i, f) for i, f in response[0][1] if f]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(fields: dict[bytes, bytes]) -> SignalRecord:
    record = _decoder.decode(fields[b"r"])
    first = fields.get(b"dup")
    if first is None:
        return record
    return msgspec.structs.replace(
        record,
        status=SignalStatus.DUPLICATE,
        duplicate_of=first.decode().split(",")[0],
        reason="the same alert was received before",
    )
