"""What reading an alert yields: a ParsedAlert, or an AlertError that says what to fix."""

from __future__ import annotations

import msgspec

from app.domain.signals import Signal

SECRET_FIELDS = frozenset({"secret", "passphrase", "token", "api_key", "apikey", "password"})


class AlertError(ValueError):
    """An alert we cannot act on; ``field`` names the JSON path or text key at fault, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnparseableAlert(AlertError):
    """The body could not be read as any dialect (HTTP 400)."""


class InvalidAlert(AlertError):
    """The dialect was recognized but a field is wrong (HTTP 422)."""


class ParsedAlert(msgspec.Struct, frozen=True):
    """A parsed alert: its signal, its dialect, the secret it carried and a loggable copy.

    Log or store ``signal`` and ``sanitized``, never the whole struct encoded: it holds the secret.
    """

    signal: Signal
    dialect: str
    secret: str | None
    sanitized: dict[str, object] | str

    def __repr__(self) -> str:  # so that logging a ParsedAlert never prints the secret
        shown = None if self.secret is None else "***"
        return (
            f"ParsedAlert(signal={self.signal!r}, dialect={self.dialect!r}, secret={shown!r}, "
            f"sanitized={self.sanitized!r})"
        )


def invalid(field: str, problem: str) -> InvalidAlert:
    return InvalidAlert(f"{field} {problem}.", field=field)


def missing(field: str, why: str = "add it to the alert message") -> InvalidAlert:
    return InvalidAlert(f"{field} is missing; {why}.", field=field)


def redact(error: AlertError, secret: str | None) -> AlertError:
    """The error with the alert's secret masked, should a bad field have echoed it."""
    if secret and secret in error.message:
        return type(error)(error.message.replace(secret, "***"), field=error.field)
    return error
