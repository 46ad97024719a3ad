"""connections: venue accounts with their keys sealed (Fernet under SECRETS_KEY) and their last
test, whose balance has rows of its own

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 10:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from app.adapters.sql.tables import EXACT_MONEY


revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'connections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=31), nullable=False),
        sa.Column('venue', sa.String(length=40), nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('api_url', sa.String(length=300), nullable=True),
        sa.Column('keys_sealed', sa.Text(), nullable=True),
        sa.Column('key_fields', sa.String(length=60), nullable=False),
        sa.Column('api_key_hint', sa.String(length=8), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('test_status', sa.String(length=8), nullable=True),
        sa.Column('test_reason', sa.String(length=1000), nullable=True),
        sa.Column('tested_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('test_log', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
        sqlite_autoincrement=True,  # an id is never given again after a removal
    )
    op.create_table(
        'connection_balances',
        sa.Column('connection_id', sa.Integer(), nullable=False),
        sa.Column('asset', sa.String(length=40), nullable=False),
        sa.Column('total', EXACT_MONEY, nullable=False),
        sa.ForeignKeyConstraint(['connection_id'], ['connections.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('connection_id', 'asset'),
    )


def downgrade() -> None:
    op.drop_table('connection_balances')
    op.drop_table('connections')
