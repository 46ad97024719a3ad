"""The soak's alerts: a seeded mix of what TradingView users send on a few symbols.

Alert `n` is a pure function of (run, seed, n), so a duplicate repeats an earlier alert exactly,
and 600,000 alerts cost no memory. Spellings of the tickers vary as TradingView's do; the
paper venue trades spot, so a sell entry sells coins the account holds (its balances name them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from dataclasses import dataclass

# the coins traded, the first `--symbols` of them (the synthetic feed starts the first three at
# their usual prices, the others at 100); entries give their size in USDT
COINS = ("BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "LINK", "AVAX", "DOT", "TRX", "BNB")
_SPELLINGS = ("{}USDT", "{}/USDT", "{}-USDT", "{}_USDT")


def symbols(count: int) -> list[str]:
    return [f"{coin}/USDT" for coin in COINS[:count]]


def balances(count: int) -> str:
    """What the paper account starts with: USDT for the buys, coins for the sell entries."""
    return ",".join(["USDT=1000000000", *(f"{coin}=1000000" for coin in COINS[:count])])


# share of each kind of alert (the rest are market buys with a take-profit and a stop-loss)
MIX = (
    ("sell", 0.15),  # a sell entry: closes the symbol's longs first (ENTRY_POLICY=add)
    ("close", 0.15),
    ("reverse", 0.07),
    ("duplicate", 0.04),  # an alert sent twice (TradingView retries, a double-fired alert)
    ("low-confidence", 0.03),  # filtered below the threshold
)


@dataclass(frozen=True)
class Alert:
    kind: str
    body: bytes
    headers: dict[str, str]


def _kind(rng: random.Random) -> str:
    roll = rng.random()
    for kind, share in MIX:
        if roll < share:
            return kind
        roll -= share
    return "buy"


def alert(run: str, number: int, secret: str, coins: int = 3, seed: int = 11) -> Alert:
    """Alert `number` of `run`: its body, signed in the body (TradingView's way) or, one in
    five, with an X-Signature header (senders that can set headers)."""
    rng = random.Random(f"{seed}-{number}")
    kind = _kind(rng)
    if kind == "duplicate" and number == 0:
        kind = "buy"  # nothing to repeat yet
    if kind == "duplicate":
        first = alert(run, max(0, number - rng.randint(1, 50)), secret, coins, seed)
        return Alert("duplicate", first.body, first.headers)
    ticker = rng.choice(_SPELLINGS).format(rng.choice(COINS[:coins]))
    body: dict[str, object] = {"symbol": ticker, "strategy": "soak", "id": f"{run}-{number}"}
    match kind:
        case "close" | "reverse":
            body["action"] = kind
        case _:
            body |= {
                "action": "sell" if kind == "sell" else "buy",
                "qty": str(rng.choice((20, 25, 40, 50))),
                "qty_mode": "quote",
                # the synthetic feed moves 0.1% a second (about ten times BTC's pace): stops
                # nearer than 1% were crossed now and then between the fill and the stop
                "take_profit": {"percent": rng.choice(("1", "1.5", "2", "3"))},
                "stop_loss": {"percent": rng.choice(("1", "1.5", "2"))},
            }
            if kind == "low-confidence":
                body["confidence"] = 0.3
    signed = rng.random() < 0.2
    if not signed:
        body["secret"] = secret
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "text/plain"}
    if signed:
        digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        headers["X-Signature"] = f"sha256={digest}"
    return Alert(kind, raw, headers)
