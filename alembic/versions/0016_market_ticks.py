"""market_ticks: the ticks the feed produced, kept under MARKET_DATA_RECORD=db

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 14:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from app.adapters.sql.tables import EXACT_MONEY, FILL_ID


revision: str = '0016'
down_revision: Union[str, None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'market_ticks',
        sa.Column('id', FILL_ID, nullable=False),
        sa.Column('symbol', sa.String(length=60), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('price', EXACT_MONEY, nullable=False),
        sa.Column('volume', EXACT_MONEY, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_market_ticks_symbol_at', 'market_ticks', ['symbol', 'at'])
    op.create_index('ix_market_ticks_at', 'market_ticks', ['at'])


def downgrade() -> None:
    op.drop_index('ix_market_ticks_at', table_name='market_ticks')
    op.drop_index('ix_market_ticks_symbol_at', table_name='market_ticks')
    op.drop_table('market_ticks')
