"""The rules of a connection, what of its keys may be shown, a test's sentence, the credential a
venue's answer blames, and the Fernet cipher that seals the keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.adapters.ccxt.key_errors import key_at_fault
from app.adapters.secrets import FernetCipher, new_key
from app.bootstrap.venue_modes import NATIVE_MODES, VENUE_MODES
from app.bootstrap.venues import NATIVE_VENUES
from app.domain.connections import (
    InvalidConnection,
    NewConnection,
    VenueKeys,
    checked,
    key_hint,
    outcome_of,
)
from app.ports.errors import SecretsUnreadable

KEYS = VenueKeys("an-api-key-1234", "an-api-secret-5678")


def new(venue: str = "binance", mode: str = "testnet", keys: VenueKeys = KEYS,
        name: str = "main", api_url: str | None = None) -> NewConnection:  # fmt: skip
    return NewConnection(name, venue, mode, keys, api_url)


@pytest.mark.parametrize(
    ("connection", "field", "said"),
    [
        (new(name="Main"), "name", "name must be letters, digits and _, starting with a letter"),
        (new(name="1st"), "name", "name must be letters"),
        (new(venue="gate"), "venue", "venue 'gate' is not one signalgate connects to: use one of"),
        (new(venue="paper"), "mode", "a paper connection trades in paper mode only, not 'testnet'"),
        (new(venue="pionex"), "mode", "a pionex connection trades in live mode only"),
        (new(mode="paper"), "mode", "a binance connection trades in testnet or live mode only"),
        (new(keys=VenueKeys("an-api-key-1234")), "api_secret",
         "a testnet connection needs api_key and api_secret: api_secret is missing"),
        (new(keys=VenueKeys(api_secret="an-api-secret")), "api_key", "api_key is missing"),
        (new(keys=VenueKeys("short", "an-api-secret")), "api_key",
         "api_key must be 8 to 512 printable characters without spaces"),
        (new(keys=VenueKeys("an api key", "an-api-secret")), "api_key", "without spaces"),
        (new(venue="paper", mode="paper"), "api_key",
         "a paper connection is simulated: it takes no keys and no api_url"),
        (new(venue="paper", mode="paper", keys=VenueKeys(), api_url="http://x"), "api_url",
         "it takes no keys and no api_url"),
        (new(api_url="ftp://host"), "api_url", "api_url must be an http:// or https:// URL"),
    ],
)  # fmt: skip
def test_a_broken_rule_names_its_field(connection: NewConnection, field: str, said: str) -> None:
    with pytest.raises(InvalidConnection) as refused:
        checked(connection, VENUE_MODES)
    assert refused.value.field == field
    assert said in str(refused.value)
    assert KEYS.api_secret not in str(refused.value)


@pytest.mark.parametrize(
    "connection",
    [
        new(),
        new(mode="live", api_url="https://proxy.example/binance"),
        new(venue="pionex", mode="live"),
        new(venue="okx", keys=VenueKeys("an-api-key-1234", "an-api-secret", "a-passphrase")),
        new(venue="paper", mode="paper", keys=VenueKeys()),
    ],
)
def test_a_connection_that_keeps_the_rules_passes(connection: NewConnection) -> None:
    assert checked(connection, VENUE_MODES) is connection


def test_connections_name_the_native_venues_and_only_proven_ccxt_ones() -> None:
    assert set(NATIVE_MODES) == set(NATIVE_VENUES)
    assert "gate" not in VENUE_MODES  # no road test proves it: VENUES with GATE_UNPROVEN only
    assert VENUE_MODES["binance"] == ("testnet", "live")


@pytest.mark.parametrize(
    ("api_key", "hint"),
    [("abcdefghijklmnopqrstuvwxyz", "…wxyz"), ("fake-api-key", "…key"), ("abcdefgh", "…gh"),
     ("abc", "…"), (None, None), ("", None)],
)  # fmt: skip
def test_the_hint_shows_four_characters_at_most_and_a_quarter_of_a_short_key(
    api_key: str | None, hint: str | None
) -> None:
    assert key_hint(api_key) == hint


def test_keys_never_show_in_their_repr_and_are_redacted_from_text() -> None:
    keys = VenueKeys("the-api-key-1", "the-secret-2", "the-password-3")
    assert "the-" not in repr(keys)
    said = "error sign! origin_string[1700000000000the-api-key-15000] the-secret-2 the-password-3"
    assert keys.redact(said) == (
        "error sign! origin_string[1700000000000<api_key>5000] <api_secret> <api_password>"
    )


def test_a_test_outcome_is_one_sentence_without_keys() -> None:
    keys = VenueKeys("the-api-key-1", "the-secret-2")
    assert outcome_of(["the API key is refused (bybit the-api-key-1)", "the clock is off"], [],
                      unreachable=False, keys=keys) == (
        "failed", "the API key is refused (bybit <api_key>) (and 1 more).")  # fmt: skip
    assert outcome_of([], ["no answer (timeout)"], unreachable=True, keys=keys) == (
        "failed", "the venue did not answer the check (no answer (timeout)): check api_url and"
        " this machine's network.")  # fmt: skip
    assert outcome_of([], ["the key may WITHDRAW"], unreachable=False, keys=keys) == (
        "ok", "the keys work; warning: the key may WITHDRAW.")  # fmt: skip


@pytest.mark.parametrize(
    ("venue", "message", "key"),
    [
        ("binance", 'binance {"code": -2015, "msg": "Invalid API-key, IP, or permissions."}',
         "api_key"),
        ("binanceusdm", 'binanceusdm {"code":-1022,"msg":"Signature for this request is not'
         ' valid."}', "api_secret"),
        ("okx", 'okx {"msg":"Your OK-ACCESS-PASSPHRASE is incorrect.","code":"50105"}',
         "api_password"),
        ("bybit", 'bybit {"retCode":10004,"retMsg":"error sign!"}', "api_secret"),
        ("kraken", 'kraken {"error":["EAPI:Invalid key"]}', "api_key"),
        ("bingx", 'bingx {"code":100413,"msg":"Incorrect apiKey"}', "api_key"),
        ("cryptocom", 'cryptocom {"code":40101,"message":"Authentication failure"}', None),
        ("okx", 'okx {"code":"50101","msg":"APIKey does not match current environment."}', None),
    ],
)  # fmt: skip
def test_the_venue_answer_names_the_credential_at_fault(
    venue: str, message: str, key: str | None
) -> None:
    assert key_at_fault(venue, message) == key


def test_the_cipher_seals_opens_and_moves_tokens_to_its_first_key() -> None:
    old, new_one = new_key(), new_key()
    token = FernetCipher([old]).seal(b"the-secret")
    assert b"the-secret" not in token.encode()

    switching = FernetCipher([new_one, old])
    moved = switching.reseal(token)

    assert FernetCipher([new_one]).open(moved) == b"the-secret"
    assert switching.open(token) == b"the-secret"  # the old token still opens meanwhile
    with pytest.raises(SecretsUnreadable):
        FernetCipher([old]).open(moved)
    with pytest.raises(SecretsUnreadable):
        FernetCipher([Fernet.generate_key().decode()]).reseal(token)
    assert old not in repr(switching)
