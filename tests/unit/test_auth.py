"""Who may send alerts: shared secret, HMAC signature and the sender's address."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_network

import pytest

from app.domain.auth import client_address, is_loopback, secret_matches, signature_matches

SECRET = "s3cret-Token"

# --- shared secret --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("presented", "matches"),
    [
        ([SECRET], True),
        (["wrong", SECRET], True),  # any candidate: the body's secret or ?token=
        ([SECRET, "wrong"], True),
        ([None, SECRET], True),  # None (not presented) is skipped
        ([None, None], False),
        ([], False),
        (["wrong"], False),
        ([SECRET[:-1]], False),  # a prefix
        ([SECRET + "x"], False),
        ([f" {SECRET}"], False),
        ([SECRET.lower()], False),
        ([""], False),
        (["sécret"], False),  # non-ASCII does not raise
    ],
)
def test_secret_matches_any_presented_candidate(presented: list[str | None], matches: bool) -> None:
    assert secret_matches(SECRET, presented) is matches


def test_secret_matches_non_ascii_secrets() -> None:
    assert secret_matches("pässwört-ø", ["pässwört-ø"])
    assert not secret_matches("pässwört-ø", ["passwort-o"])


def test_secret_matches_compares_every_candidate_even_after_a_match() -> None:
    # Stopping at the first match would tell, by timing, which candidate held the secret.
    seen: list[str | None] = []

    def candidates() -> Iterator[str | None]:
        for candidate in (SECRET, "wrong", None, "other"):
            seen.append(candidate)
            yield candidate

    assert secret_matches(SECRET, candidates())
    assert seen == [SECRET, "wrong", None, "other"]


# --- HMAC signature -------------------------------------------------------------------------------

# A published known answer: HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog").
KEY = "key"
BODY = b"The quick brown fox jumps over the lazy dog"
DIGEST = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (f"sha256={DIGEST}", True),
        (f"sha256={DIGEST.upper()}", True),  # hex in capitals
        (f"SHA256={DIGEST}", True),
        (f"  sha256={DIGEST}  ", True),
        (f"sha256= {DIGEST}", True),
        (f"sha1={DIGEST}", False),  # wrong scheme
        (f"sha512={DIGEST}", False),
        (DIGEST, False),  # no scheme
        ("sha256=", False),
        ("", False),
        ("sha256=zz-not-hex", False),  # garbage
        (f"sha256={DIGEST[:-1]}", False),  # truncated
        (f"sha256={DIGEST}00", False),
        (f"sha256={DIGEST[:-1]}9", False),  # one digit off
        (f"sha256=={DIGEST}", False),
    ],
)
def test_signature_matches_the_hex_hmac_sha256_of_the_body(header: str, matches: bool) -> None:
    assert signature_matches(KEY, BODY, header) is matches


def test_signature_of_another_body_or_key_does_not_match() -> None:
    assert not signature_matches(KEY, BODY + b".", f"sha256={DIGEST}")
    assert not signature_matches("other-key", BODY, f"sha256={DIGEST}")


def test_signature_of_an_empty_body() -> None:
    empty = "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"  # HMAC("key", b"")
    assert signature_matches(KEY, b"", f"sha256={empty}")


@pytest.mark.parametrize("digest", ["é", f"{DIGEST[:-1]}é"])
def test_a_non_ascii_signature_is_garbage_not_a_crash(digest: str) -> None:
    assert signature_matches(KEY, BODY, f"sha256={digest}") is False


# --- the sender's address -------------------------------------------------------------------------

PROXIES = (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))
PROXY = "10.0.0.2"
CLIENT = "198.51.100.9"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "sender"),
    [
        (CLIENT, None, CLIENT),
        (CLIENT, "203.0.113.5", CLIENT),  # X-Forwarded-For from an untrusted peer is ignored
        (PROXY, None, PROXY),
        (PROXY, "", PROXY),
        (PROXY, CLIENT, CLIENT),  # honoured from a trusted proxy
        (PROXY, f" {CLIENT} ", CLIENT),
        (PROXY, f"6.6.6.6, {CLIENT}", CLIENT),  # a prepended (spoofed) hop is never reached
        (PROXY, f"6.6.6.6,{CLIENT},10.0.0.7", CLIENT),  # two proxies: the first untrusted hop
        (PROXY, f"spoofed, {CLIENT}", CLIENT),  # garbage left of the first untrusted hop is moot
        (PROXY, "10.0.0.9, 10.1.1.1", PROXY),  # only proxies: the peer
        (PROXY, f"{CLIENT}, garbage", None),  # a garbled chain is trusted for nothing
        (PROXY, f"{CLIENT}, ", None),
        (PROXY, f"{CLIENT}:443", None),  # a port makes the hop garbled
        (None, CLIENT, None),
        ("testclient", CLIENT, "testclient"),  # not an address: returned as is, chain ignored
        ("fd00::1", "2001:db8::1", "2001:db8::1"),  # IPv6 proxy and client
        ("fd00::1", "2001:DB8:0:0::1", "2001:db8::1"),  # normalized
        ("fd00::1", f"{CLIENT}, fd00::2", CLIENT),  # mixed versions
        (PROXY, "2001:db8::1", "2001:db8::1"),
        ("2001:db8::2", CLIENT, "2001:db8::2"),  # an untrusted IPv6 peer
    ],
)
def test_client_address(peer: str | None, forwarded_for: str | None, sender: str | None) -> None:
    assert client_address(peer, forwarded_for, PROXIES) == sender


def test_client_address_trusts_no_forwarded_for_without_trusted_proxies() -> None:
    assert client_address(PROXY, CLIENT, ()) == PROXY


def test_an_ipv4_range_does_not_trust_an_ipv6_peer() -> None:
    everything_v4 = (ip_network("0.0.0.0/0"),)
    assert client_address("2001:db8::2", CLIENT, everything_v4) == "2001:db8::2"


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        (" 127.0.0.1 ", True),
        ("10.0.0.1", False),
        ("2001:db8::1", False),
        ("localhost", False),  # a name, not an address
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(address: str | None, loopback: bool) -> None:
    assert is_loopback(address) is loopback
