"""linked signals: the unit (an arbitrage) a signal is a leg of, indexed to read a unit's legs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 17:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('signals') as batch:
        batch.add_column(sa.Column('unit_id', sa.String(length=40), nullable=True))
    op.create_index('ix_signals_unit_id', 'signals', ['unit_id'])


def downgrade() -> None:
    op.drop_index('ix_signals_unit_id', table_name='signals')
    with op.batch_alter_table('signals') as batch:
        batch.drop_column('unit_id')
