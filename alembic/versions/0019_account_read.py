"""The risk gate's account read no longer grows with the day: pnl_days, each account's realized
P&L of a day (UTC) per currency, added to with every pnl_changes row, so that MAX_DAILY_LOSS
reads a row per currency instead of summing the day's changes (filled from pnl_changes); orders
indexed by state, account and symbol (was: state), so that the orders in doubt of a symbol are
found among the few in doubt, not among all of the symbol's

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 01:30:00.000000

"""
from datetime import UTC
from decimal import Decimal
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from app.adapters.sql.tables import EXACT_MONEY


revision: str = '0019'
down_revision: Union[str, None] = '0018'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    days = op.create_table(
        'pnl_days',
        sa.Column('account', sa.String(length=100), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('currency', sa.String(length=16), nullable=False),
        sa.Column('amount', EXACT_MONEY, nullable=False),
        sa.PrimaryKeyConstraint('account', 'day', 'currency'),
    )
    op.drop_index('ix_orders_state', table_name='orders')
    op.create_index('ix_orders_state_account_symbol', 'orders', ['state', 'account', 'symbol'])
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':  # summed exactly by the server
        op.execute(
            "INSERT INTO pnl_days (account, day, currency, amount)"
            " SELECT account, CAST(at AT TIME ZONE 'UTC' AS DATE), currency, SUM(amount)"
            " FROM pnl_changes GROUP BY 1, 2, 3"
        )
        return
    # SQLite keeps money as text, which its SUM would add as floats: summed here in Decimal
    changes = sa.table(
        'pnl_changes',
        sa.column('account'),
        sa.column('currency'),
        sa.column('at', sa.DateTime(timezone=True)),
        sa.column('amount', EXACT_MONEY),
    )
    sums: dict[tuple[str, object, str], Decimal] = {}
    for row in bind.execute(sa.select(changes)):
        at = row.at.astimezone(UTC) if row.at.tzinfo else row.at
        key = (row.account, at.date(), row.currency)
        sums[key] = sums.get(key, Decimal(0)) + row.amount
    if sums:
        op.bulk_insert(days, [{'account': a, 'day': d, 'currency': c, 'amount': amount}
                              for (a, d, c), amount in sums.items()])


def downgrade() -> None:
    op.drop_table('pnl_days')
    op.drop_index('ix_orders_state_account_symbol', table_name='orders')
    op.create_index('ix_orders_state', 'orders', ['state'])
