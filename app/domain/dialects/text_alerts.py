"""A text alert: OctoBot when its first field is ``KEY=VALUE``, else PineConnector comma text."""

from __future__ import annotations

from collections.abc import Callable

from app.domain.dialects.fields import Fields, TextPairs
from app.domain.dialects.octobot import octobot_pairs, octobot_signal
from app.domain.dialects.pineconnector import pineconnector_pairs, pineconnector_signal
from app.domain.dialects.results import AlertError, ParsedAlert, UnparseableAlert, redact
from app.domain.dialects.values import MAX_ITEMS, check_placeholder
from app.domain.signals import Signal

_MAX_TEXT_BODY = 8192  # bytes

# dialect -> its name in messages, how to split its text, how to read its pairs as a Signal
_READERS: dict[
    str, tuple[str, Callable[[str], TextPairs], Callable[[Fields, str | None], Signal]]
] = {
    "octobot": ("OctoBot", octobot_pairs, octobot_signal),
    "pineconnector": ("PineConnector", pineconnector_pairs, pineconnector_signal),
}


def parse_text(body: bytes, route: str | None) -> ParsedAlert:
    if len(body) > _MAX_TEXT_BODY:
        raise UnparseableAlert(
            f"The alert is not JSON and longer than a text alert may be ({_MAX_TEXT_BODY} bytes); "
            "send a JSON object."
        )
    try:
        text = body.decode()
    except UnicodeDecodeError:
        text = "\x00"
    if not text.replace("\n", " ").replace("\r", " ").replace("\t", " ").isprintable():
        raise UnparseableAlert("The alert is neither JSON nor readable text; send JSON.")
    head = text.split("\n", 1)[0].split(";", 1)[0].split(",", 1)[0]
    if "=" in head:
        dialect = "octobot"
    elif "," in text:
        dialect = "pineconnector"
    else:
        raise UnparseableAlert(
            "The alert is not JSON, OctoBot KEY=VALUE text or PineConnector comma text; "
            "send one of those."
        )
    name, split, read_signal = _READERS[dialect]
    pairs, sanitized, secret = split(text)
    try:
        if len(pairs) > MAX_ITEMS:
            raise UnparseableAlert(f"The {name} alert has more than {MAX_ITEMS} fields.")
        for key, value in pairs.items():
            if "{{" in value:
                check_placeholder(value, key)
        signal = read_signal(Fields(pairs), route)
    except AlertError as error:
        raise redact(error, secret) from None
    return ParsedAlert(signal=signal, dialect=dialect, secret=secret, sanitized=sanitized)
