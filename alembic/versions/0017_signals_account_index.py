"""signals: an index on (account, id), for GET /signals?account= newest first

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0017'
down_revision: Union[str, None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index('ix_signals_account_id', 'signals', ['account', 'id'])


def downgrade() -> None:
    op.drop_index('ix_signals_account_id', table_name='signals')
