"""The lost-create protocol of `CcxtExchange.create_order`, and the lookup by client order id
it rests on.

Reads are retried with a backoff (ccxt's own retries stay off: they would retry POSTs too).
Order creation is never retried blindly. When a create gets no reliable answer (timeout,
network error, 429, 5xx, garbled body) the outcome is unknown and `create_order`:

1. looks the order up by its client order id (with read retries); found -> return it;
2. if the venue *answered* that no such order exists, waits until the lost request can no
   longer be executed (the venue's `recvWindow` after it was sent: Binance refuses a request
   older than that, Kraken one past the `deadline` each create carries), looks it up once
   more, and only after a second confirmed "not found" re-submits it once, with the SAME
   client order id (an open order with that id makes the venue refuse the copy as a
   duplicate, which is then looked up too);
3. if any lookup fails (no answer either), raises `OutcomeUnknown`: the caller marks the order
   `unknown` and the reconciler resolves it later by client order id.

`Retryable` from `create_order` therefore always means "nothing was sent" (circuit open).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ccxt.base import errors as ccxt_errors

from app.adapters.ccxt.calls import VenueCalls
from app.adapters.ccxt.client import request_headers
from app.adapters.ccxt.parsing import RawOrder, client_id
from app.adapters.ccxt.profiles import FetchOrder, RequestExpiry, ScanOrders, VenueProfile
from app.domain.orders import OrderKind, OrderRequest, OrderStatus
from app.ports.errors import ExchangeError, Fatal, OrderNotFound, OutcomeUnknown, Retryable

log = logging.getLogger(__name__)

# ccxt's order (and whether it is a conditional one) in the port's types
Parse = Callable[[RawOrder, OrderRequest | None, bool], OrderStatus]
CONDITIONAL = (OrderKind.STOP_MARKET, OrderKind.TAKE_PROFIT_MARKET)


def conditional(request: OrderRequest) -> bool:
    return request.kind in CONDITIONAL


async def create_order(
    calls: VenueCalls,
    profile: VenueProfile,
    request: OrderRequest,
    args: tuple[Any, ...],
    parse: Parse,
) -> OrderStatus:
    """Send ccxt's `create_order(*args)` once for `request`; without an answer, the protocol."""
    args = stamped(calls, profile, args)
    sent_at = calls.clock()
    try:
        with request_headers(deadline_header(calls, profile, request)):
            raw = await calls.call("create_order", *args)
    except (Retryable, OutcomeUnknown) as error:
        if not isinstance(error.__cause__, ccxt_errors.BaseError):
            raise  # refused by our own breaker: nothing was sent
        log.warning("%s create %s got no answer (%s): looking it up", calls.name,
                    request.client_order_id, error)  # fmt: skip
        signed = signed_at(calls, sent_at)
        return await _LostCreate(calls, profile, request, args, parse).resolve(signed, error)
    return parse(answered(raw, profile), request, conditional(request))


def answered(raw: RawOrder, profile: VenueProfile) -> RawOrder:
    """A create's answer; one without a status is the order the venue took where its answers
    only acknowledge (the profile's `acknowledged_status`)."""
    if raw.get("status") is None and profile.acknowledged_status is not None:
        return {**raw, "status": profile.acknowledged_status}
    return raw


def signed_at(calls: VenueCalls, sent_at: float) -> float:
    """When ccxt signed the request, on `calls.clock`: later than `sent_at` when ccxt's throttle
    held it back (a venue's request window runs from its signed timestamp). ccxt stamps its
    last REST request just before signing; a later request's stamp only makes the wait longer."""
    stamp = getattr(calls.client, "lastRestRequestTimestamp", 0)
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or stamp <= 0:
        return sent_at
    ago = max(0.0, time.time() - stamp / 1000)
    return max(sent_at, calls.clock() - ago)


async def find_by_client_id(
    calls: VenueCalls,
    profile: VenueProfile,
    symbol: str,
    client_order_id: str,
    parse: Parse,
    request: OrderRequest | None = None,
    *,
    retried: bool = False,
) -> OrderStatus | None:
    """The order by client id, as the profile says the venue can find it: among the venue's
    conditional orders too where they are read apart (only there when the request was one).
    Without the request, the conditional ones are asked first: a venue may list those among
    its plain orders too (Bybit's unified account), and one found there would lose its mark."""
    ask = calls.read if retried else calls.call
    if not profile.conditional_params:
        kinds = [False]
    else:
        kinds = [conditional(request)] if request is not None else [True, False]
    for kind in kinds:
        extra = profile.conditional_params if kind else {}
        found = await _find(ask, profile, symbol, client_order_id, extra)
        if found is not None:
            return parse(found, request, kind)
    return None


async def _find(
    ask: Callable[..., Any],
    profile: VenueProfile,
    symbol: str,
    client_order_id: str,
    extra: dict[str, object],
) -> RawOrder | None:
    match profile.lookup:
        case FetchOrder(param=param):
            params = {**profile.fetch_params, **extra, param: client_order_id}
            try:
                found: RawOrder = await ask("fetch_order", None, symbol, params)
            except OrderNotFound:
                return None
            return found
        case ScanOrders(recent=recent, client_id_param=by):
            only = {by: client_order_id} if by else {}  # the venue's filter, where it has one
            for method in ("fetch_open_orders", recent):
                for raw in await ask(method, symbol, None, None, {**extra, **only}):
                    if client_id(raw, profile.client_id_prefix) == client_order_id:
                        return dict(raw)
            return None


