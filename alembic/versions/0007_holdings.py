"""holdings: what the open brackets hold per account, venue, symbol and side, kept up to date with
every bracket save (the risk gate read summed every open bracket per signal), filled from the
brackets open now

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 15:20:00.000000

"""
from decimal import Decimal
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from app.adapters.sql.tables import EXACT_MONEY


revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_FINAL = ('closed', 'failed')  # app.domain.brackets.bracket.FINAL


def upgrade() -> None:
    holdings = op.create_table(
        'holdings',
        sa.Column('account', sa.String(length=100), nullable=False),
        sa.Column('venue', sa.String(length=100), nullable=False),
        sa.Column('symbol', sa.String(length=60), nullable=False),
        sa.Column('side', sa.String(length=4), nullable=False),
        sa.Column('position', EXACT_MONEY, nullable=False),
        sa.Column('cost', EXACT_MONEY, nullable=False),
        sa.Column('brackets', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('account', 'venue', 'symbol', 'side'),
    )
    brackets = sa.table(
        'brackets',
        *(sa.column(name) for name in ('account', 'venue', 'symbol', 'side', 'state')),
        sa.column('position', EXACT_MONEY),
        sa.column('entry_price', EXACT_MONEY),
    )
    op.drop_index('ix_brackets_holdings', table_name='brackets')  # its query is gone
    sums: dict[tuple[str, str, str, str], list[Decimal]] = {}
    query = sa.select(brackets).where(brackets.c.state.notin_(_FINAL))
    for row in op.get_bind().execute(query):
        total = sums.setdefault((row.account, row.venue, row.symbol, row.side), [Decimal(0)] * 3)
        total[0] += row.position
        total[1] += row.position * row.entry_price if row.entry_price is not None else 0
        total[2] += 1
    if sums:
        op.bulk_insert(holdings, [
            {'account': a, 'venue': v, 'symbol': s, 'side': d, 'position': p, 'cost': c,
             'brackets': int(n)}
            for (a, v, s, d), (p, c, n) in sums.items()
        ])


def downgrade() -> None:
    op.drop_table('holdings')
    op.create_index(
        'ix_brackets_holdings', 'brackets',
        ['account', 'state', 'venue', 'symbol', 'side', 'position', 'entry_price'],
    )
