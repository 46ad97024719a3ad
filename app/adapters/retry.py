"""How a venue adapter retries: reads with a backoff, lookups after a lost create, and the margin
kept past a venue's request expiry before an order is sent again. Order creation itself is never
retried blindly (each adapter's lost-create protocol says when it may be sent again)."""

from __future__ import annotations

import msgspec


class RetryPolicy(msgspec.Struct, frozen=True):
    attempts: int = 3  # tries of one read, the first included
    backoff_seconds: float = 0.5  # before the second try, doubled after each
    lookup_attempts: int = 4  # tries of the by-client-id lookup after a create got no answer
    expiry_margin_seconds: float = 1.0  # added to the venue's request expiry before re-sending
