"""Connections on SQLite and PostgreSQL: keys sealed at rest (the raw rows hold no key), tests
against the local fake Binance through unmodified ccxt (outcome, balance and log kept; a wrong key
or secret named in one sentence), `rekey` under a new SECRETS_KEY, the environment's venues
read-only, and the time limit of a test."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from decimal import Decimal

import msgspec
import pytest
import sqlalchemy
from cryptography.fernet import Fernet

from app.adapters.sql.db import make_engine
from app.bootstrap.connections import build_connections
from app.config.settings import Settings, load_settings
from app.domain.connections import (
    ConnectionConflict,
    InvalidConnection,
    NewConnection,
    UnknownConnection,
    VenueKeys,
)
from app.services.connections import ConnectionChange, Connections, KeysLocked
from tests.fake_binance import API_KEY, API_SECRET, RunningFake

pytestmark = pytest.mark.anyio

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
PASSWORD = "a-passphrase-123"


@pytest.fixture
def engine(database: str) -> Iterator[sqlalchemy.Engine]:
    engine = make_engine(database)
    yield engine
    engine.dispose()


Open = Callable[..., Connections]


@pytest.fixture
def open_service(engine: sqlalchemy.Engine) -> Open:
    """The connections service over the test's database, with these SECRETS_KEY keys."""

    def service(*keys: str, timeout: float = 20.0, **env: str) -> Connections:
        settings = load_settings(env) if env else Settings()
        settings = Settings(
            database_url="unused", venues=settings.venues, trading_mode=settings.trading_mode,
            secrets_keys=keys, connection_test_timeout_seconds=timeout,
        )  # fmt: skip
        return build_connections(settings, engine)

    return service


def binance(url: str, name: str = "binance_main", **keys: str) -> NewConnection:
    given = {"api_key": API_KEY, "api_secret": API_SECRET} | keys
    return NewConnection(name, "binance", "testnet", VenueKeys(**given), api_url=url)


def raw_rows(engine: sqlalchemy.Engine) -> str:
    """Every row of every table, as text."""
    with engine.connect() as conn:
        tables = sqlalchemy.inspect(conn).get_table_names()
        rows = [conn.execute(sqlalchemy.text(f'SELECT * FROM "{table}"')) for table in tables]
        return "\n".join(repr(row) for found in rows for row in found)


async def test_keys_are_sealed_at_rest_and_never_shown(
    open_service: Open, engine: sqlalchemy.Engine, fake: RunningFake
) -> None:
    service = open_service(NEW_KEY)
    added = service.add(binance(fake.url, api_password=PASSWORD))
    tested = await service.test("binance_main")

    assert added.key_fields == ["api_key", "api_secret", "api_password"]
    assert added.api_key_hint == "…key"  # 3 of the 12 characters of "fake-api-key"
    stored = raw_rows(engine)
    assert "binance_main" in stored  # the rows were read
    for secret in (API_KEY, API_SECRET, PASSWORD):
        assert secret not in stored
        for shown in (added, tested, *service.list_all()):
            assert secret not in msgspec.json.encode(shown).decode()
    assert service.open_keys(added) == VenueKeys(API_KEY, API_SECRET, PASSWORD)
    assert API_SECRET not in repr(service.open_keys(added))


async def test_a_test_keeps_its_outcome_balance_and_log(
    open_service: Open, fake: RunningFake
) -> None:
    service = open_service(NEW_KEY)
    service.add(binance(fake.url))

    tested = await service.test("binance_main")

    assert tested.last_test is not None
    assert (tested.last_test.status, tested.last_test.reason) == (
        "ok", "the keys work: markets, balance and permissions read."
    )  # fmt: skip
    assert tested.last_test.balance == {"BTC": Decimal("0.5"), "ETH": 2, "USDT": 10000}
    assert [line.split(": ", 1)[1] for line in tested.last_test.log] == [
        "markets loaded (3)", "balance read (3 assets held)", "keys, clock and position mode asked"
    ]  # fmt: skip
    assert service.get("1") == tested  # kept: read back by id


@pytest.mark.parametrize(
    ("wrong", "said"),
    [
        ({"api_key": "not-the-api-key"}, "the API key is refused ("),
        ({"api_secret": "not-the-api-secret"}, "the API secret is refused: the venue finds the"
         " signature wrong ("),
    ],
)  # fmt: skip
async def test_wrong_keys_are_named_and_the_failure_kept(
    open_service: Open, fake: RunningFake, wrong: dict[str, str], said: str
) -> None:
    service = open_service(NEW_KEY)
    service.add(binance(fake.url, **wrong))

    tested = await service.test("binance_main")

    result = service.get("binance_main").last_test
    assert result == tested.last_test
    assert result is not None
    assert result.status == "failed"
    assert result.reason.startswith(said)
    field = next(iter(wrong)).replace("api_", "API ")
    assert result.reason.endswith(
        f"check the {field}, and that it allows this machine's IP address."
        if field == "API key"
        else f"check the {field}."
    )
    assert result.reason.count(". ") == 0  # one sentence
    assert next(iter(wrong.values())) not in result.reason + "".join(result.log)
    assert result.balance == {}


