"""Each ccxt venue's quirks, as data: the rows `CcxtExchange` and `CcxtMarketData` read.

Every fact here was read from ccxt's own source (`ccxt/async_support/<id>.py`, ccxt 4.5): the
create_order param ccxt turns into the venue's client order id, whether ccxt's `fetch_order` can
find an order by that id, the venue's duplicate-id errors, the option holding how long a signed
request stays executable, and the `has` flags behind the capabilities. Maximum client order id
lengths that ccxt does not check itself come from the venue's API documentation (noted per row).

Left out on purpose: `bitfinex`. ccxt passes its client order id as Bitfinex's `cid`, an
integer (`safe_integer_2(params, 'cid', 'clientOrderId')`), so it cannot carry signalgate's
deterministic text ids, and an order could not be found again after a lost answer.
"""

from __future__ import annotations

import enum
from urllib.parse import urlsplit

import msgspec

from app.ports.exchange import Capabilities


class ClientIdLookup(enum.StrEnum):
    """How an order is found by its client order id through ccxt."""

    FETCH_ORDER = "fetch_order"  # fetch_order(None, symbol, {lookup param: id})
    SCAN = "scan"  # open orders, then recent orders, filtered by `clientOrderId`


class VenueProfile(msgspec.Struct, frozen=True):
    """One venue's quirks, as data."""

    client_order_id_param: str  # the create_order param carrying our client order id
    lookup: ClientIdLookup
    lookup_client_id_param: str | None  # FETCH_ORDER: the fetch_order param to find it by
    recent_orders_method: str | None  # SCAN: the ccxt method listing recent (closed) orders
    duplicate_messages: tuple[str, ...]  # how the venue refuses a re-used client order id
    # the ccxt option holding how long a sent request stays executable (ms), and its value when
    # the options do not set it; None: the venue has no such expiry, so a lost create is never
    # re-sent automatically (nothing proves the lost request cannot still execute)
    expiry_option: str | None
    expiry_ms: int | None
    api_paths: dict[str, str]  # `urls['api']` keys -> paths under a base URL override
    options: dict[str, object]  # ccxt options this project needs
    capabilities: Capabilities
    swaps: bool = False  # trades perpetual swaps: positions, leverage, reduce-only
    client_id_prefix: str = ""  # what ccxt prepends to our client order id on the venue
    # with a base URL override ccxt cannot tell which API (spot, linear...) answered, so it
    # would skip that API's error table; this one is merged into the generic table instead
    override_exceptions: str | None = None


def _spot(max_length: int, *, native_oco: bool = False, attached: bool = False) -> Capabilities:
    return Capabilities(
        native_oco=native_oco,
        attached_tp_sl=attached,
        stop_market=True,
        reduce_only=False,
        client_order_id_max_length=max_length,
        spot_locks_resting_sells=True,
    )


def _mixed(max_length: int, *, attached: bool) -> Capabilities:
    """A venue with spot and swap markets in one ccxt class: reduce-only for its swaps, spot's
    locked sells for its spot markets."""
    return Capabilities(
        native_oco=False,
        attached_tp_sl=attached,
        stop_market=True,
        reduce_only=True,
        client_order_id_max_length=max_length,
        spot_locks_resting_sells=True,
    )


_BINANCE_OPTIONS: dict[str, object] = {
    "fetchMargins": False,  # sapi margin pairs: not needed
    "fetchCurrencies": False,  # sapi capital config: private, slow, not needed
    "adjustForTimeDifference": False,
    "warnOnFetchOpenOrdersWithoutSymbol": False,
}

