"""accounts (their venues, own limits and sizing) and subscriptions (strategy -> account); an
account's trading state is a `controls` row of its own

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 10:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0015'
down_revision: Union[str, None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'accounts',
        sa.Column('name', sa.String(length=31), nullable=False),
        sa.Column('connections', sa.JSON(), nullable=False),
        sa.Column('limits', sa.JSON(), nullable=False),
        sa.Column('sizing', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('strategy', sa.String(length=100), nullable=False),
        sa.Column('account', sa.String(length=31), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account'], ['accounts.name'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('strategy', 'account', name='uq_subscriptions'),
    )
    op.create_index('ix_subscriptions_strategy', 'subscriptions', ['strategy'])


def downgrade() -> None:
    op.drop_index('ix_subscriptions_strategy', table_name='subscriptions')
    op.drop_table('subscriptions')
    op.drop_table('accounts')
    op.execute("DELETE FROM controls WHERE name LIKE 'trading_state:%'")
