"""risk-gate indexes: holdings, today's realized P&L and the last stop-loss per symbol, read for
every signal (the holdings one covers its query: the bracket rows, with their JSON, stay unread)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 11:50:00.000000

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index('ix_brackets_account_closed_at', 'brackets', ['account', 'closed_at'])
    op.create_index(
        'ix_brackets_holdings', 'brackets',
        ['account', 'state', 'venue', 'symbol', 'side', 'position', 'entry_price'],
    )
    op.create_index('ix_orders_account_leg_updated_at', 'orders', ['account', 'leg', 'updated_at'])


def downgrade() -> None:
    op.drop_index('ix_orders_account_leg_updated_at', table_name='orders')
    op.drop_index('ix_brackets_holdings', table_name='brackets')
    op.drop_index('ix_brackets_account_closed_at', table_name='brackets')