def deadline_header(
    calls: VenueCalls, profile: VenueProfile, request: OrderRequest
) -> dict[str, str]:
    """The create's deadline as a header, where the venue takes one there (the profile's
    `expiry.deadline_header`): the expiry after now; none for a conditional order the venue
    does not hold to it."""
    expiry = profile.expiry
    if expiry is None or expiry.deadline_header is None or not expires(profile, request):
        return {}
    window = calls.client.options.get(expiry.option) or expiry.default_ms
    return {expiry.deadline_header: str(calls.client.milliseconds() + int(window))}


def expires(profile: VenueProfile, request: OrderRequest) -> bool:
    """Whether the venue refuses `request`'s create once its expiry passed."""
    return profile.expiry is not None and (profile.expiry.conditional or not conditional(request))


def request_expiry_seconds(calls: VenueCalls, profile: VenueProfile) -> float | None:
    """How long after it was sent a request of the venue can still be executed, with the retry
    policy's margin: the profile's expiry option as the ccxt options set it (or its default);
    None when the venue's requests do not expire."""
    expiry = profile.expiry
    if expiry is None:
        return None
    return _expiry_ms(calls, expiry) / 1000 + calls.retry.expiry_margin_seconds


def _expiry_ms(calls: VenueCalls, expiry: RequestExpiry) -> float:
    value = calls.client.options.get(expiry.option)
    return float(value) if value else float(expiry.default_ms)


def stamped(calls: VenueCalls, profile: VenueProfile, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """ccxt's create_order `args` with a fresh deadline where the venue takes one in each
    create (the profile's `expiry.deadline_param`): the expiry after now, by ccxt's clock."""
    expiry = profile.expiry
    if expiry is None or expiry.deadline_param is None:
        return args
    *head, params = args
    deadline = calls.client.milliseconds() + int(_expiry_ms(calls, expiry))
    return (*head, {**params, expiry.deadline_param: calls.client.iso8601(deadline)})


class _LostCreate:
    """One create that got no answer, resolved as the module docstring says."""

    def __init__(
        self,
        calls: VenueCalls,
        profile: VenueProfile,
        request: OrderRequest,
        args: tuple[Any, ...],
        parse: Parse,
    ) -> None:
        self.calls = calls
        self.profile = profile
        self.request = request
        self.args = args
        self.parse = parse

    async def resolve(self, sent_at: float, cause: ExchangeError) -> OrderStatus:
        calls, cid = self.calls, self.request.client_order_id
        found = await self._lookup(cause)
        if found is not None:
            return found
        # Not found. The lost request may still be in flight: wait until the venue would refuse
        # it (its expiry after it was sent), then ask again before sending the copy.
        expiry = request_expiry_seconds(calls, self.profile)
        if expiry is None or not expires(self.profile, self.request):
            raise OutcomeUnknown(
                f"{calls.name} did not answer for order {cid} and its requests do not expire, so"
                " it is not sent again; reconcile it by client order id."
            ) from cause
        ready_at = sent_at + expiry
        if (wait := ready_at - calls.clock()) > 0:
            await calls.sleep(wait)
        found = await self._lookup(cause)
        if found is not None:
            return found
        log.warning("%s has no order %s after its expiry: sending it again", calls.name, cid)
        try:
            with request_headers(deadline_header(calls, self.profile, self.request)):
                raw = await calls.call("create_order", *stamped(calls, self.profile, self.args))
        except Fatal as error:  # a duplicate is an InvalidOrder, or a bare venue error (Kraken)
            if not self._duplicate(error):
                raise
            failure: ExchangeError = error
        except (Retryable, OutcomeUnknown) as error:
            # the copy got no answer either: it may yet execute, so it is never sent a third time
            log.warning("%s create %s sent again got no answer (%s): looking it up", calls.name,
                        cid, error)  # fmt: skip
            failure = error
        else:
            return self.parse(answered(raw, self.profile), self.request, conditional(self.request))
        found = await self._lookup(failure)
        if found is None:
            raise OutcomeUnknown(
                f"{calls.name} did not confirm order {cid} sent again ({failure}); reconcile it"
                " by client order id."
            ) from failure
        return found

    async def _lookup(self, cause: Exception) -> OrderStatus | None:
        """The order by client id; None only when the venue answered that it has none."""
        calls, request = self.calls, self.request
        cid = request.client_order_id
        delay = calls.retry.backoff_seconds
        for attempt in range(1, calls.retry.lookup_attempts + 1):
            try:
                return await find_by_client_id(
                    calls, self.profile, request.symbol, cid, self.parse, request
                )
            except Retryable as error:
                log.warning("%s lookup of %s failed (%s), try %d", calls.name, cid, error, attempt)
                if attempt < calls.retry.lookup_attempts:
                    await calls.sleep(delay)
                    delay *= 2
        raise OutcomeUnknown(
            f"{calls.name} did not answer for order {cid} and could not be asked whether it"
            f" exists ({cause}); reconcile it by client order id."
        ) from cause

    def _duplicate(self, error: Fatal) -> bool:
        """The venue refused a client order id it already has."""
        return isinstance(error.__cause__, ccxt_errors.DuplicateOrderId) or any(
            m in str(error) for m in self.profile.duplicate_messages
        )
