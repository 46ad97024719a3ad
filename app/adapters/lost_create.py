"""The lost-create protocol shared by the venue adapters (ccxt's, Pionex's): what to do when a
create got no reliable answer (timeout, network error, 429, 5xx, garbled body), so that an order
is never placed twice and never silently dropped.

1. look the order up by its client order id (reads retried with a backoff); found -> it;
2. if the venue *answered* that it has no such order, wait until the lost request can no longer
   be executed (its expiry after it was signed), look it up once more, and only after a second
   confirmed "not found" send it again once, with the SAME client order id (a venue holding an
   order with that id refuses the copy as a duplicate, which is then looked up too);
3. if a lookup gets no answer either, or the venue's requests never expire, raise
   `OutcomeUnknown`: the caller marks the order `unknown` and the reconciler resolves it later
   by client order id.

A copy that gets no answer either may yet execute: it is looked up, never sent a third time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.adapters.retry import RetryPolicy
from app.domain.orders import OrderStatus
from app.ports.errors import ExchangeError, OutcomeUnknown, Retryable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LostCreate:
    """One create that got no answer, and what the protocol needs of its venue's adapter."""

    venue: str  # the venue's name, as the messages say it
    client_order_id: str
    find: Callable[[], Awaitable[OrderStatus | None]]  # None: the venue says it has none
    send_again: Callable[[], Awaitable[OrderStatus]]  # the same create, the same client id
    duplicate: Callable[[ExchangeError], bool]  # the copy refused: the venue has that id
    retry: RetryPolicy
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]

    async def resolve(self, expires_at: float | None, cause: ExchangeError) -> OrderStatus:
        """The order, found or sent again once it can no longer execute (`expires_at`, on
        `clock`; None: the venue's requests do not expire, so it is never sent again).

        Raises:
            OutcomeUnknown: whether the order exists cannot be told; reconcile it later.
            ExchangeError: the copy was refused for another reason (nothing was placed).
        """
        venue, cid = self.venue, self.client_order_id
        found = await self._lookup(cause)
        if found is not None:
            return found
        # Not found. The lost request may still be in flight: wait until the venue would refuse
        # it, then ask again before sending the copy.
        if expires_at is None:
            raise OutcomeUnknown(
                f"{venue} did not answer for order {cid} and its requests do not expire, so it"
                " is not sent again; reconcile it by client order id."
            ) from cause
        if (wait := expires_at - self.clock()) > 0:
            await self.sleep(wait)
        found = await self._lookup(cause)
        if found is not None:
            return found
        log.warning("%s has no order %s after its expiry: sending it again", venue, cid)
        failure: ExchangeError
        try:
            return await self.send_again()
        except (Retryable, OutcomeUnknown) as error:
            log.warning("%s create %s sent again got no answer (%s): looking it up", venue, cid,
                        error)  # fmt: skip
            failure = error
        except ExchangeError as error:
            if not self.duplicate(error):
                raise
            failure = error
        found = await self._lookup(failure)
        if found is None:
            raise OutcomeUnknown(
                f"{venue} did not confirm order {cid} sent again ({failure}); reconcile it by"
                " client order id."
            ) from failure
        return found

    async def _lookup(self, cause: Exception) -> OrderStatus | None:
        """The order by client id; None only when the venue answered that it has none."""
        venue, cid = self.venue, self.client_order_id
        delay = self.retry.backoff_seconds
        for attempt in range(1, self.retry.lookup_attempts + 1):
            try:
                return await self.find()
            except Retryable as error:
                log.warning("%s lookup of %s failed (%s), try %d", venue, cid, error, attempt)
                if attempt < self.retry.lookup_attempts:
                    await self.sleep(delay)
                    delay *= 2
        raise OutcomeUnknown(
            f"{venue} did not answer for order {cid} and could not be asked whether it exists"
            f" ({cause}); reconcile it by client order id."
        ) from cause
