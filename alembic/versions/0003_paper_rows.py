"""paper rows: a paper venue's orders, balances and fills in their own rows, saved incrementally

The JSON state of each venue (0002) moves into the new rows on upgrade, and back on downgrade
(the whole history: every order and fill).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000

"""
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # SQLModel columns render as sqlmodel.sql.sqltypes.AutoString


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# SQLite's NUMERIC goes through float: money is kept as the Decimal's text there (app.adapters.sql.tables.ExactMoney)
MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), 'sqlite')
FILL_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
UTC_TIME = sa.DateTime(timezone=True)

ORDER_MONEY = ('amount', 'price', 'trigger_price', 'filled', 'cost', 'fee', 'reserved')
ORDER_TEXT = ('order_id', 'client_order_id', 'symbol', 'side', 'kind', 'state')
FILL_MONEY = ('price', 'amount', 'fee')
FILL_TEXT = ('order_id', 'client_order_id', 'symbol', 'side', 'fee_currency')

venues = sa.table(
    'paper_venues',
    sa.column('name', sa.String),
    sa.column('state', sa.JSON),
    sa.column('markets', sa.JSON),
    sa.column('next_order_number', sa.Integer),
)
orders = sa.table(
    'paper_orders',
    sa.column('venue', sa.String),
    *(sa.column(name, sa.String) for name in ORDER_TEXT),
    *(sa.column(name, MONEY) for name in ORDER_MONEY),
    sa.column('created_at', UTC_TIME),
    sa.column('updated_at', UTC_TIME),
)
balances = sa.table(
    'paper_balances',
    sa.column('venue', sa.String),
    sa.column('asset', sa.String),
    sa.column('free', MONEY),
    sa.column('reserved', MONEY),
)
fills = sa.table(
    'paper_fills',
    sa.column('id', FILL_ID),
    sa.column('venue', sa.String),
    *(sa.column(name, sa.String) for name in FILL_TEXT),
    *(sa.column(name, MONEY) for name in FILL_MONEY),
    sa.column('at', UTC_TIME),
    sa.column('maker', sa.Boolean),
)


