"""`SECRETS_KEY`: the Fernet keys that seal stored connection keys, newest first."""

from __future__ import annotations

import base64
import binascii

from app.domain.connections import GENERATE_KEY as GENERATE


def secrets_keys(raw: str) -> tuple[str, ...]:
    """Fernet keys separated by commas, the one to seal with first (`new,old` during a rekey).

    Raises:
        ValueError: a key that is not 32 bytes of URL-safe base64; the key is not shown.
    """
    keys = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not keys:
        raise ValueError(f"it is empty; unset it or make a key with {GENERATE}")
    for key in keys:
        try:
            decoded = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError):
            decoded = b""
        if len(decoded) != 32 or len(key) != 44:
            raise ValueError(
                "each key must be a Fernet key (44 characters of URL-safe base64), newest first"
                f" and separated by commas; make one with {GENERATE}"
            )
    return keys
