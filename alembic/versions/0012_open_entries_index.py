"""the account's open entry orders, read for every entry signal: resting entries count toward the
account-wide limits (found by account, leg and state, not by scanning every open bracket)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 04:10:00.000000

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index('ix_orders_open_entries', 'orders', ['account', 'leg', 'state'])


def downgrade() -> None:
    op.drop_index('ix_orders_open_entries', table_name='orders')
