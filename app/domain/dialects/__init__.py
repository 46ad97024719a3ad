"""Alert bodies in every supported dialect -> one Signal, or an error that says what to fix.

A body starting with ``{`` is a JSON alert: native, tradingview, traderspost or 3commas, told apart
by its keys (``json_alerts``). Other text is OctoBot ``KEY=VALUE`` or PineConnector comma text
(``text_alerts``). Each dialect's module says how its fields map onto a Signal; what they share
is in ``values`` (numbers, times, text), ``orders`` (sides, order types, quantities) and ``exits``
(take-profits, stop-losses). In every dialect an explicit venue beats a ticker prefix, and numbers
come out in one spelling (65000.0 and 6.5e4 -> 65000), so that equal alerts make equal signals.
"""

from __future__ import annotations

import codecs

from app.domain.dialects.json_alerts import parse_json
from app.domain.dialects.results import (
    SECRET_FIELDS,
    AlertError,
    InvalidAlert,
    ParsedAlert,
    UnparseableAlert,
)
from app.domain.dialects.text_alerts import parse_text
from app.domain.dialects.values import read_text

__all__ = [
    "DIALECTS",
    "SECRET_FIELDS",
    "AlertError",
    "InvalidAlert",
    "ParsedAlert",
    "UnparseableAlert",
    "parse_alert",
]

DIALECTS = ("native", "tradingview", "traderspost", "3commas", "octobot", "pineconnector")


def parse_alert(body: bytes, *, strategy: str | None = None) -> ParsedAlert:
    """Read an alert body in any supported dialect.

    Args:
        body: the raw request body.
        strategy: the strategy named in the URL; it wins over one named in the body.

    Returns:
        The signal, the dialect, the secret for the caller to verify, and the payload with every
        secret-bearing field removed.

    Raises:
        UnparseableAlert: the body is no dialect at all.
        InvalidAlert: a dialect was recognized but a field is wrong; ``field`` names it.
    """
    text = body.removeprefix(codecs.BOM_UTF8).strip()
    if not text:
        raise UnparseableAlert("The alert is empty; send a JSON object or a text alert.")
    route = None if strategy is None else read_text(strategy, "strategy")
    if text[:1] == b"{":
        return parse_json(text, route)
    if text[:1] == b"[":
        raise UnparseableAlert("The alert is a JSON array; send one JSON object per alert.")
    return parse_text(text, route)
