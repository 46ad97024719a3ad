"""reconciliation: each venue and symbol as the monitor's reconciliation last compared it with the
venue, the baselines (what the user holds outside signalgate) and each venue's last run

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:00:00.000000

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from app.adapters.sql.tables import EXACT_MONEY


revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'reconciliation',
        sa.Column('venue', sa.String(length=100), nullable=False),
        sa.Column('symbol', sa.String(length=60), nullable=False),
        sa.Column('key', sa.String(length=60), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('venue_amount', EXACT_MONEY, nullable=False),
        sa.Column('book', EXACT_MONEY, nullable=False),
        sa.Column('baseline', EXACT_MONEY, nullable=False),
        sa.Column('brackets', EXACT_MONEY, nullable=False),
        sa.Column('drift', EXACT_MONEY, nullable=False),
        sa.Column('policy', sa.String(length=16), nullable=False),
        sa.Column('hold', sa.Boolean(), nullable=False),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('drift_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('incidents', sa.Integer(), nullable=False),
        sa.Column('adjusted', EXACT_MONEY, nullable=False),
        sa.Column('note', sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint('venue', 'symbol'),
    )
    op.create_table(
        'reconciliation_baselines',
        sa.Column('venue', sa.String(length=100), nullable=False),
        sa.Column('key', sa.String(length=60), nullable=False),
        sa.Column('amount', EXACT_MONEY, nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('venue', 'key'),
    )
    op.create_table(
        'reconciliation_runs',
        sa.Column('venue', sa.String(length=100), nullable=False),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('orphans_cancelled', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('venue'),
    )


def downgrade() -> None:
    op.drop_table('reconciliation_runs')
    op.drop_table('reconciliation_baselines')
    op.drop_table('reconciliation')
