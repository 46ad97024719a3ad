"""The project's own error types: what a store or a venue did, whatever library spoke to it."""

from __future__ import annotations


class Unavailable(Exception):
    """A store could not be reached; the operation may succeed later."""


class StaleBracket(Exception):
    """A bracket save was refused: another holder of its account-and-symbol lock saved the
    bracket since this one read it, or holds a newer fencing token (this one's lease lapsed).
    The stale holder sends nothing more for the bracket; the newer one drives it."""


class LeaseLapsed(StaleBracket):
    """The running task's lease of the bracket's lock may have lapsed (not renewed in time): a
    newer holder may drive the bracket, so this one sends nothing for it."""


class ExchangeError(Exception):
    """Something a venue said or did not say. Adapters translate their library's errors into
    one of the subclasses, with the venue's message, so nothing above them imports ccxt."""


class Retryable(ExchangeError):
    """Network trouble, rate limit, venue busy: a read may be retried with a backoff."""


class OutcomeUnknown(ExchangeError):
    """An order was sent and no answer came back: it may or may not exist. Never re-send it
    blindly; look it up by its client order id."""


class Fatal(ExchangeError):
    """The venue refused: retrying the same request will not help."""


class InsufficientFunds(Fatal):
    pass


class InvalidOrder(Fatal):
    """Below the minimums, bad precision, unknown symbol, reduce-only with no position..."""


class AuthenticationFailed(Fatal):
    """The venue refused the credentials. `key`: the one it refused where its answer tells
    (`api_key`, `api_secret` for a bad signature, `api_password`), else None."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class OrderNotFound(Fatal):
    pass


class SecretsUnreadable(Exception):
    """Stored keys cannot be decrypted with any key of SECRETS_KEY (or it is not set)."""
