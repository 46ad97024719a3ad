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
    pass


class OrderNotFound(Fatal):
    pass
