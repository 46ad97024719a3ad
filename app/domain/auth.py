"""Who may send alerts: shared secret, HMAC signature and the sender's address. Pure code."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def secret_matches(expected: str, presented: Iterable[str | None]) -> bool:
    """True when any presented secret equals the expected one (constant-time comparison)."""
    want = expected.encode()
    matched = False
    for candidate in presented:
        if candidate is not None and hmac.compare_digest(want, candidate.encode()):
            matched = True
    return matched


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """Check `X-Signature: sha256=<hex HMAC-SHA256 of the body>`."""
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    # bytes, not str: compare_digest refuses non-ASCII str, and a header may carry anything
    return hmac.compare_digest(expected, digest.strip().lower().encode("utf-8", "replace"))


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[IPNetwork]
) -> str | None:
    """The sender's address: the peer, or, when the peer is a trusted proxy, the nearest
    untrusted address in X-Forwarded-For (walked from the right, so a sender cannot forge it)."""
    if peer is None or not forwarded_for or not trusted_proxies:
        return peer
    address = _address(peer)
    if address is None or not forwarded_for or not _in(address, trusted_proxies):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        hop_address = _address(hop)
        if hop_address is None:
            return None  # a garbled chain: trust none of it
        if not _in(hop_address, trusted_proxies):
            return str(hop_address)
    return peer


def _in(address: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in nets)


def is_loopback(address: str | None) -> bool:
    parsed = _address(address) if address else None
    return parsed is not None and parsed.is_loopback
