"""the symbol's last stop-loss fill, read for every signal, found with one index lookup per state
(the index on account, leg and time read every stop-loss order of the last day)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:25:00.000000

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index(
        'ix_orders_last_stop', 'orders', ['account', 'symbol', 'leg', 'state', 'updated_at']
    )
    op.drop_index('ix_orders_account_leg_updated_at', table_name='orders')


def downgrade() -> None:
    op.create_index('ix_orders_account_leg_updated_at', 'orders', ['account', 'leg', 'updated_at'])
    op.drop_index('ix_orders_last_stop', table_name='orders')
