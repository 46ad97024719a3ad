"""One signal by id, wherever it is: in the database, or still in the inbox.

The webhook answers 202 once the alert is in the inbox; the forwarder moves it to SQL a few
milliseconds later (longer when it is behind or down). A client that asks for the signal right
after the 202 reads its own write: the inbox's copy, `queued` (or `filtered`, `stale`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.domain.signals import SignalRecord
from app.ports.errors import Unavailable
from app.ports.signals import InboxLookup, SignalReader, SignalView, StatusChange


@dataclass(frozen=True, slots=True)
class SignalLookup:
    reader: SignalReader
    inbox: InboxLookup

    async def get(self, signal_id: str) -> SignalView | None:
        """The signal with this id as SQL has it, else as the inbox has it, else None.

        Raises:
            Unavailable: the database could not be reached (an unreachable inbox counts as
                holding nothing).
        """
        found = await asyncio.to_thread(self.reader.get, signal_id)
        if found is not None:
            return found
        try:
            kept = await self.inbox.find(signal_id)
        except Unavailable:
            kept = None
        if kept is not None:
            return inbox_view(kept)
        # The forwarder writes SQL before it deletes the inbox's copy: one that moved the signal
        # between the two reads above left it in SQL.
        return await asyncio.to_thread(self.reader.get, signal_id)


def inbox_view(record: SignalRecord) -> SignalView:
    """A record as the API shows it, as SQL will show it once the forwarder has moved it."""
    signal = record.signal
    return SignalView(
        id=record.id,
        received_at=record.received_at,
        status=record.status.value,
        dialect=record.dialect,
        source=signal.source,
        strategy=signal.strategy,
        account=signal.account,
        symbol=signal.symbol,
        action=signal.action.value,
        confidence=signal.confidence,
        signal=signal,
        reason=record.reason,
        duplicate_of=record.duplicate_of,
        payload=record.payload,
        client=record.client,
        history=[StatusChange(record.received_at, record.status.value, record.reason)],
    )
