"""brackets.version and brackets.fence: a bracket save is a compare-and-swap on the version its
holder read, and a holder with an older fencing token than the last save's cannot save (a lock
holder whose lease lapsed); the brackets kept so far start at version 1

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: Union[str, None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column(
        'brackets', sa.Column('version', sa.Integer(), nullable=False, server_default='1')
    )
    op.add_column('brackets', sa.Column('fence', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('brackets') as batch:
        batch.drop_column('fence')
        batch.drop_column('version')
