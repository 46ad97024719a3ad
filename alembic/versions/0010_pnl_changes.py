"""pnl_changes: every change of a bracket's realized P&L (a partial take-profit as it fills, not
only the close), so that MAX_DAILY_LOSS counts it on the day it happened, filled from the brackets
closed since yesterday; orders.revision, so that replacements of a stop-loss (trailing moves) do
not count toward MAX_ORDERS_PER_MINUTE

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:00:00.000000

"""
from datetime import UTC, datetime, timedelta
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from app.adapters.sql.tables import EXACT_MONEY


revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    changes = op.create_table(
        'pnl_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account', sa.String(length=100), nullable=False),
        sa.Column('bracket_id', sa.String(length=26), nullable=False),
        sa.Column('currency', sa.String(length=16), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('amount', EXACT_MONEY, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_pnl_changes_account_at', 'pnl_changes', ['account', 'at'])
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('revision', sa.Integer(), nullable=False, server_default='0'))
    # The brackets closed since yesterday: their realized P&L counted on the day they closed, as
    # before (a bracket open now records its realized P&L at its next save).
    brackets = sa.table(
        'brackets',
        sa.column('id'),
        sa.column('account'),
        sa.column('closed_at', sa.DateTime(timezone=True)),
        sa.column('realized_pnl', EXACT_MONEY),
        sa.column('data', sa.JSON()),
    )
    since = datetime.now(UTC) - timedelta(days=2)
    query = sa.select(brackets).where(brackets.c.closed_at >= since)
    rows = [
        {'account': row.account, 'bracket_id': row.id, 'at': row.closed_at,
         'currency': row.data['market']['quote'], 'amount': row.realized_pnl}
        for row in op.get_bind().execute(query)
        if row.realized_pnl
    ]
    if rows:
        op.bulk_insert(changes, rows)


def downgrade() -> None:
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('revision')
    op.drop_index('ix_pnl_changes_account_at', table_name='pnl_changes')
    op.drop_table('pnl_changes')
