"""accounts: their own notification channels, the URLs sealed (notify_sealed) and what is
shown of them (notify)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-09 10:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0018'
down_revision: Union[str, None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


# plain ALTER TABLE, not a batch: on SQLite a batch copies `accounts` into a new table and drops
# the old one, whose implicit DELETE would take every subscription with it (ON DELETE CASCADE);
# SQLite drops a column in place since 3.35
def upgrade() -> None:
    op.add_column('accounts', sa.Column('notify_sealed', sa.Text(), nullable=True))
    op.add_column('accounts', sa.Column('notify', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('accounts', 'notify')
    op.drop_column('accounts', 'notify_sealed')