async def test_rekey_keeps_every_connection_working(
    open_service: Open, engine: sqlalchemy.Engine, fake: RunningFake
) -> None:
    before = open_service(OLD_KEY)
    before.add(binance(fake.url))
    before.add(binance(fake.url, "binance_other", api_password=PASSWORD))
    before.add(NewConnection("paper_one", "paper", "paper", VenueKeys()))
    sealed_before = raw_rows(engine)

    switching = open_service(NEW_KEY, OLD_KEY)  # SECRETS_KEY=new,old: both open
    assert (await switching.test("binance_main")).last_test.status == "ok"  # type: ignore[union-attr]
    assert switching.rekey() == 2

    assert raw_rows(engine) != sealed_before
    after = open_service(NEW_KEY)
    for name in ("binance_main", "binance_other"):
        assert (await after.test(name)).last_test.status == "ok"  # type: ignore[union-attr]
    assert after.open_keys(after.get("binance_other")).api_password == PASSWORD
    with pytest.raises(KeysLocked, match=r"^no key of SECRETS_KEY opens the keys of binance_main:"):
        await open_service(OLD_KEY).test("binance_main")
    with pytest.raises(KeysLocked, match=r"binance_main, binance_other \(0 others sealed again\)"):
        open_service(Fernet.generate_key().decode()).rekey()


async def test_keys_need_secrets_key_and_say_how_to_make_one(
    open_service: Open, fake: RunningFake
) -> None:
    service = open_service()

    with pytest.raises(KeysLocked) as refused:
        service.add(binance(fake.url))

    assert str(refused.value) == (
        "SECRETS_KEY is not set, so keys cannot be stored encrypted: set it to a key made by"
        ' `signalgate connections genkey` (or python -c "from cryptography.fernet import'
        ' Fernet; print(Fernet.generate_key().decode())").'
    )
    assert service.list_all()[-1].name == "paper"  # nothing stored
    assert service.add(NewConnection("paper_two", "paper", "paper", VenueKeys())).id == 1


async def test_venues_of_the_environment_are_listed_read_only(
    open_service: Open, fake: RunningFake
) -> None:
    env = {"TRADING_MODE": "testnet", "VENUES": "paper,binance", "BINANCE_MODE": "testnet",
           "BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET,
           "BINANCE_API_URL": fake.url}  # fmt: skip
    service = open_service(NEW_KEY, **env)

    paper, listed = service.list_all()
    assert (listed.id, listed.name, listed.source, listed.key_fields) == (
        None, "binance", "environment", ["api_key", "api_secret"]
    )  # fmt: skip
    assert paper.venue == paper.mode == "paper"
    tested = await service.test("binance")
    assert tested.last_test is not None
    assert tested.last_test.status == "ok"
    assert service.get("binance").last_test is None  # the environment's keep no test
    with pytest.raises(ConnectionConflict) as refused:
        service.remove("binance")
    assert str(refused.value) == (
        "binance is configured by environment (VENUES): it cannot be removed here; change its"
        " BINANCE_... settings instead."
    )
    with pytest.raises(ConnectionConflict, match=r"^a connection named binance exists \(in VEN"):
        service.add(binance(fake.url, "binance"))


async def test_changes_rename_disable_and_replace_keys(
    open_service: Open, fake: RunningFake, engine: sqlalchemy.Engine
) -> None:
    service = open_service(NEW_KEY)
    service.add(binance(fake.url, api_secret="not-the-api-secret"))
    assert (await service.test("binance_main")).last_test.status == "failed"  # type: ignore[union-attr]

    change = ConnectionChange(name="main", enabled=False, keys=VenueKeys(api_secret=API_SECRET))
    changed = service.change("1", change)

    assert (changed.name, changed.enabled, changed.last_test) == ("main", False, None)
    assert service.open_keys(changed) == VenueKeys(API_KEY, API_SECRET)  # the key kept
    assert (await service.test("main")).last_test.status == "ok"  # type: ignore[union-attr]
    service.add(binance(fake.url, "other"))
    with pytest.raises(ConnectionConflict, match=r"^a connection named other exists: pick"):
        service.change("main", ConnectionChange(name="other"))
    with pytest.raises(InvalidConnection, match=r"^api_secret must be 8 to 512 printable"):
        service.change("main", ConnectionChange(keys=VenueKeys(api_secret="short")))
    assert service.remove("main").name == "main"
    with pytest.raises(UnknownConnection, match=r"^no connection is named or numbered 'main'$"):
        service.get("main")
    with engine.connect() as conn:  # its balance went with it
        held = conn.execute(sqlalchemy.text("SELECT connection_id FROM connection_balances"))
        assert held.all() == []


async def test_a_test_is_bounded_in_time(
    open_service: Open, fake: RunningFake, caplog: pytest.LogCaptureFixture
) -> None:
    service = open_service(NEW_KEY, timeout=0.3)
    service.add(binance(fake.url))
    fake.venue.fail_next("GET", "/api/v3/account", "slow")

    with caplog.at_level(logging.INFO):
        tested = await service.test("binance_main")

    assert tested.last_test is not None
    assert tested.last_test.reason == (
        "the venue did not finish the check within 0.3 s: check api_url and this machine's"
        " network, or raise CONNECTION_TEST_TIMEOUT_SECONDS."
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "connection binance_main tested: the venue did not finish" in logged
    assert API_KEY not in logged
    assert API_SECRET not in logged
