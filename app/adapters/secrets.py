"""The `Cipher` of stored keys: Fernet (AES-128-CBC with HMAC-SHA256, from the `cryptography`
package) under the keys of SECRETS_KEY. A MultiFernet opens a token sealed under any of them and
seals under the first, so `SECRETS_KEY=new,old` reads both while `connections rekey` moves every
token to the new key."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.ports.errors import SecretsUnreadable


def new_key() -> str:
    """A fresh Fernet key (32 random bytes, URL-safe base64)."""
    return Fernet.generate_key().decode()


class FernetCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a cipher needs at least one key")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def __repr__(self) -> str:  # never a key
        return "FernetCipher(...)"

    def seal(self, plain: bytes) -> str:
        return self._fernet.encrypt(plain).decode()

    def open(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise SecretsUnreadable("no key of SECRETS_KEY opens them") from None

    def reseal(self, token: str) -> str:
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretsUnreadable("no key of SECRETS_KEY opens them") from None