VENUES: dict[str, VenueProfile] = {
    "binance": VenueProfile(
        client_order_id_param="newClientOrderId",
        lookup=ClientIdLookup.FETCH_ORDER,
        lookup_client_id_param="origClientOrderId",
        recent_orders_method=None,
        duplicate_messages=("Duplicate order sent",),
        expiry_option="recvWindow",
        expiry_ms=5000,
        api_paths={
            "public": "/api/v3",
            "private": "/api/v3",
            "v1": "/api/v1",
            "sapi": "/sapi/v1",
            "sapiV2": "/sapi/v2",
            "sapiV3": "/sapi/v3",
            "sapiV4": "/sapi/v4",
        },
        options={
            **_BINANCE_OPTIONS,
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "recvWindow": 5000,
        },
        capabilities=_spot(36, native_oco=True),  # 36: Binance's newClientOrderId pattern
    ),
    "binanceusdm": VenueProfile(
        client_order_id_param="newClientOrderId",
        lookup=ClientIdLookup.FETCH_ORDER,
        lookup_client_id_param="origClientOrderId",
        recent_orders_method=None,
        duplicate_messages=("ClientOrderId is duplicated",),  # -4116
        expiry_option="recvWindow",
        expiry_ms=5000,
        api_paths={
            "fapiPublic": "/fapi/v1",
            "fapiPublicV2": "/fapi/v2",
            "fapiPublicV3": "/fapi/v3",
            "fapiPrivate": "/fapi/v1",
            "fapiPrivateV2": "/fapi/v2",
            "fapiPrivateV3": "/fapi/v3",
            "fapiData": "/futures/data",
            "public": "/api/v3",
            "private": "/api/v3",
            "sapi": "/sapi/v1",
        },
        options={
            **_BINANCE_OPTIONS,
            "defaultType": "swap",
            "fetchMarkets": {"types": ["linear"]},
            "recvWindow": 5000,
        },
        capabilities=Capabilities(
            native_oco=False,  # futures have no OCO list; ccxt has none for binanceusdm
            attached_tp_sl=False,  # has['createOrderWithTakeProfitAndStopLoss'] is False
            stop_market=True,
            reduce_only=True,
            client_order_id_max_length=36,
            spot_locks_resting_sells=False,  # margin, not coins: reduce-only legs lock nothing
        ),
        swaps=True,
        override_exceptions="linear",
    ),
    "bybit": VenueProfile(
        client_order_id_param="clientOrderId",  # -> orderLinkId
        lookup=ClientIdLookup.SCAN,  # ccxt's fetch_order takes an order id only
        lookup_client_id_param=None,
        recent_orders_method="fetch_closed_orders",
        duplicate_messages=("OrderLinkedID is duplicate", "Duplicate clientOrderId"),
        expiry_option="recvWindow",  # sent as X-BAPI-RECV-WINDOW
        expiry_ms=5000,
        api_paths={},
        options={},
        capabilities=_mixed(36, attached=True),  # orderLinkId: up to 36 (Bybit v5 docs)
        swaps=True,
    ),
    "okx": VenueProfile(
        client_order_id_param="clientOrderId",  # -> clOrdId
        lookup=ClientIdLookup.FETCH_ORDER,
        lookup_client_id_param="clientOrderId",
        recent_orders_method=None,
        duplicate_messages=("51016",),  # "Duplicated client order ID", in the body ccxt keeps
        expiry_option=None,  # ccxt sends no request expiry (expTime) for orders
        expiry_ms=None,
        api_paths={},
        options={},
        capabilities=_mixed(32, attached=True),  # clOrdId: 1-32 alphanumerics (OKX docs)
        swaps=True,
    ),
    "bitget": VenueProfile(
        client_order_id_param="clientOrderId",  # -> clientOid
        lookup=ClientIdLookup.FETCH_ORDER,
        lookup_client_id_param="clientOrderId",
        recent_orders_method=None,
        duplicate_messages=(),  # ccxt maps no duplicate-id error for bitget
        expiry_option=None,
        expiry_ms=None,
        api_paths={},
        options={},
        capabilities=_mixed(32, attached=True),  # clientOid: up to 32 (Bitget docs)
        swaps=True,
    ),
    "gate": VenueProfile(
        client_order_id_param="clientOrderId",  # -> text, "t-" prepended by ccxt
        lookup=ClientIdLookup.FETCH_ORDER,  # fetch_order turns it into the "t-..." order id
        lookup_client_id_param="clientOrderId",
        recent_orders_method=None,
        duplicate_messages=(),
        expiry_option=None,
        expiry_ms=None,
        api_paths={},
        options={},
        capabilities=_mixed(28, attached=False),  # ccxt refuses a text over 28 characters
        swaps=True,
        client_id_prefix="t-",
    ),
    "bingx": VenueProfile(
        client_order_id_param="clientOrderId",  # -> clientOrderID (spot) / clientOrderId (swap)
        lookup=ClientIdLookup.SCAN,
        lookup_client_id_param=None,
        recent_orders_method="fetch_closed_orders",
        duplicate_messages=(),  # 101481 and 109201 arrive as ccxt's DuplicateOrderId
        expiry_option="recvWindow",
        expiry_ms=5000,
        api_paths={},
        options={},
        capabilities=_mixed(40, attached=True),  # clientOrderID: 1-40 (BingX docs)
        swaps=True,
    ),
    "kucoin": VenueProfile(
        client_order_id_param="clientOrderId",  # -> clientOid
        lookup=ClientIdLookup.FETCH_ORDER,
        lookup_client_id_param="clientOrderId",
        recent_orders_method=None,
        duplicate_messages=("126033", "126044"),
        expiry_option=None,
        expiry_ms=None,
        api_paths={},
        options={},
        capabilities=_spot(40, attached=False),  # spot; swaps are ccxt's kucoinfutures
    ),
    "kraken": VenueProfile(
        client_order_id_param="clientOrderId",  # -> cl_ord_id
        lookup=ClientIdLookup.SCAN,  # ccxt's fetch_order finds by txid or integer userref
        lookup_client_id_param=None,
        recent_orders_method="fetch_closed_orders",
        duplicate_messages=(),
        expiry_option=None,  # nonce based, no expiry
        expiry_ms=None,
        api_paths={},
        options={},
        capabilities=_spot(18),  # cl_ord_id: a UUID or free text up to 18 (Kraken docs)
    ),
    "coinbase": VenueProfile(
        client_order_id_param="client_order_id",  # ccxt drops `clientOrderId`, not this
        lookup=ClientIdLookup.SCAN,  # ccxt's fetch_order takes an order id only
        lookup_client_id_param=None,
        recent_orders_method="fetch_closed_orders",
        duplicate_messages=(),
        expiry_option=None,
        expiry_ms=None,
        api_paths={},
        options={},
        capabilities=_spot(36),
    ),
    "cryptocom": VenueProfile(
        client_order_id_param="clientOrderId",  # -> client_oid
        lookup=ClientIdLookup.SCAN,  # ccxt's fetch_order takes an order id only
        lookup_client_id_param=None,
        recent_orders_method="fetch_orders",  # fetch_closed_orders is emulated over it
        duplicate_messages=(),
        expiry_option=None,
        expiry_ms=None,
        api_paths={},
        options={},
        capabilities=_spot(36),  # client_oid: up to 36 (Crypto.com docs)
    ),
}


def overridden_urls(api: object, base_url: str, profile: VenueProfile) -> object:
    """ccxt's `urls['api']` pointed at `base_url`: the profile's paths when it lists them, else
    every URL keeps its path and gets the override's scheme and host (a proxy or regional
    endpoint of the same API)."""
    root = base_url.rstrip("/")
    if profile.api_paths:
        return {key: root + path for key, path in profile.api_paths.items()}

    def rebased(value: object) -> object:
        if isinstance(value, dict):
            return {key: rebased(inner) for key, inner in value.items()}
        if isinstance(value, str) and "://" in value:
            split = urlsplit(value)
            rest = value[len(f"{split.scheme}://{split.netloc}") :]
            return root + rest
        return value

    return rebased(api)