def upgrade() -> None:
    op.create_table('paper_orders',
    sa.Column('venue', sa.String(length=100), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('client_order_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=60), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('amount', MONEY, nullable=False),
    sa.Column('price', MONEY, nullable=True),
    sa.Column('trigger_price', MONEY, nullable=True),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('filled', MONEY, nullable=False),
    sa.Column('cost', MONEY, nullable=False),
    sa.Column('fee', MONEY, nullable=False),
    sa.Column('reserved', MONEY, nullable=False),
    sa.Column('created_at', UTC_TIME, nullable=False),
    sa.Column('updated_at', UTC_TIME, nullable=False),
    sa.PrimaryKeyConstraint('venue', 'order_id'),
    sa.UniqueConstraint('venue', 'client_order_id', name='uq_paper_orders_venue_client_order_id')
    )
    op.create_index('ix_paper_orders_venue_state', 'paper_orders', ['venue', 'state'])
    op.create_index('ix_paper_orders_venue_updated_at', 'paper_orders', ['venue', 'updated_at'])
    op.create_table('paper_balances',
    sa.Column('venue', sa.String(length=100), nullable=False),
    sa.Column('asset', sa.String(length=40), nullable=False),
    sa.Column('free', MONEY, nullable=False),
    sa.Column('reserved', MONEY, nullable=False),
    sa.PrimaryKeyConstraint('venue', 'asset')
    )
    op.create_table('paper_fills',
    sa.Column('id', FILL_ID, nullable=False),
    sa.Column('venue', sa.String(length=100), nullable=False),
    sa.Column('order_id', sa.String(length=40), nullable=False),
    sa.Column('client_order_id', sa.String(length=64), nullable=False),
    sa.Column('symbol', sa.String(length=60), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('price', MONEY, nullable=False),
    sa.Column('amount', MONEY, nullable=False),
    sa.Column('fee', MONEY, nullable=False),
    sa.Column('fee_currency', sa.String(length=40), nullable=False),
    sa.Column('at', UTC_TIME, nullable=False),
    sa.Column('maker', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_paper_fills_venue_at', 'paper_fills', ['venue', 'at'])
    with op.batch_alter_table('paper_venues') as batch:
        batch.add_column(sa.Column('markets', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('next_order_number', sa.Integer(), nullable=True))

    conn = op.get_bind()
    money = _money_writer(conn)
    for name, state in conn.execute(sa.select(venues.c.name, venues.c.state)).all():
        _insert(conn, balances, [
            {'venue': name, 'asset': b['asset'], 'free': money(b.get('free', '0')),
             'reserved': money(b.get('reserved', '0'))}
            for b in state['balances']
        ])
        _insert(conn, orders, [_order_row(name, o, money) for o in state['orders']])
        _insert(conn, fills, [_fill_row(name, f, money) for f in state['fills']])
        conn.execute(
            venues.update().where(venues.c.name == name)
            .values(markets=state['markets'], next_order_number=state['next_order_number'])
        )

    with op.batch_alter_table('paper_venues') as batch:
        batch.drop_column('state')
        batch.alter_column('markets', existing_type=sa.JSON(), nullable=False)
        batch.alter_column('next_order_number', existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('paper_venues') as batch:
        batch.add_column(sa.Column('state', sa.JSON(), nullable=True))

    conn = op.get_bind()
    query = sa.select(venues.c.name, venues.c.markets, venues.c.next_order_number)
    for name, markets, next_order_number in conn.execute(query).all():
        state = {
            'name': name,
            'markets': markets,
            'balances': [
                {'asset': row.asset, 'free': str(row.free), 'reserved': str(row.reserved)}
                for row in conn.execute(sa.select(balances).where(balances.c.venue == name))
            ],
            'orders': [
                _order_json(row)
                for row in conn.execute(sa.select(orders).where(orders.c.venue == name))
            ],
            'fills': [
                _fill_json(row)
                for row in conn.execute(
                    sa.select(fills).where(fills.c.venue == name).order_by(fills.c.id)
                )
            ],
            'next_order_number': next_order_number,
        }
        state['orders'].sort(key=lambda order: int(order['order_id']))
        conn.execute(venues.update().where(venues.c.name == name).values(state=state))

    with op.batch_alter_table('paper_venues') as batch:
        batch.drop_column('markets')
        batch.drop_column('next_order_number')
        batch.alter_column('state', existing_type=sa.JSON(), nullable=False)
    op.drop_index('ix_paper_fills_venue_at', table_name='paper_fills')
    op.drop_table('paper_fills')
    op.drop_table('paper_balances')
    op.drop_index('ix_paper_orders_venue_updated_at', table_name='paper_orders')
    op.drop_index('ix_paper_orders_venue_state', table_name='paper_orders')
    op.drop_table('paper_orders')


def _money_writer(conn: Any) -> Any:
    """Decimal text as the column takes it: the text itself on SQLite, a Decimal elsewhere."""
    return str if conn.dialect.name == 'sqlite' else Decimal


def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(table.insert(), rows)


def _time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _order_row(venue: str, order: dict[str, Any], money: Any) -> dict[str, Any]:
    row: dict[str, Any] = {'venue': venue}
    row.update({name: order[name] for name in ORDER_TEXT})
    for name in ORDER_MONEY:
        value = order.get(name, None if name in ('price', 'trigger_price') else '0')
        row[name] = None if value is None else money(value)
    row['created_at'] = _time(order['created_at'])
    row['updated_at'] = _time(order['updated_at'])
    return row


def _fill_row(venue: str, fill: dict[str, Any], money: Any) -> dict[str, Any]:
    row: dict[str, Any] = {'venue': venue}
    row.update({name: fill[name] for name in FILL_TEXT})
    row.update({name: money(fill[name]) for name in FILL_MONEY})
    row['at'] = _time(fill['at'])
    row['maker'] = bool(fill.get('maker', False))
    return row


def _iso(value: datetime) -> str:
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()


def _order_json(row: Any) -> dict[str, Any]:
    order: dict[str, Any] = {name: getattr(row, name) for name in ORDER_TEXT}
    for name in ORDER_MONEY:
        value = getattr(row, name)
        if value is not None:
            order[name] = str(value)
    order['created_at'] = _iso(row.created_at)
    order['updated_at'] = _iso(row.updated_at)
    return order


def _fill_json(row: Any) -> dict[str, Any]:
    fill: dict[str, Any] = {name: getattr(row, name) for name in FILL_TEXT}
    fill.update({name: str(getattr(row, name)) for name in FILL_MONEY})
    fill['at'] = _iso(row.at)
    fill['maker'] = bool(row.maker)
    return fill
