"""Which credential a venue refused, read off its answer: ccxt raises one AuthenticationError for
a wrong API key, a wrong secret (a bad signature) and a wrong passphrase alike, and its message
keeps the venue's own code and text. Each row was read from the venue's API documentation and
ccxt 4.5's error table (`exceptions` in `ccxt/async_support/<id>.py`); venues whose answers do
not tell the keys apart (Crypto.com's 40101 "Authentication failure") have no row."""

from __future__ import annotations

API_KEY, API_SECRET, API_PASSWORD = "api_key", "api_secret", "api_password"

_BINANCE = (
    ('"code":-2014', API_KEY),  # API-key format invalid.
    ('"code":-2015', API_KEY),  # Invalid API-key, IP, or permissions for action.
    ('"code":-1022', API_SECRET),  # Signature for this request is not valid.
)

# exchange id -> (a fragment of the venue's answer, the credential it refuses)
KEY_AT_FAULT: dict[str, tuple[tuple[str, str], ...]] = {
    "binance": _BINANCE,
    "binanceusdm": _BINANCE,
    "bybit": (
        ('"retCode":10003', API_KEY),  # API key is invalid.
        ('"retCode":10004', API_SECRET),  # error sign!
    ),
    "okx": (
        ('"code":"50111"', API_KEY),  # Invalid OK-ACCESS-KEY.
        ('"code":"50105"', API_PASSWORD),  # Your OK-ACCESS-PASSPHRASE is incorrect.
        ('"code":"50113"', API_SECRET),  # Invalid Sign
    ),
    "bingx": (
        ('"code":100413', API_KEY),  # Incorrect apiKey
        ('"code":100001', API_SECRET),  # Signature verification failed
    ),
    "kraken": (
        ("EAPI:Invalid key", API_KEY),
        ("EAPI:Invalid signature", API_SECRET),  # ccxt leaves it a plain ExchangeError
    ),
}


def key_at_fault(exchange_id: str, message: str) -> str | None:
    """The credential the venue's answer in `message` (ccxt's error text) refuses, or None."""
    compact = message.replace(" ", "")
    for fragment, key in KEY_AT_FAULT.get(exchange_id, ()):
        if fragment.replace(" ", "") in compact:
            return key
    return None
