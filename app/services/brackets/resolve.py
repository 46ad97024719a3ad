"""`signalgate orders resolve CLIENT_ORDER_ID --found|--gone`: an operator settles an order in
doubt (see `doubt`). Both ways ask the venue first, under the account-and-symbol lock (so the
monitor does not drive the bracket meanwhile): `--found` takes what the venue reports, `--gone`
is refused while the venue knows the order. Either way the bracket's lineage says who settled
it, and the monitor drives the bracket on from there."""

from __future__ import annotations

from collections.abc import Mapping

from app.domain.brackets.bracket import Bracket, LegOrder
from app.ports.errors import ExchangeError
from app.ports.exchange import Exchange
from app.ports.execution import Busy, ExecutionStore, KeyLocks, lock_key
from app.services.brackets.doubt import in_doubt
from app.services.brackets.driver import BracketDriver

BY = "the operator (signalgate orders resolve)"


class ResolveError(Exception):
    """One sentence saying why the order was not settled and what to do."""


def _doubt_of(store: ExecutionStore, client_order_id: str) -> tuple[Bracket, LegOrder]:
    for bracket, order in in_doubt(store.open_brackets()):
        if order.client_order_id == client_order_id:
            return bracket, order
    raise ResolveError(
        f"no open bracket has an order in doubt with client order id {client_order_id};"
        " GET /orders?state=unknown lists the orders whose outcome is unknown."
    )


async def resolve_order(
    store: ExecutionStore,
    venues: Mapping[str, Exchange],
    locks: KeyLocks,
    driver: BracketDriver,
    client_order_id: str,
    *,
    found: bool,
) -> str:
    """Settle the order in doubt `client_order_id`; a sentence saying how it was settled.

    Raises:
        ResolveError: no such order in doubt, its venue is not configured or did not answer,
            or the venue contradicts the operator.
    """
    bracket, _ = _doubt_of(store, client_order_id)
    try:
        async with locks.hold(lock_key(bracket.account, bracket.symbol)) as fence:
            with store.batch(fence):
                return await _settle(store, venues, driver, client_order_id, found=found)
    except Busy as error:
        raise ResolveError(
            f"{bracket.account} {bracket.symbol} stayed busy ({error}); try again in a moment."
        ) from error


async def _settle(
    store: ExecutionStore,
    venues: Mapping[str, Exchange],
    driver: BracketDriver,
    client_order_id: str,
    *,
    found: bool,
) -> str:
    """`resolve_order` under the account-and-symbol lock."""
    bracket, order = _doubt_of(store, client_order_id)  # as it is now, under the lock
    venue = venues.get(bracket.venue)
    if venue is None:
        raise ResolveError(
            f"venue {bracket.venue} of bracket {bracket.id} is not configured here;"
            " run the command with the settings of the deployment that trades on it."
        )
    try:
        status = await venue.fetch_order_by_client_id(bracket.symbol, client_order_id)
    except ExchangeError as error:
        raise ResolveError(
            f"{venue.name} did not answer the lookup of {client_order_id} ({error});"
            " try again when it does."
        ) from error
    if found and status is None:
        raise ResolveError(
            f"{venue.name} does not know order {client_order_id}; if it never reached the"
            " venue, settle it with --gone."
        )
    if not found and status is not None:
        raise ResolveError(
            f"{venue.name} has order {client_order_id} ({status.state}, {status.filled}"
            " filled); settle it with --found."
        )
    settled = driver.settle_doubt(bracket, order, status, BY)
    now = settled.order(client_order_id)
    return (
        f"order {client_order_id} of bracket {settled.id} is now {now.state}"
        f" ({now.filled} filled); the monitor drives the bracket on from here"
    )
