"""execution: brackets, their orders, trading controls, and structured lineage steps

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # SQLModel columns render as sqlmodel.sql.sqltypes.AutoString


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# SQLite's NUMERIC goes through float: money is kept as the Decimal's text there (ExactMoney)
MONEY = sa.Numeric(38, 18).with_variant(sa.String(64), 'sqlite')


def upgrade() -> None:
    op.create_table('brackets',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('account', sa.String(length=100), nullable=False),
    sa.Column('venue', sa.String(length=100), nullable=False),
    sa.Column('symbol', sa.String(length=60), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('realized_pnl', MONEY, nullable=False),
    sa.Column('position', MONEY, nullable=False),
    sa.Column('entry_price', MONEY, nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_brackets_state', 'brackets', ['state'])
    op.create_index('ix_brackets_closed_at', 'brackets', ['closed_at'])
    op.create_index('ix_brackets_account_symbol_state', 'brackets', ['account', 'symbol', 'state'])
    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bracket_id', sa.String(length=26), nullable=False),
    sa.Column('account', sa.String(length=100), nullable=False),
    sa.Column('venue', sa.String(length=100), nullable=False),
    sa.Column('symbol', sa.String(length=60), nullable=False),
    sa.Column('leg', sa.String(length=8), nullable=False),
    sa.Column('client_order_id', sa.String(length=64), nullable=False),
    sa.Column('order_id', sa.String(length=100), nullable=True),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('amount', MONEY, nullable=False),
    sa.Column('filled', MONEY, nullable=False),
    sa.Column('average_price', MONEY, nullable=True),
    sa.Column('price', MONEY, nullable=True),
    sa.Column('trigger_price', MONEY, nullable=True),
    sa.Column('fee', MONEY, nullable=False),
    sa.Column('fee_currency', sa.String(length=16), nullable=True),
    sa.Column('reduce_only', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('venue', 'client_order_id', name='uq_orders_venue_client_order_id')
    )
    op.create_index('ix_orders_bracket_id', 'orders', ['bracket_id'])
    op.create_index('ix_orders_symbol', 'orders', ['symbol'])
    op.create_index('ix_orders_state', 'orders', ['state'])
    op.create_index('ix_orders_account_created_at', 'orders', ['account', 'created_at'])
    op.create_table('controls',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('value', sa.String(length=60), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('signal_events') as batch:
        batch.add_column(sa.Column('data', sa.JSON(), nullable=True))
        batch.alter_column('detail', type_=sa.String(length=2000),
                           existing_type=sa.String(length=500), existing_nullable=True)


def downgrade() -> None:
    op.execute("UPDATE signal_events SET detail = substr(detail, 1, 500)")
    with op.batch_alter_table('signal_events') as batch:
        batch.alter_column('detail', type_=sa.String(length=500),
                           existing_type=sa.String(length=2000), existing_nullable=True)
        batch.drop_column('data')
    op.drop_table('controls')
    op.drop_index('ix_orders_account_created_at', table_name='orders')
    op.drop_index('ix_orders_state', table_name='orders')
    op.drop_index('ix_orders_symbol', table_name='orders')
    op.drop_index('ix_orders_bracket_id', table_name='orders')
    op.drop_table('orders')
    op.drop_index('ix_brackets_account_symbol_state', table_name='brackets')
    op.drop_index('ix_brackets_closed_at', table_name='brackets')
    op.drop_index('ix_brackets_state', table_name='brackets')
    op.drop_table('brackets')
