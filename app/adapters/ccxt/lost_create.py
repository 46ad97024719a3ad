"""ccxt's side of the lost-create protocol (`app.adapters.lost_create`): a create sent once,
looked up by client order id when it gets no answer (reads retried with a backoff; ccxt's own
retries stay off: they would retry POSTs too), its expiry as each venue's profile says (Binance
refuses a request older than its `recvWindow`, Kraken one past the `deadline` each create
carries, OKX one past its `expTime` header), and sent again with the same client order id only
after that.

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
from app.adapters.lost_create import LostCreate
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
        return await _lost(calls, profile, request, args, parse).resolve(
            _expires_at(calls, profile, request, signed_at(calls, sent_at)), error
        )
    return parse(answered(raw, profile), request, conditional(request))


def _lost(
    calls: VenueCalls,
    profile: VenueProfile,
    request: OrderRequest,
    args: tuple[Any, ...],
    parse: Parse,
) -> LostCreate:
    """The shared protocol (`app.adapters.lost_create`) over this create."""

    async def find() -> OrderStatus | None:
        return await find_by_client_id(calls, profile, request.symbol, request.client_order_id,
                                       parse, request)  # fmt: skip

    async def send_again() -> OrderStatus:
        with request_headers(deadline_header(calls, profile, request)):
            raw = await calls.call("create_order", *stamped(calls, profile, args))
        return parse(answered(raw, profile), request, conditional(request))

    def duplicate(error: ExchangeError) -> bool:
        """The venue refused a client order id it already has: a duplicate is an InvalidOrder,
        or a bare venue error (Kraken)."""
        return isinstance(error, Fatal) and (
            isinstance(error.__cause__, ccxt_errors.DuplicateOrderId)
            or any(m in str(error) for m in profile.duplicate_messages)
        )

    return LostCreate(calls.name, request.client_order_id, find, send_again, duplicate,
                      calls.retry, calls.clock, calls.sleep)  # fmt: skip


def _expires_at(
    calls: VenueCalls, profile: VenueProfile, request: OrderRequest, signed: float
) -> float | None:
    """When a create signed at `signed` can no longer execute; None when it never stops."""
    expiry = request_expiry_seconds(calls, profile)
    if expiry is None or not expires(profile, request):
        return None
    return signed + expiry


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
