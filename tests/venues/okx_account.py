"""OKX v5's account endpoints for the fake (tests/venues/okx.py): the trading account's
balance ("Get balance": availEq is what orders and margin leave free), positions ("Get
positions", one-way `net`, contracts), the account configuration (posMode), leverage per
instrument and the position mode, and the instruments' shape ("Get instruments")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.venues import core
from tests.venues.core import D, Json, MarketSpec
from tests.venues.okx_shapes import Failed, ok, position_json

if TYPE_CHECKING:
    from decimal import Decimal

    from tests.venues.okx import OkxVenue


class OkxAccount:
    """The account endpoints, mixed into `OkxVenue` (its engine's balances and positions)."""

    def _balance(self: OkxVenue, query: dict[str, str], body: Any) -> Json:
        wanted = set(query["ccy"].split(",")) if query.get("ccy") else None
        now, details = str(core.now_ms()), []
        with self.lock:
            for asset, (free, locked) in sorted(self.balances.items()):
                if wanted is not None and asset not in wanted:
                    continue
                margin, upl = self.margin_used(asset), self._upl(asset)
                cash = free + locked
                avail = free - margin
                details.append({"ccy": asset, "cashBal": f"{cash}", "eq": f"{cash + upl}",
                                "availBal": f"{avail}", "availEq": f"{avail}",
                                "frozenBal": f"{locked + margin}", "ordFrozen": f"{locked}",
                                "imr": f"{margin}", "upl": f"{upl}", "isoEq": "0",
                                "disEq": f"{cash + upl}", "uTime": now})  # fmt: skip
        return ok([{"adjEq": "", "availEq": "", "details": details, "imr": "", "mmr": "",
                    "notionalUsd": "", "totalEq": "", "uTime": now}])  # fmt: skip

    def _upl(self: OkxVenue, quote: str) -> Decimal:
        upl = D(0)
        for symbol, held in self.positions.items():
            spec = self.markets[symbol]
            if spec.quote == quote and held.amount:
                upl += (self.last[symbol] - held.entry) * held.amount * spec.contract_size
        return upl

    def _positions(self: OkxVenue, query: dict[str, str], body: Any) -> Json:
        wanted = set(query["instId"].split(",")) if query.get("instId") else None
        if query.get("instType") not in (None, "SWAP"):
            return ok([])
        with self.lock:
            rows = [position_json(self, symbol, held) for symbol, held in self.positions.items()
                    if held.amount and (wanted is None or symbol in wanted)]  # fmt: skip
        return ok(rows)

    def _config(self: OkxVenue, query: dict[str, str], body: Any) -> Json:
        mode = "long_short_mode" if self.hedge_mode else "net_mode"
        return ok([{"uid": "44705892343619584", "mainUid": "44705892343619584", "acctLv": "2",
                    "posMode": mode, "autoLoan": False, "greeksType": "PA", "level": "Lv1",
                    "levelTmp": "", "ctIsoMode": "automatic", "mgnIsoMode": "automatic",
                    "roleType": "0", "traderInsts": [], "spotRoleType": "0",
                    "spotTraderInsts": [], "opAuth": "0", "kycLv": "2", "label": "signalgate",
                    "ip": "", "perm": "read_only,trade", "liquidationGear": "-1",
                    "enableSpotBorrow": False, "spotBorrowAutoRepay": False,
                    "type": "0"}])  # fmt: skip

    def _set_leverage(self: OkxVenue, query: dict[str, str], body: Any) -> Json:
        spec = self._spec(body.get("instId"))
        if body.get("mgnMode") not in ("cross", "isolated"):
            raise Failed("51000", "Parameter mgnMode error")
        try:
            lever = D(str(body.get("lever")))
        except ArithmeticError:
            raise Failed("51000", "Parameter lever error") from None
        if not spec.swap:
            raise Failed("51000", "Parameter instId error")
        if not 1 <= lever <= spec.max_leverage:
            raise Failed(
                "59102", "Leverage exceeds the maximum leverage. Please adjust the leverage."
            )
        with self.lock:
            self.leverage[spec.id] = int(lever)
        return ok([{"instId": spec.id, "lever": f"{lever}", "mgnMode": body["mgnMode"],
                    "posSide": body.get("posSide", "net")}])  # fmt: skip

    def _set_position_mode(self: OkxVenue, query: dict[str, str], body: Any) -> Json:
        mode = body.get("posMode")
        if mode not in ("net_mode", "long_short_mode"):
            raise Failed("51000", "Parameter posMode error")
        with self.lock:
            busy = any(p.amount for p in self.positions.values()) or any(
                o.status == core.OPEN and self.markets[o.symbol].swap for o in self.orders.values()
            )
            if busy:
                raise Failed("59000", "Settings failed. Close any open positions or orders"
                             " before modifying settings.")  # fmt: skip
            self.hedge_mode = mode == "long_short_mode"
        return ok([{"posMode": mode}])


def instrument(spec: MarketSpec) -> dict[str, str]:
    swap = spec.swap
    return {"instType": "SWAP" if swap else "SPOT", "instId": spec.id,
            "instFamily": f"{spec.base}-{spec.quote}" if swap else "",
            "uly": f"{spec.base}-{spec.quote}" if swap else "",
            "baseCcy": "" if swap else spec.base, "quoteCcy": "" if swap else spec.quote,
            "settleCcy": spec.quote if swap else "", "ctVal": f"{spec.contract_size}" if swap
            else "", "ctMult": "1" if swap else "", "ctValCcy": spec.base if swap else "",
            "ctType": "linear" if swap else "", "lever": f"{spec.max_leverage}" if swap else "10",
            "lotSz": f"{spec.step}", "minSz": f"{spec.min_amount}", "tickSz": f"{spec.tick}",
            "maxLmtSz": "100000000", "maxMktSz": "1000000" if not swap else "5000",
            "state": "live", "listTime": "1606468572000", "expTime": "", "alias": "",
            "category": "1", "optType": "", "stk": "", "instIdCode": "1"}  # fmt: skip
